/* breachindex C core. See breachindex.h for the contract of each function. */
#include "breachindex.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define BI_PREFETCH(p) __builtin_prefetch((const void *)(p), 0, 1)
#define BI_LIKELY(x) __builtin_expect(!!(x), 1)
#else
#define BI_PREFETCH(p) ((void)0)
#define BI_LIKELY(x) (x)
#endif

uint32_t bi_abi_version(void) { return BI_ABI_VERSION; }

/* ---- SipHash-2-4 ------------------------------------------------------------------------
 * Why SipHash-2-4 and not keyed BLAKE2b: both are PRFs under a secret key, which is what stops
 * anyone without the key from enumerating the ~10^10 possible numbers of a country against the
 * index. SipHash was designed for exactly this input size (a 12-20 byte message, a 64-bit
 * tag), costs a few dozen cycles per number against BLAKE2b's full 128-byte compression, and
 * is small enough to audit here in 40 lines. Its 128-bit key is derived from the user's
 * secret (any length >= 16 bytes) with BLAKE2b in Python. */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                               \
    do {                                                                                       \
        v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);                              \
        v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                                                 \
        v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                                                 \
        v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);                              \
    } while (0)

static inline uint64_t load_le64(const uint8_t *p)
{
    return (uint64_t)p[0] | ((uint64_t)p[1] << 8) | ((uint64_t)p[2] << 16) |
           ((uint64_t)p[3] << 24) | ((uint64_t)p[4] << 32) | ((uint64_t)p[5] << 40) |
           ((uint64_t)p[6] << 48) | ((uint64_t)p[7] << 56);
}

