/* breachindex C core: keyed phone hashing, the phone fast path, the sorted key table and the
 * leak line parser. This is the public header and the one native/build_native.py hands to cffi;
 * the units (status.c, siphash.c, phone.c, table.c, lines.c) share native/internal.h.
 *
 * Conventions (one error path to Python): every entry point returns a bi_status, BI_OK or a
 * named failure, and hands its results back through out-parameters. Where a failure has details
 * to tell, the function takes a caller buffer of BI_REASON_LEN bytes (NULL allowed) and writes a
 * NUL-terminated reason into it; bi_status_message() is every status's fixed text.
 * breachindex/_core.py decodes a status into the library's exception in one place. The only
 * functions that return a value directly are pure functions of their arguments that cannot fail:
 * bi_abi_version, bi_status_message, bi_siphash24 and bi_key_width.
 *
 * Nothing here prints, aborts or allocates memory that outlives a call. Everything reads
 * caller-owned memory (numpy arrays, mmaps); no globals, so every function is safe to call from
 * many threads at once.
 *
 * The integer #defines below are visible to Python as lib.BI_* (build_native.py passes them to
 * cffi): Python reads its limits from here and never copies them.
 */
#ifndef BREACHINDEX_H
#define BREACHINDEX_H

#include <stddef.h>
#include <stdint.h>

/* Bumped whenever a struct below or the meaning of a function changes: the Python package
 * refuses to load a compiled core whose version differs from the one it was written for. */
#define BI_ABI_VERSION 5

#define BI_REASON_LEN 160

/* ---- status ---------------------------------------------------------------------------------
 * What every entry point returns, and what per-item status arrays of the phone calls hold
 * (uint8_t: BI_OK, BI_FALLBACK or one of the BI_ERR_PHONE_* values). */
typedef enum {
    BI_OK = 0,
    /* not a failure: the fast path cannot decide, the caller asks the reference */
    BI_FALLBACK = 1,
    /* an argument out of range (Python: ValueError) */
    BI_ERR_ARG = 2,
    /* an index file is damaged (Python: IndexCorrupted naming that file) */
    BI_ERR_CORRUPT_DIRECTORY = 3,
    BI_ERR_CORRUPT_KEYS = 4,
    BI_ERR_CORRUPT_PROFILES = 5,
    /* parses, but is not a possible number (Python: InvalidPhoneNumber) */
    BI_ERR_PHONE_TOO_SHORT = 6,
    BI_ERR_PHONE_TOO_LONG = 7,
    BI_ERR_PHONE_INVALID_LENGTH = 8,
    BI_N_STATUS = 9
} bi_status;

uint32_t bi_abi_version(void);

/* The fixed text of a status (for a failure that comes without a reason); never NULL. */
const char *bi_status_message(bi_status status);

/* ---- limits -------------------------------------------------------------------------------- */

#define BI_MAX_THREADS 64 /* threads one batch (lookups, keying) may use */
#define BI_MIN_DIR_BITS 1 /* a directory has 2^dir_bits + 1 entries */
#define BI_MAX_DIR_BITS 32
#define BI_MAX_ROWS 4294967295     /* rows of a table: 2^32 - 1 */
#define BI_MAX_PROFILES 2147483647 /* profiles a table may have: 2^31 - 1 */
#define BI_MAX_CLASSES 32          /* data class bits in a uint32_t mask */
#define BI_LOOKUP_CHUNK 16384      /* items a thread of a batch claims at a time (at most) */

/* ---- keyed hashing ------------------------------------------------------------------------- */

/* SipHash-2-4 with a 16-byte key, 64-bit output (Aumasson & Bernstein 2012). */
uint64_t bi_siphash24(const uint8_t *key16, const uint8_t *data, size_t len);

/* keys[i] = SipHash of the i-th width-byte slot of buf, up to its first NUL. */
bi_status bi_siphash_slots(const uint8_t *key16, const char *buf, size_t width, size_t n,
                           uint64_t *keys);

