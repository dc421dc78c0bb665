/* libFuzzer harness: the checks and lookups that read an index's files (bi_table_check, the
 * verify passes, bi_lookup, bi_lookup_many, bi_table_keys, bi_lower_bound, bi_profile_of).
 *
 * The files are untrusted, but their sizes are not: Python checks each header against its file
 * before the core sees a pointer. So the harness allocates every array at exactly the size the
 * table's fields promise (2^dir_bits + 1 directory entries, n * key_width + 8 key bytes, n *
 * profile_width profile bytes) and lets the input decide everything inside them.
 *
 * Mode 2 also writes the same table with bi_key_suffixes, as the builder does, in up to three
 * pieces split where the keys say, and checks it byte for byte against the harness's own
 * (its model of the writer), and that keys out of order are refused.
 *
 * Input: byte 0 is the mode, byte 1 the directory bits, byte 2 the profile width and count;
 * the rest fills the arrays.
 *   mode 0: every byte from the input, as a damaged file would be;
 *   mode 1: the same with the directory's two ends right (0 and n), which bi_table_check wants,
 *           so the lookups run over directories that decrease or overshoot inside;
 *   mode 2: a valid table built (as the writer builds it) from the input's 8-byte keys;
 *   mode 3: mode 2, then some bytes of its files overwritten by the input's last bytes.
 * Checked: on any table that passes bi_table_check, nothing reads outside the arrays, rows are
 * -1 or in range, and a failure is a named status; on a table that passes the verify passes,
 * every answer agrees with a sorted array of its keys (rows of every key, of absent neighbours,
 * lower bounds, the keys given back). Batches run on one thread: thread start-up under ASan
 * cost more than the rest of a run, and the threads run the same per-range code
 * (tests/native/test_kernels.py and tests/index/test_corruption.py run it threaded). */
#include "fuzz.h"
#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_BITS 12  /* directories of up to 4097 entries */
#define MAX_ROWS 600 /* rows of a table */

typedef struct {
    const uint8_t *p;
    size_t left;
} input;

static uint8_t take8(input *in)
{
    uint8_t v = 0;
    if (in->left) {
        v = *in->p++;
        in->left--;
    }
    return v;
}

static uint64_t take64(input *in)
{
    uint64_t v = 0;
    for (int k = 0; k < 8; k++)
        v |= (uint64_t)take8(in) << (8 * k);
    return v;
}

