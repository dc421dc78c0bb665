/* libFuzzer harness: the phone fast path on any bytes (bi_phone_fast, bi_phone_keys,
 * bi_phone_keys_cells, bi_count_lines, bi_line_spans, bi_value_keys, bi_value_records,
 * bi_siphash_slots, bi_lookup_phone).
 *
 * Input: byte 0 holds the flags (bits 0-1) and choices for the one-row table below (bits 2-3),
 * byte 1 the rules variant; the rest is the text. Checked: a status is one the contract allows;
 * a normalized number is the text's digits after its '+' or "00", starting with an assigned
 * calling code; the batch call gives each string what the single call gives; the single-number
 * lookup finds the number in a table holding only its key, and says when the row's profile id
 * is out of range. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bi_cc_rule rules[1000];

static int allowed(bi_status st)
{
    return st == BI_OK || st == BI_FALLBACK || st == BI_ERR_PHONE_TOO_SHORT ||
           st == BI_ERR_PHONE_TOO_LONG || st == BI_ERR_PHONE_INVALID_LENGTH;
}

/* checks one bi_phone_fast answer for s[0:len) */
static bi_status single(const char *s, size_t len, unsigned flags, char *e164, size_t *elen,
                        uint32_t *cc)
{
    bi_status st = bi_phone_fast(rules, s, len, flags, e164, elen, cc);
    size_t skip, k;
    char code[4];
    FUZZ_CHECK(allowed(st));
    if (st == BI_FALLBACK)
        return st;
    skip = s[0] == '+' ? 1 : (len >= 2 && s[0] == '0' && s[1] == '0') ? 2 : 0;
    FUZZ_CHECK(skip != 2 || (flags & BI_ACCEPT_00));
    FUZZ_CHECK(skip != 0 || (flags & BI_ACCEPT_BARE));
    FUZZ_CHECK(*elen == len - skip && *elen >= 3 && *elen <= BI_E164_MAX);
    FUZZ_CHECK(memcmp(e164, s + skip, *elen) == 0);
    for (k = 0; k < *elen; k++)
        FUZZ_CHECK(e164[k] >= '0' && e164[k] <= '9');
    FUZZ_CHECK(*cc >= 1 && *cc < 1000 && rules[*cc].known);
    k = (size_t)snprintf(code, sizeof code, "%u", *cc);
    FUZZ_CHECK(memcmp(e164, code, k) == 0);
    return st;
}

static void lookup_in_one_row_table(const char *s, size_t len, unsigned flags, unsigned choice)
{
    char e164[BI_E164_MAX];
    size_t elen;
    uint32_t cc, dir[3], profile = 7;
    uint16_t profiles[1];
    uint8_t suffixes[16];
    uint64_t key;
    int64_t row = -7;
    bi_table t;
    bi_status expect = bi_phone_fast(rules, s, len, flags, e164, &elen, &cc), st;

    memset(&t, 0, sizeof t);
    t.dir_bits = 1;
    t.key_width = bi_key_width(1);
    t.dir = dir;
    t.suffixes = suffixes;
    t.profiles = profiles;
    t.profile_width = 2;
    t.n_profiles = 1;
    profiles[0] = (uint16_t)(choice & 1); /* 1: out of range */
    key = expect == BI_OK ? bi_siphash24(FUZZ_KEY, (const uint8_t *)e164, elen) : 0;
    if (choice & 2)
        key ^= 1; /* another key: the number is absent */
    t.n = 1;
    dir[0] = 0;
    dir[1] = (key >> 63) ? 0 : 1;
    dir[2] = 1;
    memset(suffixes, 0, sizeof suffixes);
    for (size_t k = 0; k < 8; k++)
        suffixes[k] = (uint8_t)(((key & (~(uint64_t)0 >> 1)) >> (8 * k)) & 0xff);
    FUZZ_CHECK(bi_table_check(&t, NULL) == BI_OK);
    st = bi_lookup_phone(&t, rules, FUZZ_KEY, s, len, flags, &row, &profile);
    if (expect != BI_OK) {
        FUZZ_CHECK(st == expect);
        return;
    }
    if (choice & 2) {
        FUZZ_CHECK(st == BI_OK && row == -1);
    } else if (choice & 1) {
        FUZZ_CHECK(st == BI_ERR_CORRUPT_PROFILES);
    } else {
        FUZZ_CHECK(st == BI_OK && row == 0 && profile == 0);
    }
}