/* ---- phone fast path ----------------------------------------------------------------------- */

/* Per country calling code rules, computed in Python from phonenumbers' metadata at import
 * time so that the fast path can never drift from the reference implementation. */
typedef struct {
    uint8_t known;         /* 1 if this is an assigned country calling code */
    uint8_t fallback_all;  /* 1 if every number of this code needs the reference */
    uint16_t unsafe_first; /* bit d: national numbers starting with digit d need the reference */
    uint8_t length_result[18]; /* BI_LEN_* for a national significant number of length 0..17 */
} bi_cc_rule;

/* values of bi_cc_rule.length_result */
enum {
    BI_LEN_POSSIBLE = 0,
    BI_LEN_LOCAL_ONLY = 1, /* counts as possible, like phonenumbers.is_possible_number */
    BI_LEN_TOO_SHORT = 2,
    BI_LEN_TOO_LONG = 3,
    BI_LEN_INVALID = 4,
    BI_LEN_UNKNOWN = 5 /* let the reference decide */
};

/* flags for the fast path */
enum {
    BI_ACCEPT_BARE = 1, /* bare digits are the leak's form: country code + national number */
    BI_ACCEPT_00 = 2    /* a leading "00" is the default region's international prefix */
};

#define BI_E164_MAX 20       /* digits, without '+': 3 for the country code, 17 for the number */
#define BI_MAX_FAST_TEXT 250 /* bytes of text the fast path reads; longer text is BI_FALLBACK */

/* Normalizes s (len bytes) to E.164 digits without '+', written to out (BI_E164_MAX bytes,
 * not NUL-terminated) with their count in *out_len and the calling code in *cc. Returns BI_OK,
 * BI_FALLBACK (not sure: ask the reference) or a BI_ERR_PHONE_* rejection; out, *out_len and *cc
 * are set unless it is BI_FALLBACK. */
bi_status bi_phone_fast(const bi_cc_rule *rules, const char *s, size_t len, unsigned flags,
                        char *out, size_t *out_len, uint32_t *cc);

/* Normalizes and keys n strings, string i being buf[starts[i]:ends[i]] (strings stored back to
 * back pass offsets and offsets + 1). status[i] is bi_phone_fast's status; keys[i] (and check[i],
 * the hash under check_key16, if check is not NULL) is set only where status[i] == BI_OK.
 * If e164 is not NULL, its i-th BI_E164_MAX-byte slot receives the E.164 digits, NUL-padded
 * (the caller zeroes it); if cc is not NULL, cc[i] the calling code. `threads` (1 to
 * BI_MAX_THREADS, the caller's among them) share a batch of at least 4096 numbers a thread.
 * BI_ERR_ARG for threads out of range, or check without check_key16. */
bi_status bi_phone_keys(const bi_cc_rule *rules, const uint8_t *key16, const uint8_t *check_key16,
                        const char *buf, const uint64_t *starts, const uint64_t *ends, size_t n,
                        unsigned flags, uint32_t threads, uint64_t *keys, uint64_t *check,
                        uint8_t *status, char *e164, uint16_t *cc);

/* bi_phone_keys of n fixed-width cells, as numpy stores an S array (char_size 1: bytes) or a U
 * array (char_size 4: UCS-4 code points in this machine's byte order): cell i holds `width`
 * characters from cells + i * width * char_size, its text NUL-padded (trailing NULs are not
 * part of it). A U cell with a code point above 0x7f is BI_FALLBACK; an S cell's bytes are read
 * as they are. BI_ERR_ARG also for a char_size other than 1 or 4. */
bi_status bi_phone_keys_cells(const bi_cc_rule *rules, const uint8_t *key16,
                              const uint8_t *check_key16, const void *cells, size_t width,
                              unsigned char_size, size_t n, unsigned flags, uint32_t threads,
                              uint64_t *keys, uint64_t *check, uint8_t *status, char *e164,
                              uint16_t *cc);

