/* The sorted key table: its checks, its lookups (single, batched, threaded) and the
 * single-number path.
 *
 * Keys are uniform (PRF outputs), so the directory over the top dir_bits bits gives a bucket
 * and linear interpolation of the key's remaining bits inside the bucket lands within a few
 * slots of it: a lookup reads one directory entry and, almost always, one cache line of keys. */
#include "internal.h"

uint32_t bi_key_width(uint32_t dir_bits) { return (64 - dir_bits + 7) / 8; }

bi_status bi_key_suffixes(const uint64_t *keys, size_t n, uint32_t dir_bits, uint64_t first_row,
                          uint8_t *out, uint32_t *dir, uint64_t *next_bucket)
{
    uint32_t width, shift, j;
    uint64_t mask, next;
    size_t i;

    if (dir_bits < BI_MIN_DIR_BITS || dir_bits > BI_MAX_DIR_BITS)
        return BI_ERR_ARG;
    width = bi_key_width(dir_bits);
    shift = 64 - dir_bits;
    mask = (~(uint64_t)0) >> dir_bits;
    next = *next_bucket;
    for (i = 0; i < n; i++) {
        uint64_t key = keys[i], bucket = key >> shift, suffix = key & mask;

        if (i > 0 ? key <= keys[i - 1] : bucket + 1 < next)
            return BI_ERR_ARG;
        /* the buckets since the last key's, up to this key's, start at this row */
        for (; next <= bucket; next++)
            dir[next] = (uint32_t)(first_row + i);
        /* all 8 bytes (the next key's slot is written after) but for the last key */
        if (i + 1 < n)
            bi_store_le64(out + i * width, suffix);
        else
            for (j = 0; j < width; j++)
                out[i * width + j] = (uint8_t)(suffix >> (8 * j));
    }
    *next_bucket = next;
    return BI_OK;
}

static inline uint64_t guess_in(const bi_table *t, uint64_t sfx, uint64_t lo, uint64_t hi)
{
    return lo + (uint64_t)(((unsigned __int128)sfx * (hi - lo)) >> (64 - t->dir_bits));
}

static inline int64_t scan_from(const bi_table *t, uint64_t sfx, uint64_t lo, uint64_t hi,
                                uint64_t i)
{
    if (bi_suffix_at(t, i) < sfx) {
        do
            i++;
        while (i < hi && bi_suffix_at(t, i) < sfx);
    } else {
        while (i > lo && bi_suffix_at(t, i - 1) >= sfx)
            i--;
    }
    return (i < hi && bi_suffix_at(t, i) == sfx) ? (int64_t)i : -1;
}

static inline const void *profile_at(const bi_table *t, uint64_t row)
{
    return (const uint8_t *)t->profiles + row * t->profile_width;
}

static inline uint32_t profile_id(const bi_table *t, uint64_t row)
{
    if (t->profile_width == 2)
        return ((const uint16_t *)t->profiles)[row];
    return ((const uint32_t *)t->profiles)[row];
}

/* In a bucket of more than WIDE_BUCKET keys the interpolated row is a few rows off (about
 * sqrt(keys) / 2): the scan may step into the line before or after the guessed one, so those are
 * fetched at the same time rather than one after another. */
#define WIDE_BUCKET 16

static inline void prefetch_around(const bi_table *t, uint64_t g)
{
    const uint8_t *at = t->suffixes + g * t->key_width;
    BI_PREFETCH(at);
    BI_PREFETCH(at + 64);
    BI_PREFETCH(at - 64); /* before the file's first row: the header page, never a fault */
}

/* A bucket of up to WIDE_BUCKET keys spans one to three cache lines, and the scan from the
 * guessed row may step into any of them: its first and last lines are fetched together (the rare
 * middle line of a 13-16 key bucket follows on demand). Fetching only the guessed row's line left
 * the scan waiting for a neighbouring line one lookup in five or so, and batches were slower
 * (bench/kernel_ab.py; figures in docs/benchmarks.md, "What changed"). */
