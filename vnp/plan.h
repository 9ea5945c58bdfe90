/*
 * vnpd's planner: the pure part of brokering, with no network and no
 * database. From the providers' describe() answers it builds the VNP's
 * underlay; from a request and the VNP-level mapping it cuts one partial
 * graph per provider (docs/federation.md) and picks the VLAN tags of the
 * links that cross transit links; from the providers' manifests it builds
 * the manifest the VNP hands back. vnpd (vnp/broker.c) calls these between
 * its RPCs.
 *
 * Private to vnp/ and its tests.
 */
#ifndef CLOUDNET_VNP_PLAN_H
#define CLOUDNET_VNP_PLAN_H

#include <stdbool.h>
#include <stddef.h>

struct cn_err;
struct rdl_graph;
struct vnp_amount;
struct vnp_description;

/* A configured transit link between two PIPs (vnpd.conf `transit`). */
struct vnp_transit_conf {
    char *id;
    char *pip[2];          /* the PIPs at its two ends, by name */
    int first[2], last[2]; /* the tags each end may use (the VNP's configuration) */
    double bandwidth;      /* Mbit/s */
    double latency;        /* ms */
};

/* One brokered PIP as the last synchronisation saw it. */
struct vnp_pip_view {
    const char *name;                   /* the configured name */
    const struct vnp_description *desc; /* NULL: did not answer, left out */
};

/*
 * The VNP's underlay (docs/federation.md): one /node/host/pip node per PIP
 * that answered, with its free resources and the union of its features (and
 * `forwarding: false`), one /link/transit link per transit link whose two
 * PIPs answered. New graph, the caller frees it.
 */
struct rdl_graph *vnp_plan_underlay(const char *name, const struct vnp_pip_view *pips, size_t npips,
                                    const struct vnp_transit_conf *transits, size_t ntransits,
                                    struct cn_err *err);

/* The partial graph for one PIP. */
struct vnp_partial {
    char *pip;       /* the PIP's name */
    char *yaml;      /* the overlay document sent to it */
    char **elements; /* ids of the request's elements it holds (links crossing to it included) */
    size_t nelements;
    int *tags; /* its crossing links' VLAN tags at this PIP (`vlan`), ascending */
    size_t ntags;
};
void vnp_partials_free(struct vnp_partial *p, size_t n);

/*
 * Cuts request (the service provider's overlay, OL0 or OL1) along mapping
 * (map_rdl_solve's answer on the underlay vnp_plan_underlay built) into one
 * partial graph per PIP that received anything, in the order of pips.
 * Chooses the tag of every crossing link from what both ends have free
 * (vlan_ranges and transit ranges of the descriptions, the configured
 * ranges), translating when no tag is free at both ends. Fails with
 * CN_E_VLAN naming the transit link when one end has no tag at all.
 */
int vnp_plan_partition(const struct rdl_graph *request, const struct rdl_graph *mapping,
                       const struct vnp_pip_view *pips, size_t npips,
                       const struct vnp_transit_conf *transits, size_t ntransits,
                       struct vnp_partial **ret_partials, size_t *ret_n, struct cn_err *err);

/*
 * Tags a broker has handed out at one PIP that its description may not
 * show as used yet (the description is older than the negotiation, or the
 * negotiation is still in flight).
 */
struct vnp_taken_tags {
    const int *tags;
    size_t n;
};

/*
 * vnp_plan_partition, with taken[i] (for pips[i]; taken may be NULL) not
 * free at the PIP whatever its description says.
 */
int vnp_plan_partition_except(const struct rdl_graph *request, const struct rdl_graph *mapping,
                              const struct vnp_pip_view *pips, size_t npips,
                              const struct vnp_taken_tags *taken,
                              const struct vnp_transit_conf *transits, size_t ntransits,
                              struct vnp_partial **ret_partials, size_t *ret_n, struct cn_err *err);

/*
 * The tags a crossing link had at one PIP in the version of a request being
 * modified (from that PIP's partial graph): the link's `vlan` there, its
 * `wire_vlan` and the transit link it crossed.
 */
struct vnp_kept_tag {
    char *link;
    char *pip;
    char *transit;
    int vlan;
    int wire;
};
void vnp_kept_tags_free(struct vnp_kept_tag *k, size_t n);

