/* libFuzzer harness: the leak line parser (bi_count_lines, bi_parse_lines) on any bytes.
 *
 * Input: byte 0 picks the layout (CSV or ':', the field count), byte 1 the phone field, byte 2
 * the rules variant; the rest is the buffer, parsed from a copy of exactly its size into output
 * arrays of exactly max_lines entries. Checked: every line is counted once, statuses are
 * BI_LINE_* values (never the retired BI_LINE_TOO_FEW_FIELDS), every fit a BI_FIT_* value, a
 * record's calling code is an assigned one, and a fallback's phone span lies in the buffer and
 * holds only '+' and digits (Python reads and normalizes those bytes). */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bi_cc_rule rules[1000];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bi_layout layout;
    bi_line_out out;
    size_t len, lines, parsed, max_lines, i, f, pass;
    char *buf;

    if (size < 3)
        return 0;
    memset(&layout, 0, sizeof layout);
    layout.csv = data[0] & 1;
    layout.n_fields = (data[0] >> 1) & 31; /* 0..31 */
    if (data[0] == 0xff)
        layout.n_fields = 1000; /* more than BI_MAX_FIELDS */
    layout.phone_field = data[1] < 250 ? data[1] % 32 : 300u + data[1];
    layout.base_classes = 1;
    for (f = 0; f < BI_MAX_FIELDS; f++)
        layout.class_of_field[f] = 1u << (f % 32);
    fuzz_rules(rules, data[2]);
    len = size - 3;
    buf = fuzz_copy(data + 3, len);

    FUZZ_CHECK(bi_count_lines(buf, len, &lines) == BI_OK);
    FUZZ_CHECK(len == 0 ? lines == 0 : lines >= 1 && lines <= len);
    /* all lines, then (when there are several) only the first half */
    for (pass = 0; pass < 2; pass++) {
        max_lines = pass == 0 ? lines : lines / 2;
        if (pass == 1 && (max_lines == 0 || max_lines == lines))
            break;
        out.status = fuzz_alloc(max_lines);
        out.keys = fuzz_alloc(max_lines * sizeof *out.keys);
        out.check = fuzz_alloc(max_lines * sizeof *out.check);
        out.classes = fuzz_alloc(max_lines * sizeof *out.classes);
        out.cc = fuzz_alloc(max_lines * sizeof *out.cc);
        out.phone_off = fuzz_alloc(max_lines * sizeof *out.phone_off);
        out.phone_len = fuzz_alloc(max_lines * sizeof *out.phone_len);
        out.fit = fuzz_alloc(max_lines);
        FUZZ_CHECK(bi_parse_lines(&layout, rules, FUZZ_KEY, FUZZ_CHECK_KEY, buf, len, max_lines,
                                  &out, &parsed) == BI_OK);
        FUZZ_CHECK(parsed == max_lines);
        for (i = 0; i < parsed; i++) {
            FUZZ_CHECK(out.status[i] < BI_LINE_N_STATUS && out.status[i] != BI_LINE_TOO_FEW_FIELDS);
            FUZZ_CHECK(out.fit[i] <= BI_FIT_EXTRA);
            if (out.status[i] == BI_LINE_RECORD) {
                FUZZ_CHECK(out.cc[i] < 1000 && rules[out.cc[i]].known);
                FUZZ_CHECK(out.classes[i] & layout.base_classes);
            }
            if (out.status[i] == BI_LINE_FALLBACK) {
                size_t k, off = out.phone_off[i], n = out.phone_len[i];
                FUZZ_CHECK(off <= len && n <= len - off && n >= 5 && n <= 21);
                for (k = 0; k < n; k++)
                    FUZZ_CHECK((buf[off + k] >= '0' && buf[off + k] <= '9') ||
                               (k == 0 && buf[off] == '+'));
            }
        }
        free(out.status);
        free(out.keys);
        free(out.check);
        free(out.classes);
        free(out.cc);
        free(out.phone_off);
        free(out.phone_len);
        free(out.fit);
    }
    free(buf);
    return 0;
}
