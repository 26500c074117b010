/*
 * fifo_bench.c: the fifo's speed against baselines measured in the same
 * run.  `make -C fifo bench` runs it through bench/run.sh, which writes
 * bench/RESULTS.md; `make -C fifo bench-check` checks the goals.
 *
 * Each comparison runs the fifo and its baseline alternately, ROUNDS times,
 * swapping their order every round so that neither always runs second on
 * caches the other warmed, and reports the median of the per-round
 * throughput ratios fifo / baseline with their range, and the median
 * throughputs.  Above 1 the fifo is faster.
 *
 *   fifo_bench [--check] [--rounds N]
 *
 * --check exits 1 when a goal's median ratio is below the goal.
 * FIFO_BENCH_PICO=FILE names picohttpparser built as a shared object
 * (bench/run.sh builds it from PICOHTTPPARSER=DIR); without it the chunked
 * comparisons use the in-place decoder of baselines.c, and say so.
 */
#define _POSIX_C_SOURCE 200809L

#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "baselines.h"
#include "chunked.h"
#include "fifo.h"

#ifdef FIFO_BENCH_LIBEVENT
#include <event2/buffer.h>
#include <event2/thread.h>
#endif

#define MiB (1024.0 * 1024.0)

enum {
    SMALL = 64, /* the small write of the goals */
    LARGE = 64 * 1024,
    BURST = 64 * 1024,               /* one thread: written, then read back */
    SEGMENT = 64 * 1024,             /* the module's segment size */
    READ = 64 * 1024,                /* what a consumer takes at most at once */
    BOUND = 1024 * 1024,             /* two threads, small writes: mark and ring size */
    MODULE_BOUND = 16 * 1024 * 1024, /* XSendFileStreamBuffer's default */
    SOURCE = 4 * 1024 * 1024,        /* pieces come from here, cycling */
    ROUNDS = 9
};

static unsigned char *source;
static unsigned char *dest;
static volatile unsigned char sink; /* keeps the compiler from dropping copies */

static double bench_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Pieces start anywhere in the first half of the source (a mask, not a
 * division: the harness should cost next to nothing). */
static const unsigned char *piece_at(uint64_t done)
{
    return source + (done & (SOURCE / 2 - 1));
}

/* ---- one thread: write a burst, read it back ---- */

/* The fifo: plain, with fifo_write/fifo_read, or thread-safe, with the
 * waiting calls a producer and a consumer thread would use. */
static double fifo_one_thread(size_t piece, unsigned flags, uint64_t total)
{
    fifo_t *f = fifo_create(SEGMENT, 0, flags);
    double t0 = bench_now();
    uint64_t done;
    size_t i, n;

    for (done = 0; done < total; done += BURST) {
        for (i = 0; i < BURST; i += piece) {
            if (flags != 0) {
                fifo_write_wait(f, piece_at(done + i), piece, &n, -1);
            }
            else {
                fifo_write(f, piece_at(done + i), piece);
            }
        }
        for (i = 0; i < BURST; i += piece) {
            if (flags != 0) {
                fifo_read_wait(f, dest, piece, &n, -1);
            }
            else {
                fifo_read(f, dest, piece);
            }
            sink ^= dest[0];
        }
    }
    t0 = bench_now() - t0;
    fifo_destroy(f);
    return t0;
}

static double ring_one_thread(size_t piece, uint64_t total)
{
    struct ring r;
    double t0;
    uint64_t done;
    size_t i;

    ring_init(&r, BURST);
    t0 = bench_now();
    for (done = 0; done < total; done += BURST) {
        for (i = 0; i < BURST; i += piece) {
            ring_write(&r, piece_at(done + i), piece);
        }
        for (i = 0; i < BURST; i += piece) {
            ring_read(&r, dest, piece);
            sink ^= dest[0];
        }
    }
    t0 = bench_now() - t0;
    ring_free(&r);
    return t0;
}

static const uint64_t one_total = (uint64_t)512 << 20;

static double small_fifo(void)
{
    return fifo_one_thread(SMALL, 0, one_total);
}
static double small_fifo_ts(void)
{
    return fifo_one_thread(SMALL, FIFO_THREADSAFE, one_total);
}
static double small_ring(void)
{
    return ring_one_thread(SMALL, one_total);
}
static double large_fifo(void)
{
    return fifo_one_thread(LARGE, 0, 4 * one_total);
}
static double large_ring(void)
{
    return ring_one_thread(LARGE, 4 * one_total);
}

