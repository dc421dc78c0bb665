/* A build's records in memory: split by key range, and sorted by key.
 *
 * A record is `width` uint64 words, the key first (builder/records.py says what the others
 * hold). Both calls are counting sorts over the key's bits, moving whole records: numpy's way
 * (argsort, then gather the rows) read every record twice at random. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

/* a record's words, unrolled: a loop over a width only known at run time became `rep movsq`,
 * which costs more than the three words of a record */
static inline void copy_record(uint64_t *dst, const uint64_t *src, uint32_t width)
{
    switch (width) {
    case 8: dst[7] = src[7]; /* fall through */
    case 7: dst[6] = src[6]; /* fall through */
    case 6: dst[5] = src[5]; /* fall through */
    case 5: dst[4] = src[4]; /* fall through */
    case 4: dst[3] = src[3]; /* fall through */
    case 3: dst[2] = src[2]; /* fall through */
    case 2: dst[1] = src[1]; /* fall through */
    default: dst[0] = src[0];
    }
}

bi_status bi_partition_records(const uint64_t *src, size_t n, uint32_t width, uint32_t bits,
                               uint64_t *dst, uint64_t *counts)
{
    size_t parts, i, p, at = 0;
    uint32_t shift;

    if (width < 1 || width > BI_MAX_RECORD_WIDTH || bits < 1 || bits > BI_MAX_PARTITION_BITS)
        return BI_ERR_ARG;
    parts = (size_t)1 << bits;
    shift = 64 - bits;
    memset(counts, 0, parts * sizeof *counts);
    for (i = 0; i < n; i++)
        counts[src[i * width] >> shift]++;
    /* counts[p] becomes partition p's next slot while the records are placed, then its count
     * again: each slot is advanced past its partition, so its start is recovered from the end */
    for (p = 0; p < parts; p++) {
        size_t c = (size_t)counts[p];
        counts[p] = at;
        at += c;
    }
    for (i = 0; i < n; i++) {
        const uint64_t *r = src + i * width;
        copy_record(dst + (counts[r[0] >> shift]++) * width, r, width);
    }
    for (p = parts; p-- > 0;)
        counts[p] -= p ? counts[p - 1] : 0;
    return BI_OK;
}

static int compare_keys(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* a small bucket: insertion sort, moving whole records */
static void insertion_sort(uint64_t *recs, size_t n, uint32_t width)
{
    uint64_t held[BI_MAX_RECORD_WIDTH] = {0};
    for (size_t i = 1; i < n; i++) {
        size_t j = i;
        if (recs[(j - 1) * width] <= recs[i * width])
            continue;
        copy_record(held, recs + i * width, width);
        while (j > 0 && recs[(j - 1) * width] > held[0]) {
            copy_record(recs + j * width, recs + (j - 1) * width, width);
            j--;
        }
        copy_record(recs + j * width, held, width);
    }
}

static uint32_t bit_length(uint64_t x)
{
    uint32_t b = 0;
    while (x) {
        b++;
        x >>= 1;
    }
    return b;
}

/* Keys are PRF outputs, so buckets of the key range hold 2 to 4 records each: one counting
 * pass, then an insertion sort per bucket. A bucket that is still large (keys an adversary
 * chose, which needs the secret key) goes to qsort, so no input is quadratic. */
bi_status bi_sort_records(uint64_t *recs, size_t n, uint32_t width, uint64_t *scratch,
                          uint64_t *counts)
{
    uint64_t lo, hi;
    uint32_t bits, shift, span_bits;
    size_t i, b, buckets, at = 0;

    if (width < 1 || width > BI_MAX_RECORD_WIDTH)
        return BI_ERR_ARG;
    if (n < 2)
        return BI_OK;
    lo = hi = recs[0];
    for (i = 1; i < n; i++) {
        uint64_t k = recs[i * width];
        lo = k < lo ? k : lo;
        hi = k > hi ? k : hi;
    }
    bits = bit_length((uint64_t)n) > 3 ? bit_length((uint64_t)n) - 2 : 1;
    if (bits > BI_SORT_BUCKET_BITS)
        bits = BI_SORT_BUCKET_BITS;
    span_bits = bit_length(hi - lo);
    if (span_bits < bits)
        bits = span_bits ? span_bits : 1;
    shift = span_bits > bits ? span_bits - bits : 0;
    buckets = (size_t)1 << bits;
    memset(counts, 0, (buckets + 1) * sizeof *counts);
    for (i = 0; i < n; i++)
        counts[((recs[i * width] - lo) >> shift) + 1]++;
    for (b = 0; b < buckets; b++)
        counts[b + 1] += counts[b];
    for (i = 0; i < n; i++) { /* counts[b] walks bucket b; it ends at bucket b + 1's start */
        const uint64_t *r = recs + i * width;
        copy_record(scratch + (counts[(r[0] - lo) >> shift]++) * width, r, width);
    }
    for (b = 0; b < buckets; b++) {
        size_t end = (size_t)counts[b], count = end - at;
        if (count > BI_SORT_SMALL_BUCKET)
            qsort(scratch + at * width, count, width * sizeof *scratch, compare_keys);
        else
            insertion_sort(scratch + at * width, count, width);
        at = end;
    }
    memcpy(recs, scratch, n * width * sizeof *recs);
    return BI_OK;
}