/* keys/check of n leak-form numbers given as integers (country code first); status as for
 * bi_phone_keys (BI_FALLBACK for a value <= 0); cc receives the calling code. */
bi_status bi_value_keys(const bi_cc_rule *rules, const uint8_t *key16, const uint8_t *check_key16,
                        const int64_t *values, size_t n, uint64_t *keys, uint64_t *check,
                        uint16_t *cc, uint8_t *status);

/* Build records (width words: key, check, meta, then `fill`) of n leak-form numbers given as
 * integers, with bi_value_keys' keys and checks; meta is `meta` | classes[i] | (calling code <<
 * cc_shift). status[i] is each number's status; the records of the numbers with BI_OK are moved
 * to the front, in order, and *kept counts them. `threads` as for bi_phone_keys. BI_ERR_ARG for
 * a width outside 3..BI_MAX_RECORD_WIDTH, cc_shift above 48 or threads out of range. */
bi_status bi_value_records(const bi_cc_rule *rules, const uint8_t *key16,
                           const uint8_t *check_key16, const int64_t *values,
                           const uint32_t *classes, size_t n, uint64_t meta, uint32_t cc_shift,
                           uint32_t width, uint64_t fill, uint32_t threads, uint64_t *recs,
                           uint8_t *status, size_t *kept);

/* ---- a build's records ---------------------------------------------------------------------- */

#define BI_MAX_RECORD_WIDTH 8    /* uint64 words of a build record, its key first */
#define BI_MAX_PARTITION_BITS 16 /* key bits a partition of records may be split by */
#define BI_SORT_BUCKET_BITS 18   /* bi_sort_records' counts hold 2^18 + 1 entries */
#define BI_SORT_SMALL_BUCKET 64  /* records a bucket may hold for an insertion sort */

/* dst receives the n records of src (width words each, the key first) ordered by the top `bits`
 * bits of their keys, in their order within a partition; counts (2^bits entries) the records of
 * each partition. BI_ERR_ARG for a width or bits out of range. */
bi_status bi_partition_records(const uint64_t *src, size_t n, uint32_t width, uint32_t bits,
                               uint64_t *dst, uint64_t *counts);

/* Sorts the n records (width words each, the key first) in place by key, ascending; the order
 * of equal keys is unspecified. scratch holds n records, counts 2^BI_SORT_BUCKET_BITS + 1
 * entries. BI_ERR_ARG for a width out of range. */
bi_status bi_sort_records(uint64_t *recs, size_t n, uint32_t width, uint64_t *scratch,
                          uint64_t *counts);

/* ---- the sorted key table ------------------------------------------------------------------ */

/* A read-only view over mapped files. Keys are sorted ascending and unique; the directory
 * has 2^dir_bits + 1 entries, dir[b] = number of keys whose top dir_bits bits are < b. A key's
 * top dir_bits bits are implied by the bucket it sits in, so the key file stores only the
 * other 64 - dir_bits bits of each key, in key_width = bi_key_width(dir_bits) little-endian
 * bytes, followed by 8 bytes of padding (a suffix is read as one unaligned 8-byte load). The
 * profile column has one entry per row, profile_width (2 or 4) bytes each. The caller vouches
 * for the sizes of the three arrays (Python checks each file's header against its size);
 * bi_table_check checks that the fields agree with each other. */
typedef struct {
    const uint8_t *suffixes;
    uint64_t n;
    const uint32_t *dir;
    uint32_t dir_bits;  /* BI_MIN_DIR_BITS..BI_MAX_DIR_BITS */
    uint32_t key_width; /* 4..8 */
    const void *profiles;
    uint32_t profile_width;
    uint32_t n_profiles; /* at most BI_MAX_PROFILES */
} bi_table;

/* Bytes per stored key suffix for a directory of dir_bits bits: ceil((64 - dir_bits) / 8). */
uint32_t bi_key_width(uint32_t dir_bits);

