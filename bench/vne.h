/*
 * The online VNE benchmark: workloads in the "vne-workload-v1" JSON format
 * (DESIGN section 7), their seeded generator, and the SVG plot of acceptance
 * over time. bench/vne.c holds the command-line program that ties them to
 * the mapping engine.
 */
#ifndef CLOUDNET_VNE_H
#define CLOUDNET_VNE_H

#include <stdbool.h>
#include <stddef.h>

struct cn_err;

struct vne_snode {
    double cpu;
    double x, y; /* coordinates, when the workload has them */
};

struct vne_slink {
    size_t u, v;
    double bw;
};

struct vne_rlink {
    size_t u, v;
    double bw;
};

struct vne_request {
    size_t id;
    double arrival, lifetime, departure;
    size_t nnodes;
    double *cpu; /* nnodes demands */
    size_t nlinks;
    struct vne_rlink *links;
    /* Location constraint: node i may only sit within max_distance of (lx[i], ly[i]). */
    bool has_location;
    double *lx, *ly;
    double max_distance;
};

enum vne_event_type {
    VNE_ARRIVE,
    VNE_LEAVE,
};

struct vne_event {
    size_t id;
    enum vne_event_type type;
    size_t req; /* index into requests */
    double time;
};

struct vne_workload {
    long seed;
    double eta;
    bool has_coords;
    size_t nsnodes;
    struct vne_snode *snodes;
    size_t nslinks;
    struct vne_slink *slinks;
    size_t nreqs;
    struct vne_request *reqs;
    size_t nevents;
    struct vne_event *events;
};

struct vne_gen_params {
    unsigned long seed;
    double eta;               /* arrival rate */
    size_t substrate_nodes;   /* 100 */
    double alpha, beta;       /* Waxman parameters */
    double cap_min, cap_max;  /* node cpu and link bw capacity range */
    size_t requests;          /* 1000 */
    size_t req_min, req_max;  /* request size range */
    double link_prob;         /* request link probability */
    double cpu_min, cpu_max;  /* request cpu demand range */
    double bw_min, bw_max;    /* request bw demand range */
    double lifetime_mean;     /* exponential */
    double location_distance; /* > 0: location-constrained requests */
};

void vne_gen_params_init(struct vne_gen_params *p);
/* Generates a workload; free with vne_workload_free(). */
struct vne_workload *vne_generate(const struct vne_gen_params *p);
void vne_workload_free(struct vne_workload *w);

int vne_workload_write(const struct vne_workload *w, const char *path, struct cn_err *err);
/* Reads a workload; NULL with err set on failure. */
struct vne_workload *vne_workload_read(const char *path, struct cn_err *err);

/* One curve: points (t[i], y[i]) for i < n. */
struct vne_series {
    const char *label;
    size_t n;
    const double *t, *y;
};

int vne_svg_write(const char *path, const char *title, const char *ylabel,
                  const struct vne_series *series, size_t nseries, struct cn_err *err);

#endif /* CLOUDNET_VNE_H */