static int by_key(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static int is_failure(bi_status st)
{
    return st == BI_ERR_CORRUPT_DIRECTORY || st == BI_ERR_CORRUPT_KEYS ||
           st == BI_ERR_CORRUPT_PROFILES || st == BI_ERR_ARG;
}

/* lookups that must stay in bounds, and give in-range answers, on any table that passed the
 * structure check; on a verified table, answers that agree with the sorted keys */
static void exercise(const bi_table *t, const uint64_t *sorted, size_t n_sorted, int verified,
                     const uint64_t *extra, size_t n_extra)
{
    uint64_t nb = (uint64_t)1 << t->dir_bits, probes = nb < 512 ? nb : 512;
    size_t nq = 0, i, cap = 3 * n_sorted + n_extra + 4 + probes;
    uint64_t *q, *full, row_u;
    int64_t *rows, row;
    uint32_t profile;
    bi_status st, many;

    q = fuzz_alloc(cap * sizeof *q);
    for (i = 0; i < n_sorted; i++) {
        q[nq++] = sorted[i];
        q[nq++] = sorted[i] - 1;
        q[nq++] = sorted[i] + 1;
    }
    for (i = 0; i < n_extra; i++)
        q[nq++] = extra[i];
    for (i = 0; i < probes && t->n > 0; i++) /* a stored suffix in each of the first buckets */
        q[nq++] = ((uint64_t)i << (64 - t->dir_bits)) | bi_suffix_at(t, (i * 7) % t->n);
    q[nq++] = 0;
    q[nq++] = ~(uint64_t)0;
    q[nq++] = (uint64_t)1 << 63;
    q[nq++] = ((uint64_t)1 << 63) - 1;

    rows = fuzz_alloc(nq * sizeof *rows);
    many = bi_lookup_many(t, q, nq, rows, 1, NULL);
    FUZZ_CHECK(many == BI_OK || many == BI_ERR_CORRUPT_DIRECTORY);
    for (i = 0; i < nq; i++) {
        FUZZ_CHECK(rows[i] >= -1 && rows[i] < (int64_t)t->n);
        st = bi_lookup(t, q[i], &row);
        FUZZ_CHECK(st == BI_OK || st == BI_ERR_CORRUPT_DIRECTORY);
        FUZZ_CHECK(st != BI_OK || row == rows[i]);
        FUZZ_CHECK(st == BI_OK || many == BI_ERR_CORRUPT_DIRECTORY);
        st = bi_lower_bound(t, q[i], &row_u, NULL);
        FUZZ_CHECK(st == BI_OK || st == BI_ERR_CORRUPT_DIRECTORY);
        FUZZ_CHECK(st != BI_OK || row_u <= t->n);
        if (verified) {
            uint64_t *at = bsearch(&q[i], sorted, n_sorted, sizeof *sorted, by_key);
            size_t lo = 0, hi = n_sorted; /* the lower bound, by bisection */
            FUZZ_CHECK(many == BI_OK && st == BI_OK);
            FUZZ_CHECK(rows[i] == (at ? (int64_t)(at - sorted) : -1));
            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (sorted[mid] < q[i])
                    lo = mid + 1;
                else
                    hi = mid;
            }
            FUZZ_CHECK(row_u == lo);
        }
    }
    FUZZ_CHECK(bi_lookup_many(t, q, nq, rows, 0, NULL) == BI_ERR_ARG);
    FUZZ_CHECK(bi_lookup_many(t, q, nq, rows, BI_MAX_THREADS + 1, NULL) == BI_ERR_ARG);

    full = fuzz_alloc(t->n * sizeof *full);
    st = bi_table_keys(t, 0, t->n, full, NULL);
    FUZZ_CHECK(st == BI_OK || st == BI_ERR_CORRUPT_DIRECTORY);
    if (verified) {
        FUZZ_CHECK(st == BI_OK && t->n == n_sorted);
        FUZZ_CHECK(t->n == 0 || memcmp(full, sorted, t->n * sizeof *full) == 0);
    }
    if (t->n > 2)
        st = bi_table_keys(t, t->n / 3, t->n / 2, full, NULL);
    FUZZ_CHECK(bi_table_keys(t, t->n, 1, full, NULL) == BI_ERR_ARG);
    FUZZ_CHECK(bi_table_keys(t, 1, ~(uint64_t)0, full, NULL) == BI_ERR_ARG);
    for (i = 0; i < t->n; i++) {
        st = bi_profile_of(t, i, &profile);
        FUZZ_CHECK(st == BI_OK || st == BI_ERR_CORRUPT_PROFILES);
        FUZZ_CHECK(st != BI_OK || profile < t->n_profiles);
    }
    FUZZ_CHECK(bi_profile_of(t, t->n, &profile) == BI_ERR_ARG);
    free(full);
    free(rows);
    free(q);
}

/* bi_key_suffixes, in pieces as the builder calls it, against the table the harness built:
 * the same suffix bytes and directory; keys repeated or out of order refused */