/* ---- two threads: a producer writes pieces, the consumer takes what is there ---- */

enum queue_kind { Q_FIFO, Q_LOCKED, Q_SPSC, Q_EVBUFFER };

struct hand_off {
    enum queue_kind kind;
    size_t piece;
    uint64_t total;
    fifo_t *fifo;
    struct locked_ring locked;
    struct spsc_ring spsc;
#ifdef FIFO_BENCH_LIBEVENT
    struct evbuffer *ev;
    pthread_mutex_t ev_mutex; /* evbuffer has no blocking mode: */
    pthread_cond_t ev_cond;   /* a condition variable beside it */
    int ev_done;
#endif
};

#ifdef FIFO_BENCH_LIBEVENT
/* evbuffer's producer and consumer, blocking on the condition variable at
 * the same bound as the fifo. */
static void ev_put(struct hand_off *h, const void *p, size_t len)
{
    pthread_mutex_lock(&h->ev_mutex);
    while (evbuffer_get_length(h->ev) >= MODULE_BOUND) {
        pthread_cond_wait(&h->ev_cond, &h->ev_mutex);
    }
    pthread_mutex_unlock(&h->ev_mutex);
    evbuffer_add(h->ev, p, len);
    pthread_mutex_lock(&h->ev_mutex);
    pthread_cond_broadcast(&h->ev_cond);
    pthread_mutex_unlock(&h->ev_mutex);
}

static size_t ev_take(struct hand_off *h, void *buf, size_t len)
{
    int n;

    pthread_mutex_lock(&h->ev_mutex);
    while (evbuffer_get_length(h->ev) == 0 && !h->ev_done) {
        pthread_cond_wait(&h->ev_cond, &h->ev_mutex);
    }
    pthread_mutex_unlock(&h->ev_mutex);
    n = evbuffer_remove(h->ev, buf, len);
    pthread_mutex_lock(&h->ev_mutex);
    pthread_cond_broadcast(&h->ev_cond);
    pthread_mutex_unlock(&h->ev_mutex);
    return n > 0 ? (size_t)n : 0;
}
#endif

static void *producer(void *arg)
{
    struct hand_off *h = arg;
    uint64_t done;
    size_t n;

    for (done = 0; done < h->total; done += h->piece) {
        const unsigned char *p = piece_at(done);
        switch (h->kind) {
        case Q_FIFO: fifo_write_wait(h->fifo, p, h->piece, &n, -1); break;
        case Q_LOCKED: locked_ring_write(&h->locked, p, h->piece); break;
        case Q_SPSC: spsc_ring_write(&h->spsc, p, h->piece); break;
        default:
#ifdef FIFO_BENCH_LIBEVENT
            ev_put(h, p, h->piece);
#endif
            break;
        }
    }
    switch (h->kind) {
    case Q_FIFO: fifo_close_write(h->fifo); break;
    case Q_LOCKED: locked_ring_close(&h->locked); break;
    case Q_SPSC: spsc_ring_close(&h->spsc); break;
    default:
#ifdef FIFO_BENCH_LIBEVENT
        pthread_mutex_lock(&h->ev_mutex);
        h->ev_done = 1;
        pthread_cond_broadcast(&h->ev_cond);
        pthread_mutex_unlock(&h->ev_mutex);
#endif
        break;
    }
    return NULL;
}

static size_t consume(struct hand_off *h)
{
    size_t n = 0;

    switch (h->kind) {
    case Q_FIFO: fifo_read_wait(h->fifo, dest, READ, &n, -1); break;
    case Q_LOCKED: n = locked_ring_read(&h->locked, dest, READ); break;
    case Q_SPSC: n = spsc_ring_read(&h->spsc, dest, READ); break;
    default:
#ifdef FIFO_BENCH_LIBEVENT
        n = ev_take(h, dest, READ);
#endif
        break;
    }
    return n;
}