/* the text as lines (bi_count_lines, bi_line_spans a few at a time), keyed in place: each line
 * is what splitting at '\n' and dropping one '\r' before it gives, keyed as the single call keys it */
static void lines_of(const char *text, size_t len, unsigned flags)
{
    size_t n = 0, k = 0, at = 0, got, used, i, want_start = 0, elen;
    uint64_t *starts, *ends, *keys;
    uint8_t *status;
    char e164[BI_E164_MAX];
    uint32_t cc;

    FUZZ_CHECK(bi_count_lines(text, len, &n) == BI_OK);
    starts = fuzz_alloc((n + 1) * sizeof *starts);
    ends = fuzz_alloc((n + 1) * sizeof *ends);
    keys = fuzz_alloc((n + 1) * sizeof *keys);
    status = fuzz_alloc(n + 1);
    for (;;) {
        FUZZ_CHECK(bi_line_spans(text + at, len - at, 3, starts + k, ends + k, &got, &used) ==
                   BI_OK);
        if (got == 0)
            break;
        FUZZ_CHECK(got <= 3 && k + got <= n && used > 0 && at + used <= len);
        for (i = k; i < k + got; i++) {
            starts[i] += at;
            ends[i] += at;
        }
        k += got;
        at += used;
    }
    FUZZ_CHECK(k == n && at == len);
    for (i = 0; i < n; i++) {
        const char *nl = memchr(text + want_start, '\n', len - want_start);
        size_t want_end = nl ? (size_t)(nl - text) : len;
        FUZZ_CHECK(starts[i] == want_start);
        FUZZ_CHECK(ends[i] ==
                   want_end - (nl && want_end > want_start && text[want_end - 1] == '\r'));
        want_start = want_end + 1;
    }
    FUZZ_CHECK(bi_phone_keys(rules, FUZZ_KEY, NULL, text, starts, ends, n, flags, 1, keys, NULL,
                             status, NULL, NULL) == BI_OK);
    for (i = 0; i < n; i++) {
        bi_status st =
            single(text + starts[i], (size_t)(ends[i] - starts[i]), flags, e164, &elen, &cc);
        FUZZ_CHECK(status[i] == st);
        FUZZ_CHECK(st != BI_OK || keys[i] == bi_siphash24(FUZZ_KEY, (const uint8_t *)e164, elen));
    }
    FUZZ_CHECK(bi_phone_keys(rules, FUZZ_KEY, NULL, text, starts, ends, n, flags, 0, keys, NULL,
                             status, NULL, NULL) == BI_ERR_ARG);
    free(starts);
    free(ends);
    free(keys);
    free(status);
}

/* the text cut into cells of `width` bytes, as an S array and widened to a U array: each cell is
 * its text without the trailing NULs, keyed as the single call keys it (a U cell with a code
 * point above 0x7f is left to the reference) */