uint64_t bi_siphash24(const uint8_t *key16, const uint8_t *data, size_t len)
{
    uint64_t k0 = load_le64(key16), k1 = load_le64(key16 + 8);
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0;
    uint64_t v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0;
    uint64_t v3 = 0x7465646279746573ULL ^ k1;
    const uint8_t *end = data + (len & ~(size_t)7);
    uint64_t b = ((uint64_t)len) << 56, m;

    for (; data != end; data += 8) {
        m = load_le64(data);
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    switch (len & 7) {
    case 7: b |= ((uint64_t)data[6]) << 48; /* fall through */
    case 6: b |= ((uint64_t)data[5]) << 40; /* fall through */
    case 5: b |= ((uint64_t)data[4]) << 32; /* fall through */
    case 4: b |= ((uint64_t)data[3]) << 24; /* fall through */
    case 3: b |= ((uint64_t)data[2]) << 16; /* fall through */
    case 2: b |= ((uint64_t)data[1]) << 8;  /* fall through */
    case 1: b |= ((uint64_t)data[0]); break;
    case 0: break;
    }
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- phone fast path ---------------------------------------------------------------------
 * Handles "+digits", "00digits" (when the caller says 00 is the region's international
 * prefix) and bare leak digits. It mirrors phonenumbers.parse for exactly the cases where the
 * rules table proves that no national prefix can be stripped: then the national significant
 * number is the digits after the calling code, and only its length decides. Everything else
 * returns BI_PHONE_FALLBACK. */

int bi_phone_fast(const bi_cc_rule *rules, const char *s, size_t len, unsigned flags,
                  char *out, size_t *out_len, uint32_t *cc_out)
{
    size_t i = 0, nd, j, cl = 0, nsn;
    uint32_t cc = 0;
    const bi_cc_rule *r;

    if (len == 0 || len > 250)
        return BI_PHONE_FALLBACK;
    if (s[0] == '+')
        i = 1;
    else if ((flags & BI_ACCEPT_00) && len > 2 && s[0] == '0' && s[1] == '0')
        i = 2;
    else if (!(flags & BI_ACCEPT_BARE))
        return BI_PHONE_FALLBACK;
    nd = len - i;
    if (nd < 3 || nd > BI_E164_MAX)
        return BI_PHONE_FALLBACK;
    for (j = i; j < len; j++)
        if ((unsigned char)(s[j] - '0') > 9)
            return BI_PHONE_FALLBACK;
    if (s[i] == '0') /* no calling code starts with 0; after "00" a 0 means it was no IDD */
        return BI_PHONE_FALLBACK;
    for (j = 0; j < 3; j++) { /* phonenumbers takes the shortest assigned prefix */
        cc = cc * 10 + (uint32_t)(s[i + j] - '0');
        if (rules[cc].known) {
            cl = j + 1;
            break;
        }
    }
    if (cl == 0)
        return BI_PHONE_FALLBACK;
    r = &rules[cc];
    nsn = nd - cl;
    if (nsn < 2 || nsn > 17 || r->fallback_all)
        return BI_PHONE_FALLBACK;
    if (r->unsafe_first & (1u << (s[i + cl] - '0')))
        return BI_PHONE_FALLBACK;
    memcpy(out, s + i, nd);
    *out_len = nd;
    *cc_out = cc;
    switch (r->length_result[nsn]) {
    case BI_LEN_POSSIBLE:
    case BI_LEN_LOCAL_ONLY: return BI_PHONE_OK;
    case BI_LEN_TOO_SHORT: return BI_PHONE_TOO_SHORT;
    case BI_LEN_TOO_LONG: return BI_PHONE_TOO_LONG;
    case BI_LEN_INVALID: return BI_PHONE_INVALID_LENGTH;
    default: return BI_PHONE_FALLBACK;
    }
}

void bi_phone_keys(const bi_cc_rule *rules, const uint8_t *key16, const uint8_t *check_key16,
                   const char *buf, const uint64_t *offsets, size_t n, unsigned flags,
                   uint64_t *keys, uint64_t *check, uint8_t *status, char *e164_out,
                   uint16_t *cc_out)
{
    char e164[BI_E164_MAX];
    size_t i, elen;
    uint32_t cc;

    for (i = 0; i < n; i++) {
        int st = bi_phone_fast(rules, buf + offsets[i], (size_t)(offsets[i + 1] - offsets[i]),
                               flags, e164, &elen, &cc);
        status[i] = (uint8_t)st;
        if (st != BI_PHONE_OK)
            continue;
        keys[i] = bi_siphash24(key16, (const uint8_t *)e164, elen);
        if (check)
            check[i] = bi_siphash24(check_key16, (const uint8_t *)e164, elen);
        if (e164_out)
            memcpy(e164_out + i * BI_E164_MAX, e164, elen);
        if (cc_out)
            cc_out[i] = (uint16_t)cc;
    }
}

void bi_siphash_slots(const uint8_t *key16, const char *buf, size_t width, size_t n,
                      uint64_t *keys)
{
    size_t i;
    for (i = 0; i < n; i++) {
        const char *slot = buf + i * width;
        const char *nul = memchr(slot, 0, width);
        keys[i] = bi_siphash24(key16, (const uint8_t *)slot, nul ? (size_t)(nul - slot) : width);
    }
}

/* ---- the sorted key table ----------------------------------------------------------------
 * Keys are uniform (PRF outputs), so the directory over the top dir_bits bits gives a bucket
 * and linear interpolation of the key's remaining bits inside the bucket lands within a few
 * slots of it: a lookup reads one directory entry and, almost always, one cache line of keys. */

uint32_t bi_key_width(uint32_t dir_bits) { return (64 - dir_bits + 7) / 8; }

static inline uint64_t bucket_of(const bi_table *t, uint64_t key)
{
    return key >> (64 - t->dir_bits);
}

static inline uint64_t suffix_mask(const bi_table *t) { return ~(uint64_t)0 >> t->dir_bits; }

/* The stored suffix of row i: one unaligned load (the file's padding covers the last row). */
static inline uint64_t suffix_at(const bi_table *t, uint64_t i)
{
    return load_le64(t->suffixes + i * t->key_width) & suffix_mask(t);
}

static inline uint64_t guess_in(const bi_table *t, uint64_t sfx, uint64_t lo, uint64_t hi)
{
    return lo + (uint64_t)(((unsigned __int128)sfx * (hi - lo)) >> (64 - t->dir_bits));
}

static inline int64_t scan_from(const bi_table *t, uint64_t sfx, uint64_t lo, uint64_t hi,
                                uint64_t i)
{
    if (suffix_at(t, i) < sfx) {
        do
            i++;
        while (i < hi && suffix_at(t, i) < sfx);
    } else {
        while (i > lo && suffix_at(t, i - 1) >= sfx)
            i--;
    }
    return (i < hi && suffix_at(t, i) == sfx) ? (int64_t)i : -1;
}

/* A bucket a damaged directory could make point outside the key file. */
static inline int bad_bucket(const bi_table *t, uint64_t lo, uint64_t hi)
{
    return lo > hi || hi > t->n;
}

static inline const void *profile_at(const bi_table *t, uint64_t row)
{
    return (const uint8_t *)t->profiles + row * t->profile_width;
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
 * the scan waiting for a neighbouring line one lookup in five or so: at 533M keys, batch lookups
 * took 42-47 ns with the guessed line alone and 37-42 ns with this (bench/kernel_ab.py, README). */
static inline void prefetch_bucket(const bi_table *t, uint64_t lo, uint64_t hi)
{
    BI_PREFETCH(t->suffixes + lo * t->key_width);
    BI_PREFETCH(t->suffixes + (hi - 1) * t->key_width + 7); /* the last suffix's 8-byte load */
}

/* One lookup. With with_profile, the profile line of the guessed row is fetched together with
 * its key line: the row is almost always within a few slots of the guess, so the two cache
 * misses overlap instead of following each other. */
static inline int64_t lookup_one(const bi_table *t, uint64_t key, int with_profile)
{
    uint64_t b = bucket_of(t, key), lo = t->dir[b], hi = t->dir[b + 1], sfx, g;
    if (lo == hi)
        return -1;
    if (bad_bucket(t, lo, hi))
        return BI_ROW_CORRUPT;
    sfx = key & suffix_mask(t);
    g = guess_in(t, sfx, lo, hi);
    if (hi - lo > WIDE_BUCKET)
        prefetch_around(t, g);
    else
        prefetch_bucket(t, lo, hi);
    if (with_profile)
        BI_PREFETCH(profile_at(t, g));
    return scan_from(t, sfx, lo, hi, g);
}

int64_t bi_lookup(const bi_table *t, uint64_t key) { return lookup_one(t, key, 0); }

/* Three stages, PIPE apart: prefetch the directory entry, then (reading it) prefetch the
 * bucket's key lines, then scan. About 2*PIPE misses are in flight at once. */
#define PIPE 16
#define RING 64 /* > 2*PIPE, a power of two */

static int lookup_range(const bi_table *t, const uint64_t *q, size_t n, int64_t *rows)
{
    uint64_t lo_r[RING], hi_r[RING], g_r[RING];
    uint64_t mask = suffix_mask(t);
    size_t i;
    int corrupt = 0;

    for (i = 0; i < n + 2 * PIPE; i++) {
        if (i < n)
            BI_PREFETCH(&t->dir[bucket_of(t, q[i])]);
        if (i >= PIPE && i - PIPE < n) {
            size_t k = i - PIPE;
            uint64_t b = bucket_of(t, q[k]);
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
            } else if (bad_bucket(t, lo, hi)) {
                rows[k] = BI_ROW_CORRUPT;
                corrupt = 1;
            } else {
                rows[k] = scan_from(t, q[k] & mask, lo, hi, g_r[r]);
            }
        }
    }
    return corrupt;
}

/* A threaded batch: the threads claim chunks of LOOKUP_CHUNK queries from one counter until none
 * are left. Halving the batch up front left it waiting on the slower thread: on this machine
 * one vCPU often runs 10-40% slower than the other for a while (timed per thread). At 533M on
 * two threads, claiming chunks took 19.7 and 20.5 ns against 22.8 and 22.6 ns (medians of 20
 * interleaved rounds, bench/kernel_ab.py, two runs), and the same in rounds where both vCPUs
 * ran alike. A chunk's pipeline ramp (2 * PIPE lookups) is lost in 16384; 4096 and 131072
 * did no better. A smaller batch gets chunks of a quarter of a thread's share, so that every
 * thread still has work (threads start from 4096 queries a thread: chunks of 1024 or more). */
#define LOOKUP_CHUNK 16384

typedef struct {
    const bi_table *t;
    const uint64_t *q;
    size_t n;
    int64_t *rows;
    size_t chunk;
    atomic_size_t next; /* the first query of the next unclaimed chunk */
    atomic_int corrupt;
} lookup_work;

static void *lookup_work_run(void *arg)
{
    lookup_work *w = (lookup_work *)arg;
    for (;;) {
        size_t start = atomic_fetch_add_explicit(&w->next, w->chunk, memory_order_relaxed);
        if (start >= w->n)
            break;
        size_t end = w->n - start > w->chunk ? start + w->chunk : w->n;
        if (lookup_range(w->t, w->q + start, end - start, w->rows + start))
            atomic_store_explicit(&w->corrupt, 1, memory_order_relaxed);
    }
    return NULL;
}

#define BI_MAX_THREADS 64

int bi_lookup_many(const bi_table *t, const uint64_t *keys, size_t n, int64_t *rows,
                   uint32_t threads, char *reason)
{
    pthread_t tid[BI_MAX_THREADS];
    lookup_work work;
    uint32_t k, started = 0;
    int corrupt;

    if (threads == 0 || threads > BI_MAX_THREADS) {
        snprintf(reason, BI_REASON_LEN, "threads must be between 1 and %d", BI_MAX_THREADS);
        return BI_EARG;
    }
    if (threads == 1 || n < 4096u * threads) {
        corrupt = lookup_range(t, keys, n, rows);
    } else {
        work.t = t;
        work.q = keys;
        work.n = n;
        work.rows = rows;
        work.chunk = n / threads / 4 < LOOKUP_CHUNK ? n / threads / 4 : LOOKUP_CHUNK;
        atomic_init(&work.next, 0);
        atomic_init(&work.corrupt, 0);
        /* the calling thread claims chunks too, so if a thread cannot be started the ones that
         * did (at least this one) take its share */
        for (k = 1; k < threads; k++) {
            if (pthread_create(&tid[k], NULL, lookup_work_run, &work) != 0)
                break;
            started = k;
        }
        lookup_work_run(&work);
        for (k = 1; k <= started; k++)
            pthread_join(tid[k], NULL);
        corrupt = atomic_load(&work.corrupt);
    }
    if (corrupt) {
        snprintf(reason, BI_REASON_LEN, "a directory bucket points outside the key file");
        return BI_ECORRUPT;
    }
    return BI_OK;
}

uint32_t bi_profile_of(const bi_table *t, uint64_t row)
{
    if (t->profile_width == 2)
        return ((const uint16_t *)t->profiles)[row];
    return ((const uint32_t *)t->profiles)[row];
}

int bi_table_check(const bi_table *t, char *reason)
{
    uint64_t nb;

    if (t->dir_bits < 1 || t->dir_bits > 32) {
        snprintf(reason, BI_REASON_LEN, "directory bits %u outside 1..32", t->dir_bits);
        return BI_ECORRUPT;
    }
    if (t->key_width != bi_key_width(t->dir_bits)) {
        snprintf(reason, BI_REASON_LEN, "key width %u, a directory of %u bits needs %u",
                 t->key_width, t->dir_bits, bi_key_width(t->dir_bits));
        return BI_ECORRUPT;
    }
    if (t->n > UINT32_MAX) {
        snprintf(reason, BI_REASON_LEN, "row count %llu exceeds the format's 2^32-1",
                 (unsigned long long)t->n);
        return BI_ECORRUPT;
    }
    if (t->profile_width != 2 && t->profile_width != 4) {
        snprintf(reason, BI_REASON_LEN, "profile width %u is neither 2 nor 4", t->profile_width);
        return BI_ECORRUPT;
    }
    if (t->n_profiles >= 0x80000000u || (t->n > 0 && t->n_profiles == 0)) {
        snprintf(reason, BI_REASON_LEN, "profile count %u out of range", t->n_profiles);
        return BI_ECORRUPT;
    }
    nb = ((uint64_t)1) << t->dir_bits;
    if (t->dir[0] != 0 || t->dir[nb] != t->n) {
        snprintf(reason, BI_REASON_LEN, "directory must run from 0 to %llu rows",
                 (unsigned long long)t->n);
        return BI_ECORRUPT;
    }
    return BI_OK;
}

int bi_directory_verify(const bi_table *t, char *reason)
{
    uint64_t nb, b;
    int st = bi_table_check(t, reason);
    if (st != BI_OK)
        return st;
    nb = ((uint64_t)1) << t->dir_bits;
    for (b = 0; b < nb; b++) {
        if (t->dir[b] > t->dir[b + 1]) {
            snprintf(reason, BI_REASON_LEN, "directory decreases at bucket %llu",
                     (unsigned long long)b);
            return BI_ECORRUPT;
        }
    }
    return BI_OK;
}

int bi_table_verify(const bi_table *t, char *reason)
{
    uint64_t nb = ((uint64_t)1) << t->dir_bits, b, i;
    int st = bi_directory_verify(t, reason);
    if (st != BI_OK)
        return st;
    for (b = 0; b < nb; b++) {
        for (i = t->dir[b]; i < t->dir[b + 1]; i++) {
            uint64_t raw = load_le64(t->suffixes + i * t->key_width);
            if (t->key_width < 8)
                raw &= (((uint64_t)1) << (8 * t->key_width)) - 1;
            if (raw > suffix_mask(t)) {
                snprintf(reason, BI_REASON_LEN, "key at row %llu has bits its bucket implies",
                         (unsigned long long)i);
                return BI_ECORRUPT;
            }
            if (i > t->dir[b] && suffix_at(t, i - 1) >= raw) {
                snprintf(reason, BI_REASON_LEN, "keys not strictly increasing at row %llu",
                         (unsigned long long)i);
                return BI_ECORRUPT;
            }
        }
    }
    return BI_OK;
}

int bi_profiles_verify(const bi_table *t, char *reason)
{
    uint64_t i;
    for (i = 0; i < t->n; i++) {
        if (bi_profile_of(t, i) >= t->n_profiles) {
            snprintf(reason, BI_REASON_LEN, "row %llu has profile id %u of only %u",
                     (unsigned long long)i, bi_profile_of(t, i), t->n_profiles);
            return BI_ECORRUPT;
        }
    }
    return BI_OK;
}

int bi_table_keys(const bi_table *t, uint64_t start, uint64_t count, uint64_t *out,
                  char *reason)
{
    uint64_t nb = ((uint64_t)1) << t->dir_bits, lo = 0, hi = nb, b, i;
    unsigned shift = 64 - t->dir_bits;

    if (start > t->n || count > t->n - start) {
        snprintf(reason, BI_REASON_LEN, "rows %llu..%llu outside the table's %llu",
                 (unsigned long long)start, (unsigned long long)(start + count),
                 (unsigned long long)t->n);
        return BI_EARG;
    }
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
        if (row < t->dir[b] || row >= t->dir[b + 1]) {
            snprintf(reason, BI_REASON_LEN, "row %llu lies in no directory bucket",
                     (unsigned long long)row);
            return BI_ECORRUPT;
        }
        out[i] = (b << shift) | suffix_at(t, row);
    }
    return BI_OK;
}

int bi_lower_bound(const bi_table *t, uint64_t key, uint64_t *row, char *reason)
{
    uint64_t b = bucket_of(t, key), lo = t->dir[b], hi = t->dir[b + 1];
    uint64_t sfx = key & suffix_mask(t);

    if (bad_bucket(t, lo, hi)) {
        snprintf(reason, BI_REASON_LEN, "directory bucket %llu points outside the key file",
                 (unsigned long long)b);
        return BI_ECORRUPT;
    }
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (suffix_at(t, mid) < sfx)
            lo = mid + 1;
        else
            hi = mid;
    }
    *row = lo;
    return BI_OK;
}

