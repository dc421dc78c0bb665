/* The core's version and its statuses: the C half of the one error path (breachindex/_core.py
 * holds the other half, the decoder). */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>

uint32_t bi_abi_version(void) { return BI_ABI_VERSION; }

const char *bi_status_message(bi_status status)
{
    switch (status) {
    case BI_OK: return "no error";
    case BI_FALLBACK: return "the fast path leaves this number to the reference";
    case BI_ERR_ARG: return "an argument is out of range";
    /* the fixed texts of the failures that come without a reason: a single lookup's */
    case BI_ERR_CORRUPT_DIRECTORY: return "a directory bucket points outside the key file";
    case BI_ERR_CORRUPT_KEYS: return "the key file is damaged";
    case BI_ERR_CORRUPT_PROFILES: return "a row has a profile id out of range";
    case BI_ERR_PHONE_TOO_SHORT: return "too short to be a possible number for its country";
    case BI_ERR_PHONE_TOO_LONG: return "too long to be a possible number for its country";
    case BI_ERR_PHONE_INVALID_LENGTH: return "its length is not possible for its country";
    case BI_N_STATUS: break;
    }
    return "unknown status";
}

bi_status bi_fail(bi_status status, char *reason, const char *fmt, ...)
{
    va_list args;
    if (reason != NULL) {
        va_start(args, fmt);
        vsnprintf(reason, BI_REASON_LEN, fmt, args);
        va_end(args);
    }
    return status;
}