/* Appends the crossing links of pip's partial graph to *kept (*nkept entries). */
int vnp_plan_kept_tags(const char *pip, const char *partial_yaml, struct vnp_kept_tag **kept,
                       size_t *nkept, struct cn_err *err);

/*
 * vnp_plan_partition_except for a modify: a crossing link with kept tags at
 * both its ends, over the same transit link and with the same wire tag,
 * keeps them (they are its own at both PIPs); the others are chosen as
 * usual, never one of the kept tags.
 */
int vnp_plan_partition_keep(const struct rdl_graph *request, const struct rdl_graph *mapping,
                            const struct vnp_pip_view *pips, size_t npips,
                            const struct vnp_taken_tags *taken, const struct vnp_kept_tag *kept,
                            size_t nkept, const struct vnp_transit_conf *transits, size_t ntransits,
                            struct vnp_partial **ret_partials, size_t *ret_n, struct cn_err *err);

/*
 * For a modify: the PIPs' describe() answers count the request's current
 * version as used, while the new version replaces it. Adds to each PIP node
 * of underlay the resources of the nodes previous (the VNP-level mapping of
 * old_request) placed there: the values the mapping fixed, else the
 * request's plain numbers. Answers how many amounts it added.
 */
int vnp_plan_add_back(struct rdl_graph *underlay, const struct rdl_graph *previous,
                      const struct rdl_graph *old_request);

/*
 * The resources the nodes of request that mapping placed on pip hold there,
 * summed per resource name: the values the mapping fixed, else the
 * request's plain numbers (as vnp_plan_add_back counts them). Adds to the
 * amounts in *amounts (*n of them; names owned, free with
 * vnp_plan_amounts_free).
 */
void vnp_plan_used_at(const struct rdl_graph *mapping, const struct rdl_graph *request,
                      const char *pip, struct vnp_amount **amounts, size_t *n);
void vnp_plan_amounts_free(struct vnp_amount *a, size_t n);

/*
 * The bandwidth the links of request hold on the VNP's transit links under
 * mapping (its VNP-level mapping): per transit link its path crosses, the
 * value the mapping fixed, else the request's plain number. Adds to
 * *amounts (*n of them), each named by the transit link's id.
 */
void vnp_plan_transit_used(const struct rdl_graph *mapping, const struct rdl_graph *request,
                           struct vnp_amount **amounts, size_t *n);

/*
 * Lowers the bandwidth of each /link/transit link of underlay named in used
 * by the amount (not below 0): no PIP's describe() shows what the VNP put
 * on its transit links. Answers how many links it lowered.
 */
int vnp_plan_transit_minus(struct rdl_graph *underlay, const struct vnp_amount *used, size_t n);

/*
 * A PIP's description less what a broker handed out there that it does not
 * show yet (granted, by resource name): each free amount goes down by the
 * granted one, not below 0, and largest_free is at most what is left of
 * it. Everything else is copied. New, freed with vnp_description_free().
 */
struct vnp_description *vnp_plan_view_minus(const struct vnp_description *desc,
                                            const struct vnp_amount *granted, size_t ngranted);

/* A PIP's answer to its partial graph. */
struct vnp_pip_manifest {
    const char *pip;
    const char *manifest_yaml; /* the PIP's mapping document */
};

/*
 * The VNP's manifest: the VNP-level mapping document (request onto the
 * VNP's underlay) whose every entry also carries, in its features, `pip`
 * (where it went), and for nodes `host` (the PIP's host) and, when known,
 * `console`; links keep their path over PIPs and carry `vlan` of their first
 * side (and `vlans: "PIP=TAG,..."` when the sides differ), their `pip` being
 * the PIPs in path order, comma-separated. Fails with CN_E_INVALID when a
 * PIP's manifest is missing, malformed or lacks an element. New string, the
 * caller frees it.
 */
char *vnp_plan_manifest(const struct rdl_graph *mapping, const struct vnp_pip_manifest *parts,
                        size_t nparts, struct cn_err *err);

/*
 * The VNP's own describe() answer, for a VNP above it: resources and
 * capacity summed over the PIPs that answered, largest_free the largest of
 * theirs, features the union, no VLAN ranges and no transit links (a VNP
 * sells no transit of its own). name and version are copied. New, the
 * caller frees it with vnp_description_free().
 */
struct vnp_description *vnp_plan_describe(const char *name, const char *version,
                                          const struct vnp_pip_view *pips, size_t npips);

#endif /* CLOUDNET_VNP_PLAN_H */