static inline void prefetch_bucket(const bi_table *t, uint64_t lo, uint64_t hi)
{
    BI_PREFETCH(t->suffixes + lo * t->key_width);
    BI_PREFETCH(t->suffixes + (hi - 1) * t->key_width + 7); /* the last suffix's 8-byte load */
}

/* One lookup. With with_profile, the profile line of the guessed row is fetched together with
 * its key line: the row is almost always within a few slots of the guess, so the two cache
 * misses overlap instead of following each other. */
static inline bi_status find(const bi_table *t, uint64_t key, int with_profile, int64_t *row)
{
    uint64_t b = bi_bucket_of(t, key), lo = t->dir[b], hi = t->dir[b + 1], sfx, g;
    if (lo == hi) {
        *row = -1;
        return BI_OK;
    }
    if (bi_bad_bucket(t, lo, hi))
        return BI_ERR_CORRUPT_DIRECTORY;
    sfx = key & bi_suffix_mask(t);
    g = guess_in(t, sfx, lo, hi);
    if (hi - lo > WIDE_BUCKET)
        prefetch_around(t, g);
    else
        prefetch_bucket(t, lo, hi);
    if (with_profile)
        BI_PREFETCH(profile_at(t, g));
    *row = scan_from(t, sfx, lo, hi, g);
    return BI_OK;
}

bi_status bi_lookup(const bi_table *t, uint64_t key, int64_t *row) { return find(t, key, 0, row); }

/* Three stages, PIPE apart: prefetch the directory entry, then (reading it) prefetch the
 * bucket's key lines, then scan. About 2*PIPE misses are in flight at once. */
#define PIPE 16
#define RING 64 /* > 2*PIPE, a power of two */

/* 1 if a bucket was out of range (its row is then -1) */
static int lookup_range(const bi_table *t, const uint64_t *q, size_t n, int64_t *rows)
{
    uint64_t lo_r[RING], hi_r[RING], g_r[RING];
    uint64_t mask = bi_suffix_mask(t);
    size_t i;
    int corrupt = 0;

    for (i = 0; i < n + 2 * PIPE; i++) {
        if (i < n)
            BI_PREFETCH(&t->dir[bi_bucket_of(t, q[i])]);
        if (i >= PIPE && i - PIPE < n) {
            size_t k = i - PIPE;
            uint64_t b = bi_bucket_of(t, q[k]);
            uint64_t lo = t->dir[b], hi = t->dir[b + 1];
            uint64_t g = lo;
            if (lo < hi && hi <= t->n) {
                g = guess_in(t, q[k] & mask, lo, hi);
                if (hi - lo > WIDE_BUCKET)
                    prefetch_around(t, g);
                else
                    prefetch_bucket(t, lo, hi);
            }
            lo_r[k & (RING - 1)] = lo;
            hi_r[k & (RING - 1)] = hi;
            g_r[k & (RING - 1)] = g;
        }
        if (i >= 2 * PIPE) {
            size_t k = i - 2 * PIPE, r = k & (RING - 1);
            uint64_t lo = lo_r[r], hi = hi_r[r];
            if (lo == hi) {
                rows[k] = -1;
            } else if (bi_bad_bucket(t, lo, hi)) {
                rows[k] = -1;
                corrupt = 1;
            } else {
                rows[k] = scan_from(t, q[k] & mask, lo, hi, g_r[r]);
            }
        }
    }
    return corrupt;
}

/* A threaded batch shares its queries through bi_parallel_for (parallel.c). A chunk's pipeline
 * ramp (2 * PIPE lookups) is lost in BI_LOOKUP_CHUNK queries; 4096 and 131072 did no better. */
typedef struct {
    const bi_table *t;
    const uint64_t *q;
    int64_t *rows;
} lookup_batch;

static int lookup_chunk(void *ctx, size_t start, size_t end)
{
    const lookup_batch *b = (const lookup_batch *)ctx;
    return lookup_range(b->t, b->q + start, end - start, b->rows + start);
}

