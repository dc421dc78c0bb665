/* Interleaved A/B of batch-lookup kernels: each argument after the index folder is a shared
 * library built from a variant of native/breachindex.c (bench/kernel_ab.py builds them). All
 * variants run on the same mapped table and the same 2M queries (half present, random order),
 * alternating in one process, because this machine's speed drifts between stretches of minutes
 * and only a same-process, interleaved comparison separates a change from the drift. Every
 * variant must return the same rows as the first. Prints ns per lookup for each round, then for
 * each variant its best and median round and the median of its per-round ratios to the first
 * (round 0, the warm-up, left out). KERNEL_AB_THREADS=2 runs each batch on two threads;
 * KERNEL_AB_ROUNDS=N runs N rounds (default 12, at most 64). */
#include "breachindex.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_VARIANTS 8
#define HEADER 64
#define QUERIES 2000000
#define ROUNDS 12
#define MAX_ROUNDS 64

typedef int (*many_fn)(const bi_table *, const uint64_t *, size_t, int64_t *, uint32_t, char *);

static const uint8_t *map_file(const char *dir, const char *name)
{
    char path[4096];
    struct stat st;
    void *m;
    int fd;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    fd = open(path, O_RDONLY);
    if (fd < 0 || fstat(fd, &st) != 0) {
        perror(path);
        exit(2);
    }
    m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        perror("mmap");
        exit(2);
    }
    close(fd);
    /* as Index.prefault(): 2 MB pages where the page cache allows, everything read in */
    madvise(m, (size_t)st.st_size, MADV_HUGEPAGE);
    madvise(m, (size_t)st.st_size, 22 /* MADV_POPULATE_READ */);
    return m;
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *x, int n)
{
    qsort(x, (size_t)n, sizeof *x, by_value);
    return n % 2 ? x[n / 2] : (x[n / 2 - 1] + x[n / 2]) / 2;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    many_fn run[MAX_VARIANTS];
    int64_t *rows[MAX_VARIANTS];
    double best[MAX_VARIANTS];
    static double ns[MAX_ROUNDS][MAX_VARIANTS];
    double col[MAX_ROUNDS];
    int rounds = ROUNDS;
    bi_table t;
    uint64_t *q, nb, seed = 42, mask;
    unsigned bits, shift;
    uint32_t threads = 1;
    int nv = argc - 3, v, r;
    size_t i;
    char reason[BI_REASON_LEN];

    if (argc < 4 || nv > MAX_VARIANTS) {
        fprintf(stderr, "usage: %s INDEX_FOLDER DIR_BITS VARIANT.so...\n", argv[0]);
        return 2;
    }
    bits = (unsigned)atoi(argv[2]);
    if (getenv("KERNEL_AB_THREADS"))
        threads = (uint32_t)atoi(getenv("KERNEL_AB_THREADS"));
    if (getenv("KERNEL_AB_ROUNDS"))
        rounds = atoi(getenv("KERNEL_AB_ROUNDS"));
    if (rounds < 2 || rounds > MAX_ROUNDS) {
        fprintf(stderr, "KERNEL_AB_ROUNDS must be from 2 to %d\n", MAX_ROUNDS);
        return 2;
    }
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
    memset(&t, 0, sizeof t);
    t.suffixes = map_file(argv[1], "keys.bin") + HEADER;
    t.dir = (const uint32_t *)(map_file(argv[1], "directory.u32") + HEADER);
    t.profiles = map_file(argv[1], "profiles.bin") + HEADER;
    t.dir_bits = bits;
    t.key_width = (64 - bits + 7) / 8; /* bi_key_width: the driver links no core of its own */
    t.profile_width = 2;
    t.n_profiles = 1;
    nb = (uint64_t)1 << bits;
    t.n = t.dir[nb];
    shift = 64 - bits;
    mask = ~(uint64_t)0 >> bits;
    q = malloc(QUERIES * sizeof(uint64_t));
    for (i = 0; i < QUERIES; i++) {
        q[i] = splitmix(&seed);
        if (i & 1) { /* a present key: a random row, its bucket found by bisection */
            uint64_t row = splitmix(&seed) % t.n, lo = 0, hi = nb, sfx;
            while (hi - lo > 1) {
                uint64_t mid = (lo + hi) / 2;
                if (t.dir[mid] <= row)
                    lo = mid;
                else
                    hi = mid;
            }
            memcpy(&sfx, t.suffixes + row * t.key_width, 8);
            q[i] = (lo << shift) | (sfx & mask);
        }
    }
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
        double med, ratio;
        for (r = 1; r < rounds; r++)
            col[r - 1] = ns[r][v];
        med = median(col, rounds - 1);
        for (r = 1; r < rounds; r++)
            col[r - 1] = ns[r][v] / ns[r][0];
        ratio = median(col, rounds - 1);
        printf("%-40s best %.1f, median %.1f ns a lookup; %.3fx the first (median of rounds 1-%d)\n",
               argv[3 + v], best[v], med, ratio, rounds - 1);
    }
    return 0;
}