int64_t bi_lookup_phone(const bi_table *t, const bi_cc_rule *rules, const uint8_t *key16,
                        const char *s, size_t len, unsigned flags)
{
    char e164[BI_E164_MAX];
    size_t elen;
    uint32_t cc;
    int64_t row;
    uint32_t profile;
    int st = bi_phone_fast(rules, s, len, flags, e164, &elen, &cc);
    if (st != BI_PHONE_OK)
        return -2 - st;
    row = lookup_one(t, bi_siphash24(key16, (const uint8_t *)e164, elen), 1);
    if (row == BI_ROW_CORRUPT)
        return BI_LOOKUP_CORRUPT_DIR;
    if (row < 0)
        return -1;
    profile = bi_profile_of(t, (uint64_t)row);
    if (profile >= t->n_profiles)
        return BI_LOOKUP_CORRUPT;
    return (int64_t)(((uint64_t)profile << 32) | (uint64_t)row);
}

int64_t bi_lookup_phone_ctx(const bi_phone_ctx *ctx, const char *s, size_t len, unsigned flags)
{
    return bi_lookup_phone(ctx->table, ctx->rules, ctx->key16, s, len, flags);
}

/* ---- leak-file lines ---------------------------------------------------------------------- */

static int is_blank_char(char ch) { return ch == ' ' || ch == '\t' || ch == '\r'; }

