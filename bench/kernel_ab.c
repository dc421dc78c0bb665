/* Interleaved A/B of batch-lookup kernels: each argument after the index folder is a shared
 * library built from a variant of native/table.c (bench/kernel_ab.py builds them). All
 * variants run on the same mapped table and the same 2M queries (half present, random order),
 * alternating in one process, because this machine's speed drifts between stretches of minutes
 * and only a same-process, interleaved comparison separates a change from the drift. Every
 * variant must return the same rows as the first. Prints ns per lookup for each round, then for
 * each variant its best and median round and the median of its per-round ratios to the first
 * (round 0, the warm-up, left out). KERNEL_AB_THREADS=2 runs each batch on two threads;
 * KERNEL_AB_ROUNDS=N runs N rounds (default 12, at most 64). The index and queries come from
 * kernel_bench.h. */
#include "kernel_bench.h"

#include <dlfcn.h>

#define MAX_VARIANTS MAX_COLUMNS

typedef int (*many_fn)(const bi_table *, const uint64_t *, size_t, int64_t *, uint32_t, char *);

int main(int argc, char **argv)
{
    many_fn run[MAX_VARIANTS];
    int64_t *rows[MAX_VARIANTS];
    double best[MAX_VARIANTS];
    static double ns[MAX_ROUNDS][MAX_COLUMNS];
    int rounds;
    bi_table t;
    uint64_t *q;
    unsigned bits;
    uint32_t threads = 1;
    int nv = argc - 3, v, r;
    char reason[BI_REASON_LEN];

    if (argc < 4 || nv > MAX_VARIANTS) {
        fprintf(stderr, "usage: %s INDEX_FOLDER DIR_BITS VARIANT.so...\n", argv[0]);
        return 2;
    }
    bits = (unsigned)atoi(argv[2]);
    if (getenv("KERNEL_AB_THREADS"))
        threads = (uint32_t)atoi(getenv("KERNEL_AB_THREADS"));
    rounds = rounds_wanted();
    for (v = 0; v < nv; v++) {
        void *h = dlopen(argv[3 + v], RTLD_NOW | RTLD_LOCAL);
        if (h == NULL) {
            fprintf(stderr, "%s\n", dlerror());
            return 2;
        }
        run[v] = (many_fn)dlsym(h, "bi_lookup_many");
        rows[v] = malloc(QUERIES * sizeof(int64_t));
        best[v] = 1e9;
    }
    map_table(&t, argv[1], bits);
    q = make_queries(&t);
    for (r = 0; r < rounds; r++) {
        printf("round %2d:", r);
        for (v = 0; v < nv; v++) {
            int w = (r & 1) ? nv - 1 - v : v; /* alternate the order too */
            double t0 = now();
            if (run[w](&t, q, QUERIES, rows[w], threads, reason) != BI_OK) {
                fprintf(stderr, "%s: %s\n", argv[3 + w], reason);
                return 1;
            }
            ns[r][w] = (now() - t0) / QUERIES * 1e9;
            if (r > 0 && ns[r][w] < best[w])
                best[w] = ns[r][w];
        }
        for (v = 0; v < nv; v++) {
            printf("  %7.1f", ns[r][v]);
            if (memcmp(rows[0], rows[v], QUERIES * sizeof(int64_t)) != 0) {
                fprintf(stderr, "\n%s answers differently from %s\n", argv[3 + v], argv[3]);
                return 1;
            }
        }
        printf("\n");
    }
    for (v = 0; v < nv; v++) {
        double med = median_of_rounds(ns, rounds, v, -1),
               ratio = median_of_rounds(ns, rounds, v, 0);
        printf(
            "%-40s best %.1f, median %.1f ns a lookup; %.3fx the first (median of rounds 1-%d)\n",
            argv[3 + v], best[v], med, ratio, rounds - 1);
    }
    return 0;
}
