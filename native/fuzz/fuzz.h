/* What the libFuzzer harnesses share: a synthetic table of calling code rules, fixed keys, and
 * a check that stops the run (a crash libFuzzer reports, with the input that caused it).
 *
 * The rules table is built here rather than from phonenumbers (Python computes the real one):
 * it is trusted configuration, not outside bytes, and a made-up one reaches every branch of the
 * fast path (unknown codes, fallback_all, unsafe first digits, every length result, and bytes
 * that are no BI_LEN_* value at all). */
#ifndef BREACHINDEX_FUZZ_H
#define BREACHINDEX_FUZZ_H

#include "breachindex.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static const uint8_t FUZZ_KEY[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static const uint8_t FUZZ_CHECK_KEY[16] = {16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1};

static const uint16_t FUZZ_CODES[] = {1,   7,   20,  27,  30,  31,  32,  33,  34,  36,  39,  40,
                                      41,  43,  44,  45,  46,  47,  48,  49,  51,  52,  55,  61,
                                      62,  64,  81,  82,  84,  86,  90,  91,  212, 213, 234, 351,
                                      352, 353, 358, 380, 420, 880, 886, 971, 998};

/* rules[1000] for the calling codes above; variant (0..255) moves the odd cases around */
static inline void fuzz_rules(bi_cc_rule *rules, unsigned variant)
{
    size_t i, len;
    memset(rules, 0, 1000 * sizeof *rules);
    for (i = 0; i < sizeof FUZZ_CODES / sizeof FUZZ_CODES[0]; i++) {
        unsigned c = FUZZ_CODES[i];
        bi_cc_rule *r = &rules[c];
        r->known = 1;
        r->fallback_all = (c + variant) % 13 == 0;
        r->unsafe_first =
            (uint16_t)(((c * 37u + variant) % 5 == 0) ? 1u << ((c + variant) % 10) : 0);
        for (len = 0; len < 18; len++) {
            uint8_t v = len < 6 ? BI_LEN_TOO_SHORT : len > 12 ? BI_LEN_TOO_LONG : BI_LEN_POSSIBLE;
            if ((c + len + variant) % 9 == 0)
                v = BI_LEN_INVALID;
            else if ((c + len + variant) % 11 == 0)
                v = BI_LEN_LOCAL_ONLY;
            else if ((c + len + variant) % 17 == 0)
                v = BI_LEN_UNKNOWN;
            else if ((c + len + variant) % 23 == 0)
                v = (uint8_t)(6 + variant % 250); /* not a BI_LEN_* value */
            r->length_result[len] = v;
        }
    }
}

/* size bytes, never NULL (so ASan sees an access past their end) */
static inline void *fuzz_alloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    FUZZ_CHECK(p != NULL);
    return p;
}

/* a copy of data in a buffer of exactly size bytes */
static inline char *fuzz_copy(const uint8_t *data, size_t size)
{
    char *copy = fuzz_alloc(size);
    if (size)
        memcpy(copy, data, size);
    return copy;
}

#endif
