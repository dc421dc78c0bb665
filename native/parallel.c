/* Sharing a batch between threads: they claim chunks of it from one counter until none are left.
 *
 * Halving a batch up front left it waiting on the slower thread: on a shared host one vCPU often
 * runs slower than the other for a while, and claiming chunks was faster, and no slower where
 * both vCPUs ran alike (bench/kernel_ab.py; docs/benchmarks.md, "What changed"). A smaller batch
 * gets chunks of a quarter of a thread's share, so that every thread still has work. */
#include "internal.h"

#include <pthread.h>
#include <stdatomic.h>

typedef struct {
    bi_range_fn run;
    void *ctx;
    size_t n;
    size_t chunk;
    atomic_size_t next; /* the first item of the next unclaimed chunk */
    atomic_int failed;
} shared_batch;

static void *claim_chunks(void *arg)
{
    shared_batch *w = (shared_batch *)arg;
    for (;;) {
        size_t start = atomic_fetch_add_explicit(&w->next, w->chunk, memory_order_relaxed);
        if (start >= w->n)
            break;
        size_t end = w->n - start > w->chunk ? start + w->chunk : w->n;
        if (w->run(w->ctx, start, end))
            atomic_store_explicit(&w->failed, 1, memory_order_relaxed);
    }
    return NULL;
}

int bi_parallel_for(size_t n, uint32_t threads, size_t max_chunk, bi_range_fn run, void *ctx)
{
    pthread_t tid[BI_MAX_THREADS];
    shared_batch work;
    uint32_t k, started = 0;

    if (threads <= 1 || n < BI_MIN_PER_THREAD * threads)
        return run(ctx, 0, n) != 0;
    if (threads > BI_MAX_THREADS)
        threads = BI_MAX_THREADS;
    work.run = run;
    work.ctx = ctx;
    work.n = n;
    work.chunk = n / threads / 4 < max_chunk ? n / threads / 4 : max_chunk;
    atomic_init(&work.next, 0);
    atomic_init(&work.failed, 0);
    /* the calling thread claims chunks too, so if a thread cannot be started the ones that did
     * (at least this one) take its share */
    for (k = 1; k < threads; k++) {
        if (pthread_create(&tid[k], NULL, claim_chunks, &work) != 0)
            break;
        started = k;
    }
    claim_chunks(&work);
    for (k = 1; k <= started; k++)
        pthread_join(tid[k], NULL);
    return atomic_load(&work.failed);
}
