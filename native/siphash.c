/* SipHash-2-4, the keyed hash of a phone number's E.164 digits.
 *
 * Why SipHash-2-4 and not keyed BLAKE2b: both are PRFs under a secret key, which is what stops
 * anyone without the key from enumerating the ~10^10 possible numbers of a country against the
 * index. SipHash was designed for exactly this input size (a 12-20 byte message, a 64-bit
 * tag), costs a few dozen cycles per number against BLAKE2b's full 128-byte compression, and
 * is small enough to audit here in 40 lines. Its 128-bit key is derived from the user's
 * secret (any length >= 16 bytes) with BLAKE2b in Python. */
#include "internal.h"

#include <string.h>

/* the rounds laid out as in the paper's figure */
/* clang-format off */
#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                               \
    do {                                                                                       \
        v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);                              \
        v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                                                 \
        v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                                                 \
        v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);                              \
    } while (0)
/* clang-format on */

uint64_t bi_siphash24(const uint8_t *key16, const uint8_t *data, size_t len)
{
    uint64_t k0 = bi_load_le64(key16), k1 = bi_load_le64(key16 + 8);
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0;
    uint64_t v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0;
    uint64_t v3 = 0x7465646279746573ULL ^ k1;
    const uint8_t *end = data + (len & ~(size_t)7);
    uint64_t b = ((uint64_t)len) << 56, m;

    for (; data != end; data += 8) {
        m = bi_load_le64(data);
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

bi_status bi_siphash_slots(const uint8_t *key16, const char *buf, size_t width, size_t n,
                           uint64_t *keys)
{
    size_t i;
    for (i = 0; i < n; i++) {
        const char *slot = buf + i * width;
        const char *nul = memchr(slot, 0, width);
        keys[i] = bi_siphash24(key16, (const uint8_t *)slot, nul ? (size_t)(nul - slot) : width);
    }
    return BI_OK;
}