static void check_key_suffixes(const uint64_t *keys, size_t n, uint32_t bits, uint32_t width,
                               const uint32_t *dir, const uint8_t *suffixes, uint64_t nb)
{
    uint32_t *got_dir = fuzz_alloc((nb + 1) * sizeof *got_dir);
    uint8_t *got = fuzz_alloc(n * width + 8);
    uint64_t next = 1, b, swapped[2];
    size_t cut[4], p;

    FUZZ_CHECK(bi_key_width(bits) == width);
    cut[0] = 0;
    cut[1] = n ? (size_t)(keys[0] % (n + 1)) : 0;
    cut[2] = cut[1] + (n > cut[1] ? (size_t)(keys[n - 1] % (n - cut[1] + 1)) : 0);
    cut[3] = n;
    memset(got_dir, 0xa5, (nb + 1) * sizeof *got_dir);
    memset(got, 0x5a, n * width + 8);
    got_dir[0] = 0; /* the caller's: entry 0 is never written */
    for (p = 0; p < 3; p++)
        FUZZ_CHECK(bi_key_suffixes(keys + cut[p], cut[p + 1] - cut[p], bits, cut[p],
                                   got + cut[p] * width, got_dir, &next) == BI_OK);
    FUZZ_CHECK(next >= 1 && next <= nb + 1);
    for (b = next; b <= nb; b++) /* the caller's: the rest are the row count */
        got_dir[b] = (uint32_t)n;
    FUZZ_CHECK(memcmp(got_dir, dir, (nb + 1) * sizeof *dir) == 0);
    FUZZ_CHECK(n == 0 || memcmp(got, suffixes, n * width) == 0);

    next = 1;
    FUZZ_CHECK(bi_key_suffixes(keys, n, 0, 0, got, got_dir, &next) == BI_ERR_ARG);
    FUZZ_CHECK(bi_key_suffixes(keys, n, BI_MAX_DIR_BITS + 1, 0, got, got_dir, &next) == BI_ERR_ARG);
    if (n >= 2) {
        swapped[0] = keys[1];
        swapped[1] = keys[0];
        next = 1;
        FUZZ_CHECK(bi_key_suffixes(swapped, 2, bits, 0, got, got_dir, &next) == BI_ERR_ARG);
        swapped[1] = keys[1];
        next = 1;
        FUZZ_CHECK(bi_key_suffixes(swapped, 2, bits, 0, got, got_dir, &next) == BI_ERR_ARG);
        /* a piece that starts in a bucket before the last piece's */
        next = (keys[n - 1] >> (64 - bits)) + 2;
        if (next <= nb + 1 && (keys[0] >> (64 - bits)) + 1 < next)
            FUZZ_CHECK(bi_key_suffixes(keys, 1, bits, 0, got, got_dir, &next) == BI_ERR_ARG);
    }
    free(got_dir);
    free(got);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    input in = {data, size};
    unsigned mode, bits_in, prof;
    uint32_t bits, width, pw;
    uint64_t nb, n, i, b, *keys = NULL, extra[16];
    size_t n_keys = 0, n_extra = 0;
    uint32_t *dir;
    uint8_t *suffixes, *profiles;
    bi_table t;
    char reason[BI_REASON_LEN];
    bi_status st;
    int verified = 0;

    if (size < 3)
        return 0;
    mode = take8(&in) % 4;
    bits_in = take8(&in);
    prof = take8(&in);
    /* directory bits: mostly 1..MAX_BITS; 0 and above 32 stay, for the check to refuse */
    bits = bits_in % 40;
    if (bits > MAX_BITS && bits <= 32)
        bits = bits % MAX_BITS + 1;
    pw = (prof & 1) ? 4 : 2;
    if ((prof & 0x81) == 0x81)
        pw = prof & 7; /* sometimes neither 2 nor 4 */
    nb = bits <= 32 ? (uint64_t)1 << bits : 1;
    if (bits == 0 || bits > 32)
        nb = 1;

    memset(&t, 0, sizeof t);
    t.dir_bits = bits;
    t.profile_width = pw;
    if (mode >= 2) { /* a valid table from the input's keys */
        size_t want = in.left / 8 < MAX_ROWS ? in.left / 8 : MAX_ROWS;
        if (bits == 0 || bits > 32)
            bits = t.dir_bits = 1, nb = 2;
        pw = t.profile_width = pw == 4 ? 4 : 2;
        keys = fuzz_alloc(want * sizeof *keys);
        for (i = 0; i < want; i++)
            keys[i] = take64(&in);
        qsort(keys, want, sizeof *keys, by_key);
        for (i = 0; i < want; i++)
            if (n_keys == 0 || keys[i] != keys[n_keys - 1])
                keys[n_keys++] = keys[i];
        n = n_keys;
        width = bi_key_width(bits);
    } else {
        n = (uint64_t)take8(&in) | ((uint64_t)take8(&in) << 8);
        n %= MAX_ROWS + 1;
        width = (prof & 0x40) ? (uint32_t)(prof >> 3) % 10 : bi_key_width(bits ? bits : 1);
    }
    t.n = n;
    t.key_width = width;
    t.n_profiles = (prof & 0x20) ? (uint32_t)(prof % 5) : (prof & 0x10) ? 0x80000000u : 3;

    dir = fuzz_alloc((nb + 1) * sizeof *dir);
    suffixes = fuzz_alloc(n * width + 8);
    profiles = fuzz_alloc(n * pw);
    if (mode >= 2) {
        uint64_t mask = ~(uint64_t)0 >> bits;
        memset(dir, 0, (nb + 1) * sizeof *dir);
        for (i = 0; i < n; i++)
            dir[(keys[i] >> (64 - bits)) + 1]++;
        for (b = 0; b < nb; b++)
            dir[b + 1] += dir[b];
        memset(suffixes, 0, n * width + 8);
        for (i = 0; i < n; i++)
            for (uint32_t k = 0; k < width; k++)
                suffixes[i * width + k] = (uint8_t)(((keys[i] & mask) >> (8 * k)) & 0xff);
        for (i = 0; i < n * pw; i++)
            profiles[i] = 0;
        for (i = 0; i < n; i++)
            profiles[i * pw] = (uint8_t)(i % 3);
        t.n_profiles = 3;
        if (mode == 2)
            check_key_suffixes(keys, n, bits, width, dir, suffixes, nb);
        if (mode == 3) { /* damage: (where, what) pairs from the rest of the input; a table
                          * that still verifies is some other valid table, its own oracle */
            free(keys);
            keys = NULL;
            n_keys = 0;
            while (in.left >= 3) {
                unsigned which = take8(&in) % 3, at = take8(&in);
                uint8_t v = take8(&in);
                if (which == 0)
                    ((uint8_t *)dir)[at % ((nb + 1) * 4)] = v;
                else if (which == 1)
                    suffixes[at % (n * width + 8)] = v;
                else if (n)
                    profiles[at % (n * pw)] = v;
            }
        }
    } else {
        for (b = 0; b <= nb; b++)
            dir[b] = (uint32_t)take64(&in);
        for (i = 0; i < n * width + 8; i++)
            suffixes[i] = take8(&in);
        for (i = 0; i < n * pw; i++)
            profiles[i] = take8(&in);
        if (mode == 1) {
            dir[0] = 0;
            dir[nb] = (uint32_t)n;
        }
    }
    while (in.left >= 8 && n_extra < 16)
        extra[n_extra++] = take64(&in);
    t.dir = dir;
    t.suffixes = suffixes;
    t.profiles = profiles;

    st = bi_table_check(&t, reason);
    FUZZ_CHECK(st == BI_OK || is_failure(st));
    FUZZ_CHECK(st == BI_OK || memchr(reason, 0, sizeof reason) != NULL);
    FUZZ_CHECK(mode != 2 || st == BI_OK);
    if (st == BI_OK) {
        bi_status d = bi_directory_verify(&t, reason), k = bi_table_verify(&t, reason),
                  p = bi_profiles_verify(&t, reason);
        FUZZ_CHECK(d == BI_OK || d == BI_ERR_CORRUPT_DIRECTORY);
        FUZZ_CHECK(k == BI_OK || k == BI_ERR_CORRUPT_DIRECTORY || k == BI_ERR_CORRUPT_KEYS);
        FUZZ_CHECK(p == BI_OK || p == BI_ERR_CORRUPT_PROFILES);
        FUZZ_CHECK(mode != 2 || (d == BI_OK && k == BI_OK && p == BI_OK));
        verified = d == BI_OK && k == BI_OK;
        if (verified && keys == NULL) { /* a valid table from raw bytes: its keys are the oracle */
            keys = fuzz_alloc(n * sizeof *keys);
            FUZZ_CHECK(bi_table_keys(&t, 0, n, keys, NULL) == BI_OK);
            for (i = 1; i < n; i++)
                FUZZ_CHECK(keys[i - 1] < keys[i]);
            n_keys = n;
        }
        exercise(&t, verified ? keys : NULL, verified ? n_keys : 0, verified, extra, n_extra);
    }
    free(keys);
    free(dir);
    free(suffixes);
    free(profiles);
    return 0;
}