/* Classifies the phone field s[0:n) and keys it; returns a BI_LINE_* status. */
static int phone_field(const bi_cc_rule *rules, const uint8_t *key16, const uint8_t *check_key16,
                       const char *s, size_t n, uint64_t *key, uint64_t *check, uint16_t *cc_out)
{
    char e164[BI_E164_MAX];
    size_t i = 0, digits, elen;
    uint32_t cc = 0;
    int st;

    while (n > 0 && is_blank_char(s[n - 1]))
        n--;
    while (i < n && is_blank_char(s[i]))
        i++;
    s += i;
    n -= i;
    if (n == 0)
        return BI_LINE_PHONE_EMPTY;
    digits = n - (s[0] == '+');
    for (i = (s[0] == '+'); i < n; i++)
        if ((unsigned char)(s[i] - '0') > 9)
            return BI_LINE_PHONE_NOT_DIGITS;
    if (digits < 5)
        return BI_LINE_PHONE_TOO_SHORT;
    if (digits > 20)
        return BI_LINE_PHONE_TOO_LONG;
    st = bi_phone_fast(rules, s, n, BI_ACCEPT_BARE, e164, &elen, &cc);
    switch (st) {
    case BI_PHONE_OK: break;
    case BI_PHONE_TOO_SHORT: return BI_LINE_NOT_POSSIBLE_SHORT;
    case BI_PHONE_TOO_LONG: return BI_LINE_NOT_POSSIBLE_LONG;
    case BI_PHONE_INVALID_LENGTH: return BI_LINE_NOT_POSSIBLE_LENGTH;
    default: return BI_LINE_FALLBACK;
    }
    *key = bi_siphash24(key16, (const uint8_t *)e164, elen);
    *check = bi_siphash24(check_key16, (const uint8_t *)e164, elen);
    *cc_out = (uint16_t)cc;
    return BI_LINE_RECORD;
}