static void cells_of(const char *text, size_t len, size_t width, unsigned flags)
{
    size_t n = len / width, i, j, cell_len;
    uint32_t *wide = fuzz_alloc((n * width + 1) * sizeof *wide), cc;
    uint64_t *keys = fuzz_alloc((n + 1) * sizeof *keys),
             *wkeys = fuzz_alloc((n + 1) * sizeof *wkeys);
    uint8_t *status = fuzz_alloc(n + 1), *wstatus = fuzz_alloc(n + 1);
    char e164[BI_E164_MAX];
    size_t elen;

    for (i = 0; i < n * width; i++)
        wide[i] = (uint8_t)text[i];
    FUZZ_CHECK(bi_phone_keys_cells(rules, FUZZ_KEY, NULL, text, width, 1, n, flags, 1, keys, NULL,
                                   status, NULL, NULL) == BI_OK);
    FUZZ_CHECK(bi_phone_keys_cells(rules, FUZZ_KEY, NULL, wide, width, 4, n, flags, 1, wkeys, NULL,
                                   wstatus, NULL, NULL) == BI_OK);
    for (i = 0; i < n; i++) {
        const char *cell = text + i * width;
        int ascii = 1;
        bi_status st;
        for (cell_len = width; cell_len > 0 && cell[cell_len - 1] == 0; cell_len--)
            ;
        for (j = 0; j < cell_len; j++)
            ascii &= (uint8_t)cell[j] < 0x80;
        st = single(cell, cell_len, flags, e164, &elen, &cc);
        FUZZ_CHECK(status[i] == st);
        FUZZ_CHECK(st != BI_OK || keys[i] == bi_siphash24(FUZZ_KEY, (const uint8_t *)e164, elen));
        FUZZ_CHECK(wstatus[i] == (ascii ? st : BI_FALLBACK));
        FUZZ_CHECK(!ascii || st != BI_OK || wkeys[i] == keys[i]);
    }
    FUZZ_CHECK(bi_phone_keys_cells(rules, FUZZ_KEY, NULL, text, width, 2, n, flags, 1, keys, NULL,
                                   status, NULL, NULL) == BI_ERR_ARG);
    free(wide);
    free(keys);
    free(wkeys);
    free(status);
    free(wstatus);
}

/* the build's records of the same values: the possible numbers' keys, checks and calling codes
 * packed beside their classes, in order, and nothing else */
