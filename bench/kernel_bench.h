/* What bench/kernel_ab.c and bench/kernel_parts.c share: the index's files mapped as
 * Index.prefault() maps them, the table over them, the same 2M queries (half present, random
 * order) and the clock. Header-only: each driver is one C file. */
#ifndef BREACHINDEX_KERNEL_BENCH_H
#define BREACHINDEX_KERNEL_BENCH_H

#include "breachindex.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HEADER 64
#define QUERIES 2000000
#define ROUNDS 12 /* rounds unless KERNEL_AB_ROUNDS says otherwise */
#define MAX_ROUNDS 64
#define MAX_COLUMNS 8 /* variants or parts a run times */

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

/* KERNEL_AB_ROUNDS, or ROUNDS; exits if it is out of 2..MAX_ROUNDS */
static int rounds_wanted(void)
{
    int rounds = getenv("KERNEL_AB_ROUNDS") ? atoi(getenv("KERNEL_AB_ROUNDS")) : ROUNDS;
    if (rounds < 2 || rounds > MAX_ROUNDS) {
        fprintf(stderr, "KERNEL_AB_ROUNDS must be from 2 to %d\n", MAX_ROUNDS);
        exit(2);
    }
    return rounds;
}

/* The median over rounds 1.. (round 0 is a warm-up) of column c's time, divided by column ref's
 * in the same round (ref < 0: the time itself) */
static double median_of_rounds(double ns[][MAX_COLUMNS], int rounds, int c, int ref)
{
    double col[MAX_ROUNDS];
    int r;
    for (r = 1; r < rounds; r++)
        col[r - 1] = ref < 0 ? ns[r][c] : ns[r][c] / ns[r][ref];
    return median(col, rounds - 1);
}

/* The table of the index in folder dir, with a directory of dir_bits bits. */
static void map_table(bi_table *t, const char *dir, unsigned bits)
{
    memset(t, 0, sizeof *t);
    t->suffixes = map_file(dir, "keys.bin") + HEADER;
    t->dir = (const uint32_t *)(map_file(dir, "directory.u32") + HEADER);
    t->profiles = map_file(dir, "profiles.bin") + HEADER;
    t->dir_bits = bits;
    t->key_width = (64 - bits + 7) / 8; /* bi_key_width: kernel_ab links no core of its own */
    t->profile_width = 2;
    t->n_profiles = 1;
    t->n = t->dir[(uint64_t)1 << bits];
}

/* QUERIES keys: the odd ones present (a random row's key, its bucket found by bisection), the
 * even ones random (almost all absent). */
static uint64_t *make_queries(const bi_table *t)
{
    uint64_t *q = malloc(QUERIES * sizeof(uint64_t)), seed = 42, nb = (uint64_t)1 << t->dir_bits;
    uint64_t mask = ~(uint64_t)0 >> t->dir_bits;
    size_t i;

    if (q == NULL) {
        perror("malloc");
        exit(2);
    }
    for (i = 0; i < QUERIES; i++) {
        q[i] = splitmix(&seed);
        if (i & 1) {
            uint64_t row = splitmix(&seed) % t->n, lo = 0, hi = nb, sfx;
            while (hi - lo > 1) {
                uint64_t mid = (lo + hi) / 2;
                if (t->dir[mid] <= row)
                    lo = mid;
                else
                    hi = mid;
            }
            memcpy(&sfx, t->suffixes + row * t->key_width, 8);
            q[i] = (lo << (64 - t->dir_bits)) | (sfx & mask);
        }
    }
    return q;
}

#endif