/* Splits one line (without its '\n') into fields: returns the field count (or -1 for a quote
 * left open), ORs the classes of non-empty fields into *classes and reports the phone field. */
static long split_line(const bi_layout *L, const char *s, size_t n, uint32_t *classes,
                       size_t *ph_start, size_t *ph_len)
{
    size_t pos = 0;
    long field = 0;
    char sep = L->csv ? ',' : ':';

    *ph_start = 0;
    *ph_len = 0;
    for (;;) {
        size_t start = pos, end;
        int nonempty = 0;
        if (L->csv && pos < n && s[pos] == '"') {
            size_t j = pos + 1;
            for (;;) {
                if (j >= n)
                    return -1;
                if (s[j] == '"') {
                    if (j + 1 < n && s[j + 1] == '"') {
                        j += 2;
                        continue;
                    }
                    break;
                }
                j++;
            }
            start = pos + 1;
            end = j;
            pos = j + 1;
            while (pos < n && is_blank_char(s[pos]))
                pos++;
            if (pos < n && s[pos] != sep) /* bytes after the closing quote: not RFC 4180 */
                return -1;
        } else {
            while (pos < n && s[pos] != sep)
                pos++;
            end = pos;
        }
        {
            size_t k;
            for (k = start; k < end; k++)
                if (!is_blank_char(s[k])) {
                    nonempty = 1;
                    break;
                }
        }
        if ((uint32_t)field == L->phone_field) {
            *ph_start = start;
            *ph_len = end - start;
        }
        if (nonempty && field < BI_MAX_FIELDS)
            *classes |= L->class_of_field[field];
        field++;
        if (pos >= n)
            return field;
        pos++; /* the separator */
    }
}

