/* The phone fast path.
 *
 * Handles "+digits", "00digits" (when the caller says 00 is the region's international
 * prefix) and bare leak digits. It mirrors phonenumbers.parse for exactly the cases where the
 * rules table proves that no national prefix can be stripped: then the national significant
 * number is the digits after the calling code, and only its length decides. Everything else
 * returns BI_FALLBACK. */
#include "internal.h"

#include <string.h>

bi_status bi_phone_fast(const bi_cc_rule *rules, const char *s, size_t len, unsigned flags,
                        char *out, size_t *out_len, uint32_t *cc_out)
{
    size_t i = 0, nd, j, cl = 0, nsn;
    uint32_t cc = 0;
    const bi_cc_rule *r;

    if (len == 0 || len > BI_MAX_FAST_TEXT)
        return BI_FALLBACK;
    if (s[0] == '+')
        i = 1;
    else if ((flags & BI_ACCEPT_00) && len > 2 && s[0] == '0' && s[1] == '0')
        i = 2;
    else if (!(flags & BI_ACCEPT_BARE))
        return BI_FALLBACK;
    nd = len - i;
    if (nd < 3 || nd > BI_E164_MAX)
        return BI_FALLBACK;
    for (j = i; j < len; j++)
        if ((unsigned char)(s[j] - '0') > 9)
            return BI_FALLBACK;
    if (s[i] == '0') /* no calling code starts with 0; after "00" a 0 means it was no IDD */
        return BI_FALLBACK;
    for (j = 0; j < 3; j++) { /* phonenumbers takes the shortest assigned prefix */
        cc = cc * 10 + (uint32_t)(s[i + j] - '0');
        if (rules[cc].known) {
            cl = j + 1;
            break;
        }
    }
    if (cl == 0)
        return BI_FALLBACK;
    r = &rules[cc];
    nsn = nd - cl;
    if (nsn < 2 || nsn > 17 || r->fallback_all)
        return BI_FALLBACK;
    if (r->unsafe_first & (1u << (s[i + cl] - '0')))
        return BI_FALLBACK;
    memcpy(out, s + i, nd);
    *out_len = nd;
    *cc_out = cc;
    switch (r->length_result[nsn]) {
    case BI_LEN_POSSIBLE:
    case BI_LEN_LOCAL_ONLY: return BI_OK;
    case BI_LEN_TOO_SHORT: return BI_ERR_PHONE_TOO_SHORT;
    case BI_LEN_TOO_LONG: return BI_ERR_PHONE_TOO_LONG;
    case BI_LEN_INVALID: return BI_ERR_PHONE_INVALID_LENGTH;
    default: return BI_FALLBACK;
    }
}

/* What a batch keys into, shared by its threads; each number writes only its own slots. */
typedef struct {
    const bi_cc_rule *rules;
    const uint8_t *key16, *check_key16;
    unsigned flags;
    uint64_t *keys, *check;
    uint8_t *status;
    char *e164;
    uint16_t *cc;
    /* the numbers: spans of buf, or fixed-width cells */
    const char *buf;
    const uint64_t *starts, *ends;
    const uint8_t *cells;
    size_t width;
    unsigned char_size;
} keying;

static void key_one(const keying *k, size_t i, const char *s, size_t len)
{
    char e164[BI_E164_MAX];
    size_t elen;
    uint32_t cc;
    bi_status st = bi_phone_fast(k->rules, s, len, k->flags, e164, &elen, &cc);

    k->status[i] = (uint8_t)st;
    if (st != BI_OK)
        return;
    k->keys[i] = bi_siphash24(k->key16, (const uint8_t *)e164, elen);
    if (k->check)
        k->check[i] = bi_siphash24(k->check_key16, (const uint8_t *)e164, elen);
    if (k->e164)
        memcpy(k->e164 + i * BI_E164_MAX, e164, elen);
    if (k->cc)
        k->cc[i] = (uint16_t)cc;
}

