/*
 * The client side of the negotiation interface (DESIGN section 4,
 * docs/pipd.md): what vnpd uses to talk to its providers and what the
 * `cloudnet` tool uses to talk to a PIP or a VNP. PIPs and VNPs answer the
 * same methods, so one client serves both.
 *
 * A struct vnp_client is one peer (URL and secret) and belongs to one
 * thread at a time; a broker talking to several providers in parallel makes
 * one client per provider and thread. vnp_client_global_init() runs once per
 * process before any client is made (xmlrpc-c's and libcurl's globals).
 *
 * Every call returns 0 or a new result, or fails with err set:
 *   - a fault from the peer: err->code is cn_code_of_fault(fault) and the
 *     message the fault string; vnp_client_last_fault() tells the number;
 *   - no answer within the client's timeout: CN_E_TIMEOUT, "URL: no answer
 *     within N ms";
 *   - the peer cannot be reached or answers garbage: CN_E_IO, with the URL.
 */
#ifndef CLOUDNET_VNP_CLIENT_H
#define CLOUDNET_VNP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

struct cn_err;
struct vnp_client;

/* xmlrpc-c's fault for a method the peer does not have. */
#define VNP_FAULT_NO_SUCH_METHOD (-506)

int vnp_client_global_init(struct cn_err *err);
void vnp_client_global_cleanup(void);
/*
 * The largest answer (XML bytes) any client of the process accepts; larger
 * ones fail with CN_E_IO. xmlrpc-c keeps one limit per process for clients
 * and servers alike (512 KiB unless set), so a daemon that also serves
 * XML-RPC raises it to what suits both.
 */
void vnp_client_global_set_answer_limit(size_t bytes);

/*
 * url: "http://HOST:PORT/RPC2"; secret: the caller's shared secret with
 * that peer (copied); timeout_ms: per call, 0 for none (curl counts it in
 * whole seconds, rounded up). Free with vnp_client_free().
 */
struct vnp_client *vnp_client_new(const char *url, const char *secret, unsigned timeout_ms,
                                  struct cn_err *err);
void vnp_client_free(struct vnp_client *c);
const char *vnp_client_url(const struct vnp_client *c);
/* The fault number of the last call that failed with a fault, else 0. */
int vnp_client_last_fault(const struct vnp_client *c);

/* One element's operational state, as status() answers it. */
struct vnp_element_state {
    char *element;
    char *state;
};

/*
 * How one provider behind a broker answered negotiate: vnpd reports them in
 * a `providers` member ({name, state, ms, reason}), a PIP does not.
 */
struct vnp_provider_report {
    char *name;
    char *state;  /* the provider's answer, e.g. "allocated", "refused", "released" */
    double ms;    /* how long it took to answer */
    char *reason; /* or NULL */
};

void vnp_provider_reports_free(struct vnp_provider_report *p, size_t n);

/* The result struct of negotiate, confirm, release, renew, status and the power calls. */
struct vnp_reply {
    char *id;
    char *state;          /* "allocated", "provisioned", "released", "failed" */
    long long expires;    /* Unix seconds; 0: no lease */
    char *manifest_yaml;  /* or NULL */
    char *reason;         /* or NULL */
    struct vnp_element_state *elements;
    size_t nelements;
    struct vnp_provider_report *providers; /* from a broker's negotiate, else NULL */
    size_t nproviders;
};
void vnp_reply_free(struct vnp_reply *r);

struct vnp_amount {
    char *name;
    double value;
};

struct vnp_feature_values {
    char *name;
    char **values;
    size_t nvalues;
};

struct vnp_vlan_range {
    int first, last;
};

struct vnp_transit_info {
    char *id;
    int first, last; /* 0, 0 when the link has no range of its own */
};

/* What describe() answers. */
struct vnp_description {
    char *name;
    char *version;
    struct vnp_amount *resources; /* free, summed over nodes */
    size_t nresources;
    struct vnp_amount *capacity;
    size_t ncapacity;
    struct vnp_amount *largest_free; /* the most free on one node */
    size_t nlargest_free;
    struct vnp_feature_values *features;
    size_t nfeatures;
    struct vnp_vlan_range *vlan_ranges; /* tags free everywhere */
    size_t nvlan_ranges;
    struct vnp_transit_info *transits;
    size_t ntransits;
};
void vnp_description_free(struct vnp_description *d);

/* One of the caller's CloudNets, as list() answers it. */
struct vnp_listing {
    char *id;
    char *state;
    long long expires;
};
void vnp_listing_free(struct vnp_listing *l, size_t n);

enum vnp_power_op {
    VNP_START,
    VNP_STOP,
    VNP_POWERCYCLE,
};

/* Results are new and the caller's. */
struct vnp_description *vnp_client_describe(struct vnp_client *c, struct cn_err *err);
struct vnp_reply *vnp_client_negotiate(struct vnp_client *c, const char *id, const char *yaml,
                                       long lease_s, struct cn_err *err);
struct vnp_reply *vnp_client_modify(struct vnp_client *c, const char *id, const char *yaml,
                                    struct cn_err *err);
struct vnp_reply *vnp_client_confirm(struct vnp_client *c, const char *id, struct cn_err *err);
struct vnp_reply *vnp_client_release(struct vnp_client *c, const char *id, struct cn_err *err);
struct vnp_reply *vnp_client_renew(struct vnp_client *c, const char *id, long lease_s,
                                   struct cn_err *err);
struct vnp_reply *vnp_client_status(struct vnp_client *c, const char *id, struct cn_err *err);
/* nelements 0: every VNode. */
struct vnp_reply *vnp_client_power(struct vnp_client *c, enum vnp_power_op op, const char *id,
                                   const char *const *elements, size_t nelements,
                                   struct cn_err *err);
/* The console locator ("URI#DOMAIN", "netns:NAME"); the caller frees it. */
char *vnp_client_console(struct vnp_client *c, const char *id, const char *element,
                         struct cn_err *err);
/*
 * A broker's progress(id): what the providers of the caller's negotiation
 * of id answered so far, in answer order (*ret freed with
 * vnp_provider_reports_free()), and whether the negotiation is over. A PIP
 * has no such method: it fails with vnp_client_last_fault() at
 * VNP_FAULT_NO_SUCH_METHOD; CN_E_NOTFOUND when no negotiation of id is in
 * flight or recently over.
 */
int vnp_client_progress(struct vnp_client *c, const char *id, struct vnp_provider_report **ret,
                        size_t *ret_n, bool *ret_done, struct cn_err *err);
/* The caller's CloudNets; *ret_list is freed with vnp_listing_free(). */
int vnp_client_list(struct vnp_client *c, struct vnp_listing **ret_list, size_t *ret_n,
                    struct cn_err *err);

#endif /* CLOUDNET_VNP_CLIENT_H */
