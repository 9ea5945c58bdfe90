/*
 * A small driver for tests/vlan_netns_test.sh: runs one embedding
 * operation on RDL documents, the way pipd would, so the script can look
 * at the data plane in between.
 *
 *   emb_dataplane DATAPLANE-MAP CLOUDNET UNDERLAY OVERLAY MAPPING VERB
 *
 * VERB is embed, release, start, stop, status (prints "ELEMENT STATE" per
 * VNode) or leftovers (prints one line per thing found, see emb_leftovers).
 * Exits 0 on success; otherwise prints the error and exits 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embedding/embedding.h"
#include "rdl/rdl.h"
#include "util/util.h"

int
main(int argc, char **argv)
{
    struct cn_err err = CN_ERR_INIT;
    struct rdl_graph *ul = NULL, *ol = NULL, *ml = NULL;
    struct emb_ctx *ctx = NULL;
    int rc = 1;

    if (argc != 7) {
        fprintf(stderr, "usage: emb_dataplane DATAPLANE-MAP CLOUDNET UNDERLAY OVERLAY MAPPING "
                        "embed|release|start|stop|status|leftovers\n");
        return 2;
    }
    const char *id = argv[2], *verb = argv[6];
    struct emb_config cfg = {.dataplane_file = argv[1], .libvirt_uri = "test:///default"};
    if (!(ctx = emb_ctx_new(&cfg, &err)) || !(ul = rdl_read_file(argv[3], &err)) ||
        !(ol = rdl_read_file(argv[4], &err)) || !(ml = rdl_read_file(argv[5], &err)))
        goto cleanup;

    if (cn_streq(verb, "embed")) {
        if (emb_embed(ctx, id, ol, ml, ul, &err) < 0)
            goto cleanup;
    } else if (cn_streq(verb, "release")) {
        if (emb_release(ctx, id, ol, ml, ul, &err) < 0)
            goto cleanup;
    } else if (cn_streq(verb, "start")) {
        if (emb_start(ctx, id, ml, ul, NULL, &err) < 0)
            goto cleanup;
    } else if (cn_streq(verb, "stop")) {
        if (emb_stop(ctx, id, ml, ul, NULL, &err) < 0)
            goto cleanup;
    } else if (cn_streq(verb, "status")) {
        for (size_t i = 0; i < rdl_mapping_count(ml); i++) {
            const struct rdl_map_entry *m = rdl_mapping_at(ml, i);
            enum emb_state s;
            if (!rdl_map_entry_to(m))
                continue;
            if (emb_status(ctx, id, ml, ul, rdl_map_entry_id(m), &s, &err) < 0)
                goto cleanup;
            printf("%s %s\n", rdl_map_entry_id(m), emb_state_name(s));
        }
    } else if (cn_streq(verb, "leftovers")) {
        char **lines;
        size_t n;
        if (emb_leftovers(ctx, id, ml, ul, &lines, &n, &err) < 0)
            goto cleanup;
        for (size_t i = 0; i < n; i++)
            printf("%s\n", lines[i]);
        emb_lines_free(lines);
    } else {
        cn_err_set(&err, CN_E_INVALID, "unknown verb '%s'", verb);
        goto cleanup;
    }
    rc = 0;

cleanup:
    if (rc != 0)
        fprintf(stderr, "emb_dataplane %s %s: %s\n", verb, id, cn_err_msg(&err));
    rdl_graph_free(ml);
    rdl_graph_free(ol);
    rdl_graph_free(ul);
    emb_ctx_free(ctx);
    cn_err_release(&err);
    return rc;
}