static double two_threads(enum queue_kind kind, size_t piece, size_t bound, uint64_t total)
{
    struct hand_off h;
    pthread_t t;
    uint64_t got = 0;
    size_t n;
    double t0;

    memset(&h, 0, sizeof(h));
    h.kind = kind;
    h.piece = piece;
    h.total = total;
    if (kind == Q_FIFO) {
        h.fifo = fifo_create(SEGMENT, bound, FIFO_THREADSAFE);
    }
    else if (kind == Q_LOCKED) {
        locked_ring_init(&h.locked, bound);
    }
    else if (kind == Q_SPSC) {
        spsc_ring_init(&h.spsc, bound);
    }
#ifdef FIFO_BENCH_LIBEVENT
    else {
        h.ev = evbuffer_new();
        evbuffer_enable_locking(h.ev, NULL);
        pthread_mutex_init(&h.ev_mutex, NULL);
        pthread_cond_init(&h.ev_cond, NULL);
    }
#endif
    t0 = bench_now();
    pthread_create(&t, NULL, producer, &h);
    while ((n = consume(&h)) > 0) {
        got += n;
        sink ^= dest[0];
    }
    pthread_join(t, NULL);
    t0 = bench_now() - t0;
    if (got != total) {
        fprintf(stderr, "fifo_bench: %llu of %llu bytes arrived\n", (unsigned long long)got,
                (unsigned long long)total);
        exit(2);
    }
    fifo_destroy(h.fifo);
    if (kind == Q_LOCKED) {
        locked_ring_free(&h.locked);
    }
    else if (kind == Q_SPSC) {
        spsc_ring_free(&h.spsc);
    }
#ifdef FIFO_BENCH_LIBEVENT
    else if (kind == Q_EVBUFFER) {
        evbuffer_free(h.ev);
        pthread_cond_destroy(&h.ev_cond);
        pthread_mutex_destroy(&h.ev_mutex);
    }
#endif
    return t0;
}

static const uint64_t two_small_total = (uint64_t)256 << 20;
static const uint64_t two_large_total = (uint64_t)1 << 30;

static double hand_off_fifo(void)
{
    return two_threads(Q_FIFO, SMALL, BOUND, two_small_total);
}
static double hand_off_locked(void)
{
    return two_threads(Q_LOCKED, SMALL, BOUND, two_small_total);
}
static double hand_off_spsc(void)
{
    return two_threads(Q_SPSC, SMALL, BOUND, two_small_total);
}
static double module_fifo(void)
{
    return two_threads(Q_FIFO, LARGE, MODULE_BOUND, two_large_total);
}
#ifdef FIFO_BENCH_LIBEVENT
static double module_evbuffer(void)
{
    return two_threads(Q_EVBUFFER, LARGE, MODULE_BOUND, two_large_total);
}
#endif

/* ---- chunked decoding ---- */

enum decoder_kind { D_FIFO_IOV, D_FIFO_FIFO, D_PICO, D_INPLACE };

/* SOURCE bytes of payload framed as chunks of one size. */
struct wire {
    unsigned char *bytes;
    size_t len;
};

static struct wire wire_large;
static struct wire wire_small;
static ssize_t (*pico_decode)(void *decoder, char *buf, size_t *len);

static struct wire make_wire(size_t chunk)
{
    fifo_t *f = fifo_create(1 << 20, 0, 0);
    struct wire w;
    size_t pos, used;

    for (pos = 0; pos < SOURCE; pos += chunk) {
        fifo_chunked_encode(f, source + pos, chunk, &used);
    }
    fifo_chunked_encode_end(f);
    w.len = fifo_length(f);
    w.bytes = malloc(w.len);
    fifo_read(f, w.bytes, w.len);
    fifo_destroy(f);
    return w;
}

