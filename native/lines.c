/* The leak line parser: fields of a line, its phone field keyed through the fast path. */
#include "internal.h"

#include <string.h>

static int is_blank_char(char ch) { return ch == ' ' || ch == '\t' || ch == '\r'; }

/* Classifies the phone field s[0:n), already without blanks around it, and keys it; returns a
 * BI_LINE_* status. */
static int phone_field(const bi_cc_rule *rules, const uint8_t *key16, const uint8_t *check_key16,
                       const char *s, size_t n, uint64_t *key, uint64_t *check, uint16_t *cc_out)
{
    char e164[BI_E164_MAX];
    size_t i, digits, elen;
    uint32_t cc = 0;

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
    switch (bi_phone_fast(rules, s, n, BI_ACCEPT_BARE, e164, &elen, &cc)) {
    case BI_OK: break;
    case BI_ERR_PHONE_TOO_SHORT: return BI_LINE_NOT_POSSIBLE_SHORT;
    case BI_ERR_PHONE_TOO_LONG: return BI_LINE_NOT_POSSIBLE_LONG;
    case BI_ERR_PHONE_INVALID_LENGTH: return BI_LINE_NOT_POSSIBLE_LENGTH;
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
        size_t start = pos, end, k;
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
        for (k = start; k < end; k++)
            if (!is_blank_char(s[k])) {
                nonempty = 1;
                break;
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

bi_status bi_parse_lines(const bi_layout *layout, const bi_cc_rule *rules, const uint8_t *key16,
                         const uint8_t *check_key16, const char *buf, size_t len, size_t max_lines,
                         const bi_line_out *out, size_t *n_lines)
{
    size_t line = 0, pos = 0;

    if (!out->status || !out->keys || !out->check || !out->classes || !out->cc || !out->phone_off ||
        !out->phone_len || !out->fit)
        return BI_ERR_ARG;
    while (pos < len && line < max_lines) {
        const char *s = buf + pos, *ph;
        const char *nl = memchr(s, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - s) : len - pos, k, ph_start, ph_len;
        uint32_t classes = 0;
        long fields;
        int st;

        pos += n + (nl != NULL);
        out->fit[line] = BI_FIT_EXACT;
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
        /* a line of other length keeps what it has: its phone's reason, if any, comes first */
        if ((unsigned long)fields != layout->n_fields)
            out->fit[line] = (unsigned long)fields < layout->n_fields ? BI_FIT_SHORT : BI_FIT_EXTRA;
        ph = s + ph_start;
        while (ph_len > 0 && is_blank_char(ph[ph_len - 1]))
            ph_len--;
        while (ph_len > 0 && is_blank_char(ph[0])) {
            ph++;
            ph_len--;
        }
        st = phone_field(rules, key16, check_key16, ph, ph_len, &out->keys[line], &out->check[line],
                         &out->cc[line]);
        out->classes[line] = classes | layout->base_classes;
        if (st == BI_LINE_FALLBACK) { /* at most 21 bytes: '+' and 20 digits */
            out->phone_off[line] = (uint64_t)(ph - buf);
            out->phone_len[line] = (uint32_t)ph_len;
        }
        out->status[line++] = (uint8_t)st;
    }
    *n_lines = line;
    return BI_OK;
}

bi_status bi_count_lines(const char *buf, size_t len, size_t *lines)
{
    size_t count = 0;
    const char *p = buf, *end = buf + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        count++;
        if (!nl)
            break;
        p = nl + 1;
    }
    *lines = count;
    return BI_OK;
}

bi_status bi_line_spans(const char *buf, size_t len, size_t max, uint64_t *starts, uint64_t *ends,
                        size_t *lines, size_t *used)
{
    size_t n = 0;
    const char *p = buf, *stop = buf + len;

    while (n < max && p < stop) {
        const char *nl = memchr(p, '\n', (size_t)(stop - p));
        const char *end = nl ? nl : stop;
        starts[n] = (uint64_t)(p - buf);
        ends[n] = (uint64_t)(end - buf) - (nl && end > p && end[-1] == '\r');
        n++;
        p = nl ? nl + 1 : stop;
    }
    *lines = n;
    *used = (size_t)(p - buf);
    return BI_OK;
}
