/*
 * fifo_bench.c: the fifo's throughput against its baselines, in one run,
 * for segment sizes 64 KiB, 1 MiB and 4 MiB (`make -C fifo bench`):
 *
 *   (a) one thread writes then reads 64 KiB pieces   vs  memcpy of the same pieces
 *   (b) producer thread -> consumer thread, 64 KiB pieces, 16 MiB high water,
 *       blocking fifo_write_wait/fifo_read_wait      vs  libevent evbuffer with
 *       evthread_use_pthreads + evbuffer_enable_locking, blocking on a condvar
 *   (c) chunked decoding of 64 KiB chunks into the fifo, drained zero-copy
 *       (fifo_peek_iov + fifo_skip)                  vs  memcpy of the payload
 *
 * Each figure is the best of three runs; ratios are fifo / baseline
 * throughput, so above 1.0 the fifo is faster.  Prints a Markdown table.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chunked.h"
#include "fifo.h"

#ifdef FIFO_BENCH_LIBEVENT
#include <event2/buffer.h>
#include <event2/thread.h>
#endif

#define MiB (1024.0 * 1024.0)

enum {
    PIECE = 64 * 1024,
    SOURCE = 4 * 1024 * 1024,       /* pieces are taken from here, cycling */
    HIGH_WATER = 16 * 1024 * 1024,  /* the module's default XSendFileStreamBuffer */
    RUNS = 3
};

static const uint64_t single_total = (uint64_t)512 << 20;
static const uint64_t threaded_total = (uint64_t)2 << 30;

static unsigned char *source;
static unsigned char *dest;
static volatile unsigned char sink;     /* keeps the compiler from dropping copies */

static double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const unsigned char *piece_at(uint64_t done)
{
    return source + done % (SOURCE - PIECE + 1) / 64 * 64;
}

/* ---- (a) and the memcpy baseline ---- */

static double run_memcpy(uint64_t total)
{
    double t0 = bench_now();
    uint64_t done;

    for (done = 0; done < total; done += PIECE) {
        memcpy(dest, piece_at(done), PIECE);
        sink ^= dest[done % PIECE];
    }
    return bench_now() - t0;
}

static double run_single(size_t seg, uint64_t total)
{
    fifo_t *f = fifo_create(seg, 0, 0);
    double t0 = bench_now();
    uint64_t done;

    for (done = 0; done < total; done += PIECE) {
        fifo_write(f, piece_at(done), PIECE);
        fifo_read(f, dest, PIECE);
        sink ^= dest[done % PIECE];
    }
    t0 = bench_now() - t0;
    fifo_destroy(f);
    return t0;
}

/* ---- (b) ---- */

struct pc {
    fifo_t *f;
    uint64_t total;
};

static void *fifo_producer(void *arg)
{
    struct pc *pc = arg;
    uint64_t done;

    for (done = 0; done < pc->total; done += PIECE)
        fifo_write_wait(pc->f, piece_at(done), PIECE, -1, NULL);
    fifo_close_write(pc->f);
    return NULL;
}

static double run_threaded(size_t seg, uint64_t total)
{
    struct pc pc;
    pthread_t t;
    unsigned char *buf = malloc(PIECE);
    size_t got = 0;
    double t0;

    pc.f = fifo_create(seg, HIGH_WATER, FIFO_THREADSAFE);
    pc.total = total;
    t0 = bench_now();
    pthread_create(&t, NULL, fifo_producer, &pc);
    while (fifo_read_wait(pc.f, buf, PIECE, &got, -1) == FIFO_OK)
        sink ^= buf[0];
    pthread_join(t, NULL);
    t0 = bench_now() - t0;
    fifo_destroy(pc.f);
    free(buf);
    return t0;
}

#ifdef FIFO_BENCH_LIBEVENT
/*
 * evbuffer has no blocking mode; a condition variable beside it gives the
 * same behaviour as fifo_write_wait/fifo_read_wait.  Each side takes the
 * mutex once per 64 KiB piece to check for a sleeper, as the fifo does.
 */
struct ev_pc {
    struct evbuffer *ev;
    uint64_t total;
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    int done;
};

static void ev_wake(struct ev_pc *pc)
{
    pthread_mutex_lock(&pc->mutex);
    pthread_cond_broadcast(&pc->cond);
    pthread_mutex_unlock(&pc->mutex);
}

static void *ev_producer(void *arg)
{
    struct ev_pc *pc = arg;
    uint64_t done;

    for (done = 0; done < pc->total; done += PIECE) {
        pthread_mutex_lock(&pc->mutex);
        while (evbuffer_get_length(pc->ev) >= HIGH_WATER)
            pthread_cond_wait(&pc->cond, &pc->mutex);
        pthread_mutex_unlock(&pc->mutex);
        evbuffer_add(pc->ev, piece_at(done), PIECE);
        ev_wake(pc);
    }
    pthread_mutex_lock(&pc->mutex);
    pc->done = 1;
    pthread_cond_broadcast(&pc->cond);
    pthread_mutex_unlock(&pc->mutex);
    return NULL;
}