/* One read's worth of input through a decoder; 1 once the body ended. */
static int decode_read(enum decoder_kind kind, void *dec, fifo_t *out, char *buf, size_t len)
{
    struct iovec iov[16];
    size_t used = 0, off = 0, niov, i;
    ssize_t left;
    int rc = FIFO_EAGAIN;

    switch (kind) {
    case D_FIFO_IOV:
        while (rc == FIFO_EAGAIN) {
            rc = fifo_chunked_decode_iov(dec, buf + off, len - off, &used, iov, 16, &niov);
            for (i = 0; i < niov; ++i) {
                sink ^= *(unsigned char *)iov[i].iov_base;
            }
            off += used;
        }
        break;
    case D_FIFO_FIFO:
        rc = fifo_chunked_decode(dec, buf, len, &used, out);
        while ((niov = fifo_peek_iov(out, iov, 16, SIZE_MAX)) > 0) {
            for (i = 0; i < niov; ++i) {
                sink ^= *(unsigned char *)iov[i].iov_base;
                fifo_skip(out, iov[i].iov_len);
            }
        }
        break;
    default:
        left = kind == D_PICO ? pico_decode(dec, buf, &len) : inplace_decode(dec, buf, &len);
        sink ^= len > 0 ? (unsigned char)buf[0] : 0;
        rc = left >= 0 ? FIFO_EOF : left == -2 ? FIFO_OK : FIFO_EPROTO;
        break;
    }
    if (rc != FIFO_OK && rc != FIFO_EOF) {
        fprintf(stderr, "fifo_bench: chunked decoding failed (%d)\n", rc);
        exit(2);
    }
    return rc == FIFO_EOF;
}

/* Decodes the wire again and again, 64 KiB reads at a time, each first
 * copied into a read buffer as read(2) would leave it: the in-place
 * decoders need it writable, and every decoder pays the same copy. */
static double decode(const struct wire *w, enum decoder_kind kind, uint64_t total)
{
    static char buf[READ];
    double t0 = bench_now();
    uint64_t done;

    for (done = 0; done < total; done += SOURCE) {
        fifo_chunked_decoder_t *fifo_dec = fifo_chunked_decoder_create(NULL);
        fifo_t *out = fifo_create(SEGMENT, 0, 0);
        struct inplace_decoder inplace = { 0, 0 };
        size_t pico_state[8] = { 0 }; /* zeroed: picohttpparser's initial state */
        void *dec = kind == D_PICO      ? (void *)pico_state
                    : kind == D_INPLACE ? (void *)&inplace
                                        : (void *)fifo_dec;
        size_t pos = 0;
        int ended = 0;

        while (!ended && pos < w->len) {
            size_t n = w->len - pos < READ ? w->len - pos : READ;
            memcpy(buf, w->bytes + pos, n);
            pos += n;
            ended = decode_read(kind, dec, out, buf, n);
        }
        fifo_chunked_decoder_destroy(fifo_dec);
        fifo_destroy(out);
    }
    return bench_now() - t0;
}

static const uint64_t decode_total = (uint64_t)1 << 30;
static enum decoder_kind chunked_baseline = D_INPLACE;

static double large_iov(void)
{
    return decode(&wire_large, D_FIFO_IOV, decode_total);
}
static double large_into_fifo(void)
{
    return decode(&wire_large, D_FIFO_FIFO, decode_total);
}
static double large_base(void)
{
    return decode(&wire_large, chunked_baseline, decode_total);
}
static double small_iov(void)
{
    return decode(&wire_small, D_FIFO_IOV, decode_total / 4);
}
static double small_base(void)
{
    return decode(&wire_small, chunked_baseline, decode_total / 4);
}

/* ---- the driver ---- */

