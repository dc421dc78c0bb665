/* What the units of the C core share and Python never sees: compiler hints, the little-endian
 * load, the reason writer, and the table's inline accessors (used by the lookups in table.c and
 * by the fuzz harnesses' oracles). Not given to cffi: breachindex.h is the public contract. */
#ifndef BREACHINDEX_INTERNAL_H
#define BREACHINDEX_INTERNAL_H

#include "breachindex.h"

#if defined(__GNUC__) || defined(__clang__)
#define BI_PREFETCH(p) __builtin_prefetch((const void *)(p), 0, 1)
#define BI_LIKELY(x) __builtin_expect(!!(x), 1)
#define BI_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define BI_PREFETCH(p) ((void)0)
#define BI_LIKELY(x) (x)
#define BI_PRINTF(f, a)
#endif

/* Writes a printf-style reason into reason (BI_REASON_LEN bytes; nothing if it is NULL) and
 * returns status: `return bi_fail(BI_ERR_ARG, reason, "...", ...);` (status.c). */
bi_status bi_fail(bi_status status, char *reason, const char *fmt, ...) BI_PRINTF(3, 4);

static inline uint64_t bi_load_le64(const uint8_t *p)
{
    return (uint64_t)p[0] | ((uint64_t)p[1] << 8) | ((uint64_t)p[2] << 16) |
           ((uint64_t)p[3] << 24) | ((uint64_t)p[4] << 32) | ((uint64_t)p[5] << 40) |
           ((uint64_t)p[6] << 48) | ((uint64_t)p[7] << 56);
}

static inline void bi_store_le64(uint8_t *p, uint64_t v)
{
    int i;

    for (i = 0; i < 8; i++) /* one 8-byte store once compiled */
        p[i] = (uint8_t)(v >> (8 * i));
}

/* ---- threads --------------------------------------------------------------------------------- */

/* Work on items start..end-1 of a batch; nonzero if something went wrong there. */
typedef int (*bi_range_fn)(void *ctx, size_t start, size_t end);

#define BI_MIN_PER_THREAD 4096 /* items a thread must have before a batch is shared at all */

/* Runs run over items 0..n-1 on `threads` threads (the caller's among them; at most
 * BI_MAX_THREADS), which claim chunks of at most max_chunk items until none are left; a batch of
 * fewer than BI_MIN_PER_THREAD items a thread runs on the caller's alone (parallel.c). Returns 1 if
 * any call of run returned nonzero, else 0. */
int bi_parallel_for(size_t n, uint32_t threads, size_t max_chunk, bi_range_fn run, void *ctx);

/* ---- the table's layout (see bi_table in breachindex.h) ------------------------------------ */

static inline uint64_t bi_bucket_of(const bi_table *t, uint64_t key)
{
    return key >> (64 - t->dir_bits);
}

static inline uint64_t bi_suffix_mask(const bi_table *t) { return ~(uint64_t)0 >> t->dir_bits; }

/* The stored suffix of row i: one unaligned load (the file's padding covers the last row). */
static inline uint64_t bi_suffix_at(const bi_table *t, uint64_t i)
{
    return bi_load_le64(t->suffixes + i * t->key_width) & bi_suffix_mask(t);
}

/* A bucket a damaged directory could make point outside the key file. */
static inline int bi_bad_bucket(const bi_table *t, uint64_t lo, uint64_t hi)
{
    return lo > hi || hi > t->n;
}

#endif