bi_status bi_lookup_many(const bi_table *t, const uint64_t *keys, size_t n, int64_t *rows,
                         uint32_t threads, char *reason)
{
    lookup_batch batch;

    if (threads == 0 || threads > BI_MAX_THREADS)
        return bi_fail(BI_ERR_ARG, reason, "threads must be between 1 and %d", BI_MAX_THREADS);
    batch.t = t;
    batch.q = keys;
    batch.rows = rows;
    if (bi_parallel_for(n, threads, BI_LOOKUP_CHUNK, lookup_chunk, &batch))
        return bi_fail(BI_ERR_CORRUPT_DIRECTORY, reason, "%s",
                       bi_status_message(BI_ERR_CORRUPT_DIRECTORY));
    return BI_OK;
}

bi_status bi_profile_of(const bi_table *t, uint64_t row, uint32_t *profile)
{
    if (row >= t->n)
        return BI_ERR_ARG;
    *profile = profile_id(t, row);
    return *profile < t->n_profiles ? BI_OK : BI_ERR_CORRUPT_PROFILES;
}

bi_status bi_table_check(const bi_table *t, char *reason)
{
    uint64_t nb;

    if (t->dir_bits < BI_MIN_DIR_BITS || t->dir_bits > BI_MAX_DIR_BITS)
        return bi_fail(BI_ERR_CORRUPT_DIRECTORY, reason, "directory bits %u outside %d..%d",
                       t->dir_bits, BI_MIN_DIR_BITS, BI_MAX_DIR_BITS);
    if (t->key_width != bi_key_width(t->dir_bits))
        return bi_fail(BI_ERR_CORRUPT_KEYS, reason, "key width %u, a directory of %u bits needs %u",
                       t->key_width, t->dir_bits, bi_key_width(t->dir_bits));
    if (t->n > BI_MAX_ROWS)
        return bi_fail(BI_ERR_CORRUPT_KEYS, reason, "row count %llu exceeds the format's 2^32-1",
                       (unsigned long long)t->n);
    if (t->profile_width != 2 && t->profile_width != 4)
        return bi_fail(BI_ERR_CORRUPT_PROFILES, reason, "profile width %u is neither 2 nor 4",
                       t->profile_width);
    if (t->n_profiles > BI_MAX_PROFILES || (t->n > 0 && t->n_profiles == 0))
        return bi_fail(BI_ERR_CORRUPT_PROFILES, reason, "profile count %u out of range",
                       t->n_profiles);
    nb = ((uint64_t)1) << t->dir_bits;
    if (t->dir[0] != 0 || t->dir[nb] != t->n)
        return bi_fail(BI_ERR_CORRUPT_DIRECTORY, reason, "directory must run from 0 to %llu rows",
                       (unsigned long long)t->n);
    return BI_OK;
}

bi_status bi_directory_verify(const bi_table *t, char *reason)
{
    uint64_t nb, b;
    bi_status st = bi_table_check(t, reason);
    if (st != BI_OK)
        return st;
    nb = ((uint64_t)1) << t->dir_bits;
    for (b = 0; b < nb; b++)
        if (t->dir[b] > t->dir[b + 1])
            return bi_fail(BI_ERR_CORRUPT_DIRECTORY, reason, "directory decreases at bucket %llu",
                           (unsigned long long)b);
    return BI_OK;
}

bi_status bi_table_verify(const bi_table *t, char *reason)
{
    uint64_t nb, b, i;
    bi_status st = bi_directory_verify(t, reason);
    if (st != BI_OK)
        return st;
    nb = ((uint64_t)1) << t->dir_bits;
    for (b = 0; b < nb; b++) {
        for (i = t->dir[b]; i < t->dir[b + 1]; i++) {
            uint64_t raw = bi_load_le64(t->suffixes + i * t->key_width);
            if (t->key_width < 8)
                raw &= (((uint64_t)1) << (8 * t->key_width)) - 1;
            if (raw > bi_suffix_mask(t))
                return bi_fail(BI_ERR_CORRUPT_KEYS, reason,
                               "key at row %llu has bits its bucket implies",
                               (unsigned long long)i);
            if (i > t->dir[b] && bi_suffix_at(t, i - 1) >= raw)
                return bi_fail(BI_ERR_CORRUPT_KEYS, reason,
                               "keys not strictly increasing at row %llu", (unsigned long long)i);
        }
    }
    return BI_OK;
}