/* The key file of sorted keys, a piece at a time: out receives each key's low
 * bi_key_width(dir_bits) bytes, little-endian, the bits its bucket implies cleared; dir
 * (2^dir_bits + 1 entries) the buckets up to the last key's: dir[b] = the row of the first key
 * whose bucket is >= b. first_row is the row of keys[0]; *next_bucket is the first entry not
 * yet written, 1 before the first piece; once the last piece is in, the entries from it on
 * are the row count. BI_ERR_ARG for dir_bits out of range, or keys not strictly ascending
 * (within the piece, and past the bucket of the piece before). */
bi_status bi_key_suffixes(const uint64_t *keys, size_t n, uint32_t dir_bits, uint64_t first_row,
                          uint8_t *out, uint32_t *dir, uint64_t *next_bucket);

/* Structure check on open, in constant time: field ranges, and a directory that starts at 0
 * and ends at n. Every lookup also checks the bucket it reads (lo <= hi <= n), so a damaged
 * directory can give wrong rows (verify() finds it) but never a read outside the files. A
 * failure is BI_ERR_CORRUPT_* naming the file at fault, with a reason. */
bi_status bi_table_check(const bi_table *t, char *reason);

/* Content check of the directory (reads all of it; checks the table first): it never
 * decreases. */
bi_status bi_directory_verify(const bi_table *t, char *reason);

/* Content check of the keys (reads everything; checks the directory first): suffixes have
 * none of the bits their bucket implies and increase strictly inside each bucket. */
bi_status bi_table_verify(const bi_table *t, char *reason);

/* Content check of the profile column (checks the table first): every profile id below
 * n_profiles. */
bi_status bi_profiles_verify(const bi_table *t, char *reason);

/* *row = row of key, or -1 if absent. BI_ERR_CORRUPT_DIRECTORY if its directory bucket is out
 * of range. */
bi_status bi_lookup(const bi_table *t, uint64_t key, int64_t *row);

/* rows[i] = row of keys[i] or -1; software-pipelined so that many cache misses overlap.
 * With threads > 1 that many threads share the batch, claiming chunks of it as they go (so a
 * thread slowed down by the machine does not hold up the rest). BI_ERR_ARG for threads outside
 * 1..BI_MAX_THREADS; BI_ERR_CORRUPT_DIRECTORY if a bucket read was out of range (its rows[i] is
 * then -1). */
bi_status bi_lookup_many(const bi_table *t, const uint64_t *keys, size_t n, int64_t *rows,
                         uint32_t threads, char *reason);

/* The full keys of rows start .. start+count-1 into out (BI_ERR_ARG unless start + count <= n). */
bi_status bi_table_keys(const bi_table *t, uint64_t start, uint64_t count, uint64_t *out,
                        char *reason);

/* *row = the first row whose key is >= key (n if none). */
bi_status bi_lower_bound(const bi_table *t, uint64_t key, uint64_t *row, char *reason);

/* *profile = profile id of row: BI_ERR_ARG unless row < n, BI_ERR_CORRUPT_PROFILES unless the
 * id is below n_profiles. */
bi_status bi_profile_of(const bi_table *t, uint64_t row, uint32_t *profile);

/* The single-number path in one call: normalize, key, search. Returns bi_phone_fast's status
 * (BI_FALLBACK: the caller asks the reference, then bi_lookup), or BI_ERR_CORRUPT_DIRECTORY /
 * BI_ERR_CORRUPT_PROFILES for a damaged bucket or profile id. On BI_OK, *row is the row or -1
 * if the number is absent, and *profile (set only for a row) its profile id. */
bi_status bi_lookup_phone(const bi_table *t, const bi_cc_rule *rules, const uint8_t *key16,
                          const char *s, size_t len, unsigned flags, int64_t *row,
                          uint32_t *profile);

/* bi_lookup_phone with its fixed arguments in one struct: a call from Python costs per argument,
 * and this is the path of every single check. */
typedef struct {
    const bi_table *table;
    const bi_cc_rule *rules;
    uint8_t key16[16];
} bi_phone_ctx;
bi_status bi_lookup_phone_ctx(const bi_phone_ctx *ctx, const char *s, size_t len, unsigned flags,
                              int64_t *row, uint32_t *profile);