static int key_spans(void *ctx, size_t start, size_t end)
{
    const keying *k = (const keying *)ctx;
    for (size_t i = start; i < end; i++)
        key_one(k, i, k->buf + k->starts[i], (size_t)(k->ends[i] - k->starts[i]));
    return 0;
}

/* A cell holds its text NUL-padded to the width, as numpy keeps S and U arrays (a NUL inside the
 * text stays). A code point that is not ASCII is the reference's to read: BI_FALLBACK. */
static int key_cells(void *ctx, size_t start, size_t end)
{
    const keying *k = (const keying *)ctx;
    char text[BI_MAX_FAST_TEXT];
    size_t stride = k->width * k->char_size;

    for (size_t i = start; i < end; i++) {
        const uint8_t *cell = k->cells + i * stride;
        size_t len = k->width, j;
        if (k->char_size == 1) {
            while (len > 0 && cell[len - 1] == 0)
                len--;
            key_one(k, i, (const char *)cell, len);
            continue;
        }
        for (;;) { /* UCS-4 in this machine's order */
            uint32_t c;
            if (len == 0)
                break;
            memcpy(&c, cell + (len - 1) * 4, 4);
            if (c != 0)
                break;
            len--;
        }
        if (len > sizeof text) {
            k->status[i] = BI_FALLBACK;
            continue;
        }
        for (j = 0; j < len; j++) {
            uint32_t c;
            memcpy(&c, cell + j * 4, 4);
            if (c >= 0x80)
                break;
            text[j] = (char)c;
        }
        if (j < len)
            k->status[i] = BI_FALLBACK;
        else
            key_one(k, i, text, len);
    }
    return 0;
}

static int keying_init(keying *k, const bi_cc_rule *rules, const uint8_t *key16,
                       const uint8_t *check_key16, unsigned flags, uint32_t threads, uint64_t *keys,
                       uint64_t *check, uint8_t *status, char *e164, uint16_t *cc)
{
    memset(k, 0, sizeof *k);
    k->rules = rules;
    k->key16 = key16;
    k->check_key16 = check_key16;
    k->flags = flags;
    k->keys = keys;
    k->check = check;
    k->status = status;
    k->e164 = e164;
    k->cc = cc;
    return threads >= 1 && threads <= BI_MAX_THREADS && (!check || check_key16);
}

bi_status bi_phone_keys(const bi_cc_rule *rules, const uint8_t *key16, const uint8_t *check_key16,
                        const char *buf, const uint64_t *starts, const uint64_t *ends, size_t n,
                        unsigned flags, uint32_t threads, uint64_t *keys, uint64_t *check,
                        uint8_t *status, char *e164, uint16_t *cc)
{
    keying k;

    if (!keying_init(&k, rules, key16, check_key16, flags, threads, keys, check, status, e164, cc))
        return BI_ERR_ARG;
    k.buf = buf;
    k.starts = starts;
    k.ends = ends;
    bi_parallel_for(n, threads, BI_LOOKUP_CHUNK, key_spans, &k);
    return BI_OK;
}

bi_status bi_phone_keys_cells(const bi_cc_rule *rules, const uint8_t *key16,
                              const uint8_t *check_key16, const void *cells, size_t width,
                              unsigned char_size, size_t n, unsigned flags, uint32_t threads,
                              uint64_t *keys, uint64_t *check, uint8_t *status, char *e164,
                              uint16_t *cc)
{
    keying k;

    if (!keying_init(&k, rules, key16, check_key16, flags, threads, keys, check, status, e164,
                     cc) ||
        (char_size != 1 && char_size != 4))
        return BI_ERR_ARG;
    k.cells = (const uint8_t *)cells;
    k.width = width;
    k.char_size = char_size;
    bi_parallel_for(n, threads, BI_LOOKUP_CHUNK, key_cells, &k);
    return BI_OK;
}