bi_status bi_profiles_verify(const bi_table *t, char *reason)
{
    uint64_t i;
    bi_status st = bi_table_check(t, reason);
    if (st != BI_OK)
        return st;
    for (i = 0; i < t->n; i++)
        if (profile_id(t, i) >= t->n_profiles)
            return bi_fail(BI_ERR_CORRUPT_PROFILES, reason, "row %llu has profile id %u of only %u",
                           (unsigned long long)i, profile_id(t, i), t->n_profiles);
    return BI_OK;
}

bi_status bi_table_keys(const bi_table *t, uint64_t start, uint64_t count, uint64_t *out,
                        char *reason)
{
    uint64_t nb = ((uint64_t)1) << t->dir_bits, lo = 0, hi = nb, b, i;
    unsigned shift = 64 - t->dir_bits;

    if (start > t->n || count > t->n - start)
        return bi_fail(BI_ERR_ARG, reason, "rows %llu..%llu outside the table's %llu",
                       (unsigned long long)start, (unsigned long long)(start + count),
                       (unsigned long long)t->n);
    if (count == 0)
        return BI_OK;
    /* the bucket holding row start: the last b with dir[b] <= start */
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (t->dir[mid] <= start)
            lo = mid;
        else
            hi = mid;
    }
    b = lo;
    for (i = 0; i < count; i++) {
        uint64_t row = start + i;
        while (b < nb - 1 && t->dir[b + 1] <= row)
            b++;
        if (row < t->dir[b] || row >= t->dir[b + 1])
            return bi_fail(BI_ERR_CORRUPT_DIRECTORY, reason, "row %llu lies in no directory bucket",
                           (unsigned long long)row);
        out[i] = (b << shift) | bi_suffix_at(t, row);
    }
    return BI_OK;
}

bi_status bi_lower_bound(const bi_table *t, uint64_t key, uint64_t *row, char *reason)
{
    uint64_t b = bi_bucket_of(t, key), lo = t->dir[b], hi = t->dir[b + 1];
    uint64_t sfx = key & bi_suffix_mask(t);

    if (bi_bad_bucket(t, lo, hi))
        return bi_fail(BI_ERR_CORRUPT_DIRECTORY, reason,
                       "directory bucket %llu points outside the key file", (unsigned long long)b);
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (bi_suffix_at(t, mid) < sfx)
            lo = mid + 1;
        else
            hi = mid;
    }
    *row = lo;
    return BI_OK;
}

bi_status bi_lookup_phone(const bi_table *t, const bi_cc_rule *rules, const uint8_t *key16,
                          const char *s, size_t len, unsigned flags, int64_t *row,
                          uint32_t *profile)
{
    char e164[BI_E164_MAX];
    size_t elen;
    uint32_t cc;
    bi_status st = bi_phone_fast(rules, s, len, flags, e164, &elen, &cc);
    if (st != BI_OK)
        return st;
    st = find(t, bi_siphash24(key16, (const uint8_t *)e164, elen), 1, row);
    if (st != BI_OK || *row < 0)
        return st;
    *profile = profile_id(t, (uint64_t)*row);
    return *profile < t->n_profiles ? BI_OK : BI_ERR_CORRUPT_PROFILES;
}

bi_status bi_lookup_phone_ctx(const bi_phone_ctx *ctx, const char *s, size_t len, unsigned flags,
                              int64_t *row, uint32_t *profile)
{
    return bi_lookup_phone(ctx->table, ctx->rules, ctx->key16, s, len, flags, row, profile);
}
