/*
 * The border plugin: the far side of a transit link, a /node/host/pip
 * element of the underlay (docs/federation.md). A VLink that crosses to
 * another PIP ends, in this PIP's partial graph, at a stub node mapped onto
 * the border node; the other PIP realises what lies beyond. So there is
 * nothing to make here: the VLink's local end is the transit plugin's wire
 * device on the border port.
 *
 * Embedding, releasing, starting, stopping and power-cycling the stub
 * succeed without doing anything, so that operations on "every VNode" of a
 * partial graph work; its state is "remote"; it has no console and leaves
 * nothing behind.
 */
#define EMB_PRIV_H_ALLOW
#include "embedding/emb_priv.h"
#include "rdl/rdl.h"
#include "util/util.h"

static int
border_nothing(struct emb_ctx *ctx, void *state, const struct emb_item *it, struct cn_err *err)
{
    (void)ctx;
    (void)state;
    (void)it;
    (void)err;
    return 0;
}

static int
border_console(struct emb_ctx *ctx, void *state, const struct emb_item *it, char **ret_uri,
               struct cn_err *err)
{
    (void)ctx;
    (void)state;
    (void)ret_uri;
    return cn_err_set(err, CN_E_INVALID,
                      "'%s' is the far side of a transit link ('%s'), realised by another PIP: "
                      "it has no console here",
                      it->element, rdl_element_id(it->host));
}

static int
border_status(struct emb_ctx *ctx, void *state, const struct emb_item *it,
              enum emb_state *ret_state, struct cn_err *err)
{
    (void)ctx;
    (void)state;
    (void)it;
    (void)err;
    *ret_state = EMB_STATE_REMOTE;
    return 0;
}

static int
border_leftovers(struct emb_ctx *ctx, void *state, const char *cloudnet, const struct emb_item *it,
                 struct emb_lines *lines, struct cn_err *err)
{
    (void)ctx;
    (void)state;
    (void)cloudnet;
    (void)it;
    (void)lines;
    (void)err;
    return 0;
}

const struct emb_plugin emb_border_plugin = {
    .name = "border",
    .type_prefix = "/node/host/pip",
    .embed = border_nothing,
    .release = border_nothing,
    .start = border_nothing,
    .stop = border_nothing,
    .powercycle = border_nothing,
    .console = border_console,
    .status = border_status,
    .leftovers = border_leftovers,
};