/* One leak-form number given as an integer (country code first): its key, check and calling
 * code, as bi_phone_fast reads its digits. */
static bi_status value_key(const bi_cc_rule *rules, const uint8_t *key16,
                           const uint8_t *check_key16, int64_t v, uint64_t *key, uint64_t *check,
                           uint32_t *cc)
{
    char digits[24], e164[BI_E164_MAX];
    size_t len = 0, a, b, elen;
    bi_status st;

    if (v <= 0)
        return BI_FALLBACK;
    while (v > 0 && len < sizeof digits) {
        digits[len++] = (char)('0' + v % 10);
        v /= 10;
    }
    for (a = 0, b = len - 1; a < b; a++, b--) { /* digits were produced backwards */
        char t = digits[a];
        digits[a] = digits[b];
        digits[b] = t;
    }
    st = bi_phone_fast(rules, digits, len, BI_ACCEPT_BARE, e164, &elen, cc);
    if (st != BI_OK)
        return st;
    *key = bi_siphash24(key16, (const uint8_t *)e164, elen);
    *check = bi_siphash24(check_key16, (const uint8_t *)e164, elen);
    return BI_OK;
}

bi_status bi_value_keys(const bi_cc_rule *rules, const uint8_t *key16, const uint8_t *check_key16,
                        const int64_t *values, size_t n, uint64_t *keys, uint64_t *check,
                        uint16_t *cc, uint8_t *status)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t code = 0;
        bi_status st = value_key(rules, key16, check_key16, values[i], &keys[i], &check[i], &code);
        status[i] = (uint8_t)st;
        if (st == BI_OK)
            cc[i] = (uint16_t)code;
    }
    return BI_OK;
}

typedef struct {
    const bi_cc_rule *rules;
    const uint8_t *key16, *check_key16;
    const int64_t *values;
    const uint32_t *classes;
    uint64_t meta;
    uint32_t cc_shift, width;
    uint64_t fill;
    uint64_t *recs;
    uint8_t *status;
} value_batch;

static int value_records_run(void *ctx, size_t start, size_t end)
{
    const value_batch *b = (const value_batch *)ctx;
    for (size_t i = start; i < end; i++) {
        uint64_t *r = b->recs + i * b->width;
        uint32_t code = 0;
        bi_status st =
            value_key(b->rules, b->key16, b->check_key16, b->values[i], &r[0], &r[1], &code);
        b->status[i] = (uint8_t)st;
        r[2] = b->meta | b->classes[i] | ((uint64_t)code << b->cc_shift);
        for (uint32_t w = 3; w < b->width; w++)
            r[w] = b->fill;
    }
    return 0;
}

bi_status bi_value_records(const bi_cc_rule *rules, const uint8_t *key16,
                           const uint8_t *check_key16, const int64_t *values,
                           const uint32_t *classes, size_t n, uint64_t meta, uint32_t cc_shift,
                           uint32_t width, uint64_t fill, uint32_t threads, uint64_t *recs,
                           uint8_t *status, size_t *kept)
{
    value_batch b;
    size_t i, out = 0;

    if (width < 3 || width > BI_MAX_RECORD_WIDTH || cc_shift > 48 || threads < 1 ||
        threads > BI_MAX_THREADS)
        return BI_ERR_ARG;
    b.rules = rules;
    b.key16 = key16;
    b.check_key16 = check_key16;
    b.values = values;
    b.classes = classes;
    b.meta = meta;
    b.cc_shift = cc_shift;
    b.width = width;
    b.fill = fill;
    b.recs = recs;
    b.status = status;
    bi_parallel_for(n, threads, BI_LOOKUP_CHUNK, value_records_run, &b);
    for (i = 0; i < n; i++) { /* the kept records move up, in order */
        if (status[i] != BI_OK)
            continue;
        if (out != i)
            memmove(recs + out * width, recs + i * width, width * sizeof *recs);
        out++;
    }
    *kept = out;
    return BI_OK;
}