static void value_records_agree(const int64_t *values, size_t n, const uint64_t *keys,
                                const uint64_t *check, const uint16_t *ccs, const uint8_t *status,
                                uint32_t threads)
{
    uint32_t *classes = fuzz_alloc((n + 1) * sizeof *classes);
    uint64_t *recs = fuzz_alloc((n + 1) * 4 * sizeof *recs);
    uint8_t *rstatus = fuzz_alloc(n + 1);
    size_t i, kept = 7, k = 0;

    for (i = 0; i < n; i++)
        classes[i] = (uint32_t)(values[i] & 0xffff);
    FUZZ_CHECK(bi_value_records(rules, FUZZ_KEY, FUZZ_CHECK_KEY, values, classes, n, 1u << 20, 48,
                                4, 99, threads, recs, rstatus, &kept) == BI_OK);
    for (i = 0; i < n; i++) {
        FUZZ_CHECK(rstatus[i] == status[i]);
        if (status[i] != BI_OK)
            continue;
        FUZZ_CHECK(recs[k * 4] == keys[i] && recs[k * 4 + 1] == check[i]);
        FUZZ_CHECK(recs[k * 4 + 2] == ((1u << 20) | classes[i] | ((uint64_t)ccs[i] << 48)));
        FUZZ_CHECK(recs[k * 4 + 3] == 99);
        k++;
    }
    FUZZ_CHECK(kept == k);
    FUZZ_CHECK(bi_value_records(rules, FUZZ_KEY, FUZZ_CHECK_KEY, values, classes, n, 0, 48, 2, 0, 1,
                                recs, rstatus, &kept) == BI_ERR_ARG);
    free(classes);
    free(recs);
    free(rstatus);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char e164[BI_E164_MAX], *text, *slots;
    size_t len, elen, n, i, width;
    uint32_t cc;
    unsigned flags;
    uint64_t *offsets, *keys, *check, *slot_keys;
    uint8_t *status;
    uint16_t *ccs;
    int64_t *values;

    if (size < 2)
        return 0;
    flags = data[0] & 3;
    fuzz_rules(rules, data[1]);
    len = size - 2;
    text = fuzz_copy(data + 2, len);

    /* the whole text, one number */
    single(text, len, flags, e164, &elen, &cc);
    lookup_in_one_row_table(text, len, flags, (data[0] >> 2) & 3);

    /* the text split at '\n' into a batch, packed as Python packs it: back to back, string i
     * at offsets[i]..offsets[i+1] */
    n = 1;
    for (i = 0; i < len; i++)
        n += text[i] == '\n';
    offsets = fuzz_alloc((n + 1) * sizeof *offsets);
    keys = fuzz_alloc(n * sizeof *keys);
    check = fuzz_alloc(n * sizeof *check);
    status = fuzz_alloc(n);
    ccs = fuzz_alloc(n * sizeof *ccs);
    slots = calloc(n ? n : 1, BI_E164_MAX);
    FUZZ_CHECK(slots != NULL);
    {
        char *packed = fuzz_alloc(len);
        size_t used = 0, k = 0;
        offsets[0] = 0;
        for (i = 0; i <= len; i++) {
            if (i == len || text[i] == '\n') {
                offsets[++k] = used;
                continue;
            }
            packed[used++] = text[i];
        }
        FUZZ_CHECK(k == n);
        FUZZ_CHECK(bi_phone_keys(rules, FUZZ_KEY, FUZZ_CHECK_KEY, packed, offsets, offsets + 1, n,
                                 flags, 1 + (data[0] >> 4 & 1), keys, check, status, slots,
                                 ccs) == BI_OK);
        for (i = 0; i < n; i++) {
            bi_status st = single(packed + offsets[i], (size_t)(offsets[i + 1] - offsets[i]), flags,
                                  e164, &elen, &cc);
            FUZZ_CHECK(status[i] == st);
            if (st != BI_OK)
                continue;
            FUZZ_CHECK(keys[i] == bi_siphash24(FUZZ_KEY, (const uint8_t *)e164, elen));
            FUZZ_CHECK(check[i] == bi_siphash24(FUZZ_CHECK_KEY, (const uint8_t *)e164, elen));
            FUZZ_CHECK(memcmp(slots + i * BI_E164_MAX, e164, elen) == 0);
            FUZZ_CHECK(elen == BI_E164_MAX || slots[i * BI_E164_MAX + elen] == 0);
            FUZZ_CHECK(ccs[i] == cc);
        }
        /* keys of the E.164 slots: the same keys */
        slot_keys = fuzz_alloc(n * sizeof *slot_keys);
        FUZZ_CHECK(bi_siphash_slots(FUZZ_KEY, slots, BI_E164_MAX, n, slot_keys) == BI_OK);
        for (i = 0; i < n; i++)
            FUZZ_CHECK(status[i] != BI_OK || slot_keys[i] == keys[i]);
        free(slot_keys);
        free(packed);
    }
    free(offsets);
    free(keys);
    free(check);
    free(status);
    free(ccs);
    free(slots);

    lines_of(text, len, flags);
    /* the text's bytes as slots of any width, as S and U cells, and as leak-form integers */
    width = (size_t)data[1] % 24 + 1;
    cells_of(text, len, width, flags);
    n = len / width;
    slot_keys = fuzz_alloc(n * sizeof *slot_keys);
    FUZZ_CHECK(bi_siphash_slots(FUZZ_KEY, text, width, n, slot_keys) == BI_OK);
    free(slot_keys);
    n = len / 8;
    values = fuzz_alloc(n * sizeof *values);
    memcpy(values, text, n * 8);
    keys = fuzz_alloc(n * sizeof *keys);
    check = fuzz_alloc(n * sizeof *check);
    ccs = fuzz_alloc(n * sizeof *ccs);
    status = fuzz_alloc(n);
    FUZZ_CHECK(bi_value_keys(rules, FUZZ_KEY, FUZZ_CHECK_KEY, values, n, keys, check, ccs,
                             status) == BI_OK);
    for (i = 0; i < n; i++) {
        FUZZ_CHECK(allowed((bi_status)status[i]));
        FUZZ_CHECK(status[i] != BI_OK || (ccs[i] < 1000 && rules[ccs[i]].known));
        FUZZ_CHECK(values[i] > 0 || status[i] == BI_FALLBACK);
    }
    value_records_agree(values, n, keys, check, ccs, status, 1 + (data[0] >> 4 & 1));
    free(values);
    free(keys);
    free(check);
    free(ccs);
    free(status);
    free(text);
    return 0;
}