static double run_evbuffer(uint64_t total)
{
    struct ev_pc pc;
    pthread_t t;
    unsigned char *buf = malloc(PIECE);
    double t0;
    int more = 1;

    pc.ev = evbuffer_new();
    evbuffer_enable_locking(pc.ev, NULL);
    pc.total = total;
    pc.done = 0;
    pthread_mutex_init(&pc.mutex, NULL);
    pthread_cond_init(&pc.cond, NULL);
    t0 = bench_now();
    pthread_create(&t, NULL, ev_producer, &pc);
    while (more) {
        int n;
        pthread_mutex_lock(&pc.mutex);
        while (evbuffer_get_length(pc.ev) == 0 && !pc.done)
            pthread_cond_wait(&pc.cond, &pc.mutex);
        more = evbuffer_get_length(pc.ev) > 0;
        pthread_mutex_unlock(&pc.mutex);
        n = evbuffer_remove(pc.ev, buf, PIECE);
        if (n > 0)
            sink ^= buf[0];
        ev_wake(&pc);
    }
    pthread_join(t, NULL);
    t0 = bench_now() - t0;
    evbuffer_free(pc.ev);
    pthread_cond_destroy(&pc.cond);
    pthread_mutex_destroy(&pc.mutex);
    free(buf);
    return t0;
}
#endif

/* ---- (c) ---- */

static unsigned char *chunked_input;
static size_t chunked_len;

/* SOURCE bytes of payload as 64 KiB chunks; decoded repeatedly. */
static void make_chunked_input(void)
{
    fifo_t *f = fifo_create(1 << 20, 0, 0);
    size_t pos;

    for (pos = 0; pos < SOURCE; pos += PIECE)
        fifo_chunked_encode(f, source + pos, PIECE);
    fifo_chunked_encode_end(f);
    chunked_len = fifo_length(f);
    chunked_input = malloc(chunked_len);
    fifo_read(f, chunked_input, chunked_len);
    fifo_destroy(f);
}

static double run_chunked(size_t seg, uint64_t total)
{
    fifo_t *f = fifo_create(seg, 0, 0);
    double t0 = bench_now();
    uint64_t done;

    for (done = 0; done < total; done += SOURCE) {
        fifo_chunked_decoder_t *dec = fifo_chunked_decoder_create(NULL);
        size_t pos = 0;
        int rc = FIFO_OK;

        /* input arrives in 64 KiB reads; output is handed on per read */
        while (rc == FIFO_OK) {
            size_t n = chunked_len - pos < PIECE ? chunked_len - pos : PIECE;
            size_t used = 0;
            struct iovec iov[8];
            size_t k, i;

            rc = fifo_chunked_decode(dec, chunked_input + pos, n, &used, f);
            pos += used;
            while ((k = fifo_peek_iov(f, iov, 8, SIZE_MAX)) > 0) {
                for (i = 0; i < k; ++i) {
                    sink ^= *(unsigned char *)iov[i].iov_base;
                    fifo_skip(f, iov[i].iov_len);
                }
            }
        }
        if (rc != FIFO_EOF)
            fprintf(stderr, "chunked decode failed: %s\n", fifo_strerror(rc));
        fifo_chunked_decoder_destroy(dec);
    }
    t0 = bench_now() - t0;
    fifo_destroy(f);
    return t0;
}

/* ---- driver ---- */

static double best(double (*fn)(size_t, uint64_t), size_t seg, uint64_t total)
{
    double b = 1e9;
    int i;
    for (i = 0; i < RUNS; ++i) {
        double t = fn(seg, total);
        b = t < b ? t : b;
    }
    return b;
}

static double memcpy_adapter(size_t seg, uint64_t total)
{
    (void)seg;
    return run_memcpy(total);
}

#ifdef FIFO_BENCH_LIBEVENT
static double evbuffer_adapter(size_t seg, uint64_t total)
{
    (void)seg;
    return run_evbuffer(total);
}
#endif

static double mibs(uint64_t total, double secs)
{
    return (double)total / MiB / secs;
}

int main(void)
{
    static const size_t segs[] = { 64 * 1024, 1024 * 1024, 4 * 1024 * 1024 };
    static const char *seg_names[] = { "64 KiB", "1 MiB", "4 MiB" };
    double copy;
#ifdef FIFO_BENCH_LIBEVENT
    double ev;
#endif
    size_t i;

    source = malloc(SOURCE);
    dest = malloc(PIECE);
    for (i = 0; i < SOURCE; ++i)
        source[i] = (unsigned char)(i * 2654435761u >> 13);
    make_chunked_input();
#ifdef FIFO_BENCH_LIBEVENT
    evthread_use_pthreads();
    ev = mibs(threaded_total, best(evbuffer_adapter, 0, threaded_total));
#endif
    copy = mibs(single_total, best(memcpy_adapter, 0, single_total));

    printf("| segment | (a) write+read MiB/s | memcpy MiB/s | (a) ratio "
           "| (b) 2-thread MiB/s | evbuffer MiB/s | (b) ratio "
           "| (c) chunked decode MiB/s | memcpy MiB/s | (c) ratio |\n");
    printf("|---|---|---|---|---|---|---|---|---|---|\n");
    for (i = 0; i < sizeof(segs) / sizeof(segs[0]); ++i) {
        double a = mibs(single_total, best(run_single, segs[i], single_total));
        double b = mibs(threaded_total, best(run_threaded, segs[i], threaded_total));
        double c = mibs(single_total, best(run_chunked, segs[i], single_total));

        printf("| %s | %.0f | %.0f | %.2fx | %.0f | ", seg_names[i], a, copy, a / copy, b);
#ifdef FIFO_BENCH_LIBEVENT
        printf("%.0f | %.2fx ", ev, b / ev);
#else
        printf("n/a | n/a ");
#endif
        printf("| %.0f | %.0f | %.2fx |\n", c, copy, c / copy);
        fflush(stdout);
    }
    printf("\n(a) %.0f MiB and (c) %.0f MiB of payload per run, (b) %.0f MiB; "
           "64 KiB pieces; best of %d runs.\n",
           (double)single_total / MiB, (double)single_total / MiB,
           (double)threaded_total / MiB, RUNS);
    free(chunked_input);
    free(source);
    free(dest);
    return 0;
}