size_t bi_parse_lines(const bi_layout *layout, const bi_cc_rule *rules, const uint8_t *key16,
                      const uint8_t *check_key16, const char *buf, size_t len, size_t max_lines,
                      const bi_line_out *out)
{
    size_t line = 0, pos = 0;

    while (pos < len && line < max_lines) {
        const char *s = buf + pos;
        const char *nl = memchr(s, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - s) : len - pos, k, ph_start, ph_len;
        uint32_t classes = 0;
        long fields;
        int st;

        pos += n + (nl != NULL);
        while (n > 0 && s[n - 1] == '\r')
            n--;
        for (k = 0; k < n && is_blank_char(s[k]); k++)
            ;
        if (k == n) {
            out->status[line++] = BI_LINE_BLANK;
            continue;
        }
        fields = split_line(layout, s, n, &classes, &ph_start, &ph_len);
        if (fields < 0) {
            out->status[line++] = BI_LINE_BAD_QUOTES;
            continue;
        }
        if ((uint32_t)fields < layout->n_fields) {
            out->status[line++] = BI_LINE_TOO_FEW_FIELDS;
            continue;
        }
        st = phone_field(rules, key16, check_key16, s + ph_start, ph_len, &out->keys[line],
                         &out->check[line], &out->cc[line]);
        out->classes[line] = classes | layout->base_classes;
        if (st == BI_LINE_FALLBACK) {
            out->phone_off[line] = (uint64_t)(s + ph_start - buf);
            out->phone_len[line] = (uint32_t)ph_len;
        }
        out->status[line++] = (uint8_t)st;
    }
    return line;
}