struct comparison {
    const char *what;
    const char *baseline;
    double (*fifo)(void);
    double (*base)(void);
    uint64_t bytes; /* payload per run */
    double goal;    /* 0: none */
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Runs one comparison; returns 0 when it has a goal and missed it. */
static int compare(const struct comparison *c, int rounds)
{
    double fifo_rate[64] = { 0 }, base_rate[64] = { 0 }, ratio[64] = { 0 };
    double lo, hi, mid;
    int i;

    for (i = 0; i < rounds; ++i) {
        double tf, tb;
        if (i % 2 == 0) {
            tf = c->fifo();
            tb = c->base();
        }
        else {
            tb = c->base();
            tf = c->fifo();
        }
        fifo_rate[i] = (double)c->bytes / MiB / tf;
        base_rate[i] = (double)c->bytes / MiB / tb;
        ratio[i] = tb / tf;
    }
    mid = median(ratio, rounds);
    lo = ratio[0];
    hi = ratio[rounds - 1];
    printf("| %s | %s | %.0f | %.0f | **%.2f** | %.2f-%.2f | ", c->what, c->baseline,
           median(fifo_rate, rounds), median(base_rate, rounds), mid, lo, hi);
    if (c->goal > 0) {
        printf(">= %.1f | %s |\n", c->goal, mid >= c->goal ? "met" : "**missed**");
    }
    else {
        printf("- | - |\n");
    }
    fflush(stdout);
    return c->goal == 0 || mid >= c->goal;
}

/* picohttpparser from FIFO_BENCH_PICO, if given and loadable. */
static const char *load_pico(void)
{
    const char *path = getenv("FIFO_BENCH_PICO");
    void *lib = path != NULL && *path != '\0' ? dlopen(path, RTLD_NOW) : NULL;

    if (lib != NULL) {
        *(void **)&pico_decode = dlsym(lib, "phr_decode_chunked");
    }
    if (pico_decode != NULL) {
        chunked_baseline = D_PICO;
        return "picohttpparser `phr_decode_chunked` (in place)";
    }
    if (path != NULL && *path != '\0') {
        fprintf(stderr, "fifo_bench: cannot load picohttpparser from %s\n", path);
    }
    return "in-place decoder of `bench/baselines.c` (picohttpparser's algorithm; "
           "picohttpparser itself not given)";
}

int main(int argc, char **argv)
{
    int check = argc > 1 && strcmp(argv[1], "--check") == 0;
    int rounds = ROUNDS;
    int met = 1;
    const char *chunked_name;
    size_t i;
    struct comparison list[] = {
        { "one thread, 64 B writes then 64 B reads, plain fifo", "memcpy ring", small_fifo,
          small_ring, one_total, 0.8 },
        { "one thread, 64 B, thread-safe fifo (`fifo_write_wait`/`fifo_read_wait`)", "memcpy ring",
          small_fifo_ts, small_ring, one_total, 0 },
        { "one thread, 64 KiB writes then reads, plain fifo", "memcpy ring", large_fifo, large_ring,
          4 * one_total, 0 },
        { "two threads, 64 B writes, reads of up to 64 KiB, 1 MiB bound",
          "ring + mutex + condition variables", hand_off_fifo, hand_off_locked, two_small_total,
          0.8 },
        { "two threads, 64 B writes, reads of up to 64 KiB, 1 MiB bound",
          "lock-free ring, spinning", hand_off_fifo, hand_off_spsc, two_small_total, 0.8 },
#ifdef FIFO_BENCH_LIBEVENT
        { "two threads, 64 KiB writes and reads, 16 MiB bound (the module's case)",
          "locked `evbuffer` + condition variable", module_fifo, module_evbuffer, two_large_total,
          0 },
#endif
        { "chunked decoding, 64 KiB chunks, zero-copy (`fifo_chunked_decode_iov`)", NULL, large_iov,
          large_base, decode_total, 1.0 },
        { "chunked decoding, 64 KiB chunks, into a fifo (`fifo_chunked_decode`)", NULL,
          large_into_fifo, large_base, decode_total, 0 },
        { "chunked decoding, 4 KiB chunks, zero-copy", NULL, small_iov, small_base,
          decode_total / 4, 0 },
    };

    if (argc > 2 && strcmp(argv[argc - 2], "--rounds") == 0) {
        rounds = atoi(argv[argc - 1]);
        rounds = rounds < 1 ? 1 : rounds > 64 ? 64 : rounds;
    }
    source = malloc(SOURCE);
    dest = malloc(READ);
    for (i = 0; i < SOURCE; ++i) {
        source[i] = (unsigned char)(i * 2654435761u >> 13);
    }
    wire_large = make_wire(LARGE);
    wire_small = make_wire(4096);
    chunked_name = load_pico();
#ifdef FIFO_BENCH_LIBEVENT
    evthread_use_pthreads();
#endif
    printf("| comparison | baseline | fifo MiB/s | baseline MiB/s | ratio (median) "
           "| ratio range | goal | |\n|---|---|---|---|---|---|---|---|\n");
    for (i = 0; i < sizeof(list) / sizeof(list[0]); ++i) {
        if (list[i].baseline == NULL) {
            list[i].baseline = chunked_name;
        }
        met = compare(&list[i], rounds) && met;
    }
#ifndef FIFO_BENCH_LIBEVENT
    printf("\n(libevent not found at configure time: no evbuffer comparison.)\n");
#endif
    printf("\n%d rounds per comparison; ratio = fifo throughput / baseline throughput.\n", rounds);
    free(wire_large.bytes);
    free(wire_small.bytes);
    free(source);
    free(dest);
    return check && !met ? 1 : 0;
}
