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

    if (len == 0 || len > 250)
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

bi_status bi_phone_keys(const bi_cc_rule *rules, const uint8_t *key16, const uint8_t *check_key16,
                        const char *buf, const uint64_t *offsets, size_t n, unsigned flags,
                        uint64_t *keys, uint64_t *check, uint8_t *status, char *e164_out,
                        uint16_t *cc_out)
{
    char e164[BI_E164_MAX];
    size_t i, elen;
    uint32_t cc;

    for (i = 0; i < n; i++) {
        bi_status st = bi_phone_fast(rules, buf + offsets[i], (size_t)(offsets[i + 1] - offsets[i]),
                                     flags, e164, &elen, &cc);
        status[i] = (uint8_t)st;
        if (st != BI_OK)
            continue;
        keys[i] = bi_siphash24(key16, (const uint8_t *)e164, elen);
        if (check)
            check[i] = bi_siphash24(check_key16, (const uint8_t *)e164, elen);
        if (e164_out)
            memcpy(e164_out + i * BI_E164_MAX, e164, elen);
        if (cc_out)
            cc_out[i] = (uint16_t)cc;
    }
    return BI_OK;
}

bi_status bi_value_keys(const bi_cc_rule *rules, const uint8_t *key16, const uint8_t *check_key16,
                        const int64_t *values, size_t n, uint64_t *keys, uint64_t *check,
                        uint16_t *cc, uint8_t *status)
{
    char digits[24], e164[BI_E164_MAX];
    size_t i, elen;
    uint32_t code;

    for (i = 0; i < n; i++) {
        int64_t v = values[i];
        size_t len = 0, a, b;
        bi_status st;
        if (v <= 0) {
            status[i] = BI_FALLBACK;
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
        if (st != BI_OK)
            continue;
        keys[i] = bi_siphash24(key16, (const uint8_t *)e164, elen);
        check[i] = bi_siphash24(check_key16, (const uint8_t *)e164, elen);
        cc[i] = (uint16_t)code;
    }
    return BI_OK;
}
