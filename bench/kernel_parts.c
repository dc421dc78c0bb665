/* Where a batch lookup's time goes: the batch kernel cut into the parts it is made of, timed in
 * turns in one process on the same mapped index and queries as bench/kernel_ab.c (built and run
 * by `python bench/kernel_ab.py INDEX --parts`).
 *
 *   floor         one random 8-byte read a query from the key file, a plain loop (what
 *                 open_plain.py's numpy gather does, without numpy's own cost)
 *   floor, ahead  the same with each read prefetched 2 * PIPE queries ahead: how fast this machine
 *                 fetches independent random lines when it is asked early
 *   directory     the kernel's first two stages with nothing after: a directory entry a query
 *   + key lines   also the bucket's first and last key lines, and the suffix at the guessed row
 *   whole         bi_lookup_many itself (one thread): the above plus the scan
 *
 * A round times each part once (the order reversed every other round); round 0 is a warm-up;
 * KERNEL_AB_ROUNDS=N runs N rounds (default 12).
 * Prints each round, then each part's median ns a query and its median per-round ratio to the
 * floor and to the whole. Exits 1 if the whole lookup misses a query that is in the table. */
#include "internal.h"
#include "kernel_bench.h"

#define PIPE 16 /* as table.c's: the kernel's stages are this many queries apart */
#define PARTS 5

volatile uint64_t sink; /* what the parts read goes here, so that the reads stay */

static const char *const names[PARTS] = {"floor", "floor, ahead", "directory", "+ key lines",
                                         "whole"};

/* part 0 and 1: a random 8-byte word of the key file a query */
static uint64_t read_words(const uint64_t *words, const uint64_t *at, size_t n, size_t ahead)
{
    uint64_t sum = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        if (ahead && i + ahead < n)
            BI_PREFETCH(&words[at[i + ahead]]);
        sum += words[at[i]];
    }
    return sum;
}

/* parts 2 and 3: the kernel's stages up to the guessed row, without the scan: the directory
 * entry prefetched, read PIPE queries later (and the bucket's key lines prefetched), and the
 * guessed row's suffix read PIPE queries after that, where the kernel scans from it */
static uint64_t stages(const bi_table *t, const uint64_t *q, size_t n, int key_lines)
{
    uint64_t guessed[2 * PIPE] = {0}, sum = 0, lo, hi, b, mask = bi_suffix_mask(t);
    size_t i, k;

    for (i = 0; i < n + 2 * PIPE; i++) {
        if (i < n)
            BI_PREFETCH(&t->dir[bi_bucket_of(t, q[i])]);
        if (i >= 2 * PIPE && key_lines)
            sum += bi_suffix_at(t, guessed[i % (2 * PIPE)]);
        if (i < PIPE || i - PIPE >= n)
            continue;
        k = i - PIPE;
        b = bi_bucket_of(t, q[k]);
        lo = t->dir[b];
        hi = t->dir[b + 1];
        guessed[k % (2 * PIPE)] = 0; /* row 0 where there is no guess */
        if (!key_lines || lo >= hi || hi > t->n) {
            sum += lo ^ hi;
            continue;
        }
        BI_PREFETCH(t->suffixes + lo * t->key_width);
        BI_PREFETCH(t->suffixes + (hi - 1) * t->key_width + 7);
        guessed[k % (2 * PIPE)] =
            lo + (uint64_t)(((unsigned __int128)(q[k] & mask) * (hi - lo)) >> (64 - t->dir_bits));
    }
    return sum;
}

int main(int argc, char **argv)
{
    static double ns[MAX_ROUNDS][MAX_COLUMNS];
    int rounds = rounds_wanted();
    bi_table t;
    uint64_t *q, *at, seed = 7, words;
    int64_t *rows;
    char reason[BI_REASON_LEN];
    size_t i;
    int r, p, missed = 0;

    if (argc != 3) {
        fprintf(stderr, "usage: %s INDEX_FOLDER DIR_BITS\n", argv[0]);
        return 2;
    }
    map_table(&t, argv[1], (unsigned)atoi(argv[2]));
    q = make_queries(&t);
    at = malloc(QUERIES * sizeof(uint64_t));
    rows = malloc(QUERIES * sizeof(int64_t));
    if (at == NULL || rows == NULL) {
        perror("malloc");
        return 2;
    }
    words = t.n * t.key_width / 8;
    for (i = 0; i < QUERIES; i++)
        at[i] = splitmix(&seed) % words;
    for (r = 0; r < rounds; r++) {
        for (p = 0; p < PARTS; p++) {
            int part = (r & 1) ? PARTS - 1 - p : p;
            double t0 = now();
            if (part <= 1)
                sink += read_words((const uint64_t *)t.suffixes, at, QUERIES, part ? 2 * PIPE : 0);
            else if (part <= 3)
                sink += stages(&t, q, QUERIES, part == 3);
            else if (bi_lookup_many(&t, q, QUERIES, rows, 1, reason) != BI_OK) {
                fprintf(stderr, "bi_lookup_many: %s\n", reason);
                return 1;
            }
            ns[r][part] = (now() - t0) / QUERIES * 1e9;
        }
        for (i = 1; i < QUERIES; i += 2)
            missed += rows[i] < 0;
        if (missed) {
            fprintf(stderr, "the whole lookup missed %d keys that are in the table\n", missed);
            return 1;
        }
        printf("round %2d:", r);
        for (p = 0; p < PARTS; p++)
            printf("  %s %.1f", names[p], ns[r][p]);
        printf("\n");
    }
    for (p = 0; p < PARTS; p++) {
        double med = median_of_rounds(ns, rounds, p, -1),
               to_floor = median_of_rounds(ns, rounds, p, 0);
        double to_whole = median_of_rounds(ns, rounds, p, PARTS - 1);
        printf("%-13s median %5.1f ns a query; %.2fx the floor, %.2fx the whole (medians of rounds "
               "1-%d)\n",
               names[p], med, to_floor, to_whole, rounds - 1);
    }
    return 0;
}