/* ---- leak-file lines ------------------------------------------------------------------------
 * One record per line; fields separated by ':' (no quoting) or, for CSV, ',' with RFC 4180
 * quotes inside a line. The first line of a CSV file (its header) is the caller's business, as
 * are a UTF-8 BOM and the decision where a block of lines ends. */

#define BI_MAX_FIELDS 256

typedef struct {
    uint32_t n_fields;     /* fields a line has; fewer or more make a record's fit (BI_FIT_*) */
    uint32_t phone_field;  /* index of the phone field */
    uint32_t csv;          /* 1: ',' and quotes; 0: ':' and no quotes */
    uint32_t base_classes; /* class bits every record has (phone_number) */
    uint32_t class_of_field[BI_MAX_FIELDS]; /* class bits a non-empty field adds */
} bi_layout;

/* per line: what a line is (not a failure of the call) */
enum {
    BI_LINE_RECORD = 0,
    BI_LINE_BLANK = 1,
    BI_LINE_FALLBACK = 2,       /* a record whose phone the reference must normalize */
    BI_LINE_TOO_FEW_FIELDS = 3, /* no longer given: a short line is a record (BI_FIT_SHORT) */
    BI_LINE_PHONE_EMPTY = 4,
    BI_LINE_PHONE_NOT_DIGITS = 5,
    BI_LINE_PHONE_TOO_SHORT = 6, /* fewer than 5 digits */
    BI_LINE_PHONE_TOO_LONG = 7,  /* more than 20 digits */
    BI_LINE_NOT_POSSIBLE_SHORT = 8,
    BI_LINE_NOT_POSSIBLE_LONG = 9,
    BI_LINE_NOT_POSSIBLE_LENGTH = 10,
    BI_LINE_BAD_QUOTES = 11,
    BI_LINE_N_STATUS = 12
};

/* per line: how its fields fit the layout (a truncated record, or a ':' inside a name) */
enum { BI_FIT_EXACT = 0, BI_FIT_SHORT = 1, BI_FIT_EXTRA = 2 };

/* Per-line outputs, each an array of at least max_lines entries. keys, check, classes and cc
 * are set for BI_LINE_RECORD; classes and phone_off/phone_len (the phone's bytes in buf, blanks
 * around it left out) for BI_LINE_FALLBACK; fit (BI_FIT_*) for every line. A line with fewer
 * fields than the layout is read with what it has: without its phone field, its phone is
 * empty. Fields past the layout's add no class. */
typedef struct {
    uint8_t *status;
    uint64_t *keys;
    uint64_t *check;
    uint32_t *classes;
    uint16_t *cc;
    uint64_t *phone_off;
    uint32_t *phone_len;
    uint8_t *fit;
} bi_line_out;

/* Parses the lines of buf[0:len); a last line without '\n' counts as a line. *n_lines receives
 * the number of lines parsed (at most max_lines; the caller sizes the arrays with
 * bi_count_lines). BI_ERR_ARG if an output array is missing. */
bi_status bi_parse_lines(const bi_layout *layout, const bi_cc_rule *rules, const uint8_t *key16,
                         const uint8_t *check_key16, const char *buf, size_t len, size_t max_lines,
                         const bi_line_out *out, size_t *n_lines);

/* *lines = number of lines in buf[0:len): its '\n' bytes, plus one for a last line without one. */
bi_status bi_count_lines(const char *buf, size_t len, size_t *lines);

/* Up to max lines from the start of buf[0:len) (lines as bi_count_lines counts them): line i
 * is buf[starts[i]:ends[i]], without its '\n' or a '\r' before it; *lines receives how many,
 * and *used the bytes they take (through the last one's '\n'). */
bi_status bi_line_spans(const char *buf, size_t len, size_t max, uint64_t *starts, uint64_t *ends,
                        size_t *lines, size_t *used);

#endif