size_t bi_count_lines(const char *buf, size_t len)
{
    size_t lines = 0;
    const char *p = buf, *end = buf + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        lines++;
        if (!nl)
            break;
        p = nl + 1;
    }
    return lines;
}

void bi_value_keys(const bi_cc_rule *rules, const uint8_t *key16, const uint8_t *check_key16,
                   const int64_t *values, size_t n, uint64_t *keys, uint64_t *check,
                   uint16_t *cc, uint8_t *status)
{
    char digits[24], e164[BI_E164_MAX];
    size_t i, elen;
    uint32_t code;

    for (i = 0; i < n; i++) {
        int64_t v = values[i];
        size_t len = 0, a, b;
        int st;
        if (v <= 0) {
            status[i] = BI_PHONE_FALLBACK;
            continue;
        }
        while (v > 0 && len < sizeof digits) {
            digits[len++] = (char)('0' + v % 10);
            v /= 10;
        }
        for (a = 0, b = len - 1; a < b; a++, b--) { /* digits were produced backwards */
            char t = digits[a];
            digits[a] = digits[b];
            digits[b] = t;
        }
        st = bi_phone_fast(rules, digits, len, BI_ACCEPT_BARE, e164, &elen, &code);
        status[i] = (uint8_t)st;
        if (st != BI_PHONE_OK)
            continue;
        keys[i] = bi_siphash24(key16, (const uint8_t *)e164, elen);
        check[i] = bi_siphash24(check_key16, (const uint8_t *)e164, elen);
        cc[i] = (uint16_t)code;
    }
}
