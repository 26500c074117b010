/*
 * test_stress.c: one producer thread and one consumer thread move bytes
 * through a thread-safe fifo in random sizes, mixing the copying and the
 * zero-copy calls on both sides; CRC-32 of what was sent and what arrived
 * must match.  1 GiB with 16 KiB segments, then 1 MiB with 7-byte segments
 * and a 100-byte high-water mark to hit every boundary under contention.
 *
 * The transfer runs in phases: at the end of each both threads meet at a
 * barrier, the consumer runs the invariant checker on the state the two
 * left behind, and both go on.  (fifo_check reads both sides' private
 * state, so it cannot run while either is inside a call.)
 *
 * Built a second time with ThreadSanitizer by `make -C fifo check-tsan`.
 */
#include <pthread.h>
#include <stdio.h>
#include <zlib.h>

#include "testutil.h"

enum { SOURCE = 1 << 20 };

struct stress {
    fifo_t *f;
    uint64_t total;
    uint64_t phase; /* bytes per phase */
    size_t max_piece;
    const unsigned char *source; /* SOURCE random bytes, sent from random offsets */
    pthread_barrier_t done;      /* both ended a phase */
    pthread_barrier_t checked;   /* the consumer checked it */
    uLong sent_crc;
    uLong got_crc;
    uint64_t got;
    unsigned phases_checked;
    int producer_rc;
    int consumer_rc;
};

/* Writes up to len bytes from p: copying or in place, at random. */
static int produce(struct stress *s, uint64_t *rng, const unsigned char *p, size_t len, size_t *n)
{
    void *buf;
    int rc;

    *n = 0;
    if (tu_rand(rng) % 2 == 0) {
        return fifo_write_wait(s->f, p, len, n, 10000);
    }
    rc = fifo_reserve_wait(s->f, &buf, n, 10000);
    if (rc == FIFO_OK) {
        *n = *n < len ? *n : len;
        memcpy(buf, p, *n);
        rc = fifo_commit(s->f, *n);
    }
    return rc;
}

static void *producer(void *arg)
{
    struct stress *s = arg;
    uint64_t rng = 0x1234;
    uint64_t sent = 0;
    uLong crc = crc32(0L, Z_NULL, 0);
    int rc = FIFO_OK;

    while (rc == FIFO_OK && sent < s->total) {
        uint64_t phase_end = (sent / s->phase + 1) * s->phase;
        size_t len = tu_between(&rng, 1, s->max_piece);
        const unsigned char *p = s->source + tu_between(&rng, 0, SOURCE - s->max_piece);
        size_t n = 0;

        len = len > phase_end - sent ? (size_t)(phase_end - sent) : len;
        rc = produce(s, &rng, p, len, &n);
        crc = crc32(crc, p, (uInt)n);
        sent += n;
        if (sent == phase_end && sent < s->total) {
            pthread_barrier_wait(&s->done);
            pthread_barrier_wait(&s->checked);
        }
    }
    fifo_close_write(s->f);
    s->sent_crc = crc;
    s->producer_rc = rc;
    return NULL;
}

/* Takes up to len bytes: copying or zero-copy, at random. */
static int consume(struct stress *s, uint64_t *rng, unsigned char *buf, size_t len, uLong *crc,
                   size_t *n)
{
    int rc;

    *n = 0;
    if (tu_rand(rng) % 2 == 0) {
        rc = fifo_read_wait(s->f, buf, len, n, 10000);
        *crc = crc32(*crc, buf, (uInt)*n);
        return rc;
    }
    rc = fifo_wait_readable(s->f, 10000);
    if (rc == FIFO_OK) {
        struct iovec iov[4];
        size_t i, k = fifo_peek_iov(s->f, iov, 4, len);

        for (i = 0; i < k; ++i) {
            *crc = crc32(*crc, iov[i].iov_base, (uInt)iov[i].iov_len);
            *n += iov[i].iov_len;
        }
        fifo_skip(s->f, *n);
    }
    return rc;
}

static void *consumer(void *arg)
{
    struct stress *s = arg;
    uint64_t rng = 0x5678;
    uLong crc = crc32(0L, Z_NULL, 0);
    unsigned char *buf = malloc(s->max_piece);
    int rc = FIFO_OK;

    while (rc == FIFO_OK) {
        uint64_t phase_end = (s->got / s->phase + 1) * s->phase;
        size_t len = tu_between(&rng, 1, s->max_piece);
        size_t n = 0;

        len = len > phase_end - s->got ? (size_t)(phase_end - s->got) : len;
        rc = consume(s, &rng, buf, len, &crc, &n);
        s->got += n;
        if (s->got == phase_end && s->got < s->total) {
            pthread_barrier_wait(&s->done);
            tu_check(s->f, "a phase's end, reached by both threads at once");
            ++s->phases_checked;
            pthread_barrier_wait(&s->checked);
        }
    }
    free(buf);
    s->got_crc = crc;
    s->consumer_rc = rc;
    return NULL;
}

static void stress(uint64_t total, uint64_t phase, size_t seg, size_t high_water, size_t max_piece,
                   const unsigned char *source)
{
    struct stress s;
    pthread_t tp, tc;
    double t0 = tu_now();
    fifo_stats_t st;

    memset(&s, 0, sizeof(s));
    s.f = fifo_create(seg, high_water, FIFO_THREADSAFE);
    s.total = total;
    s.phase = phase;
    s.max_piece = max_piece;
    s.source = source;
    pthread_barrier_init(&s.done, NULL, 2);
    pthread_barrier_init(&s.checked, NULL, 2);
    pthread_create(&tc, NULL, consumer, &s);
    pthread_create(&tp, NULL, producer, &s);
    pthread_join(tp, NULL);
    pthread_join(tc, NULL);
    tu_check(s.f, "after join");
    st = fifo_stats(s.f);
    tu_is_long(s.producer_rc, FIFO_OK, "producer wrote everything");
    tu_is_long(s.consumer_rc, FIFO_EOF, "consumer ended at EOF");
    tu_ok(s.got == total, "%llu bytes arrived", (unsigned long long)s.got);
    tu_ok(s.sent_crc == s.got_crc, "CRC-32 of sent and received bytes match (%08lx)",
          (unsigned long)s.got_crc);
    tu_is_long((long)s.phases_checked, (long)(total / phase - 1),
               "the invariants were checked at every phase's end");
    tu_ok(st.peak_length <= high_water, "the high-water mark held (peak %zu of %zu)",
          st.peak_length, high_water);
    tu_diag("%llu MiB, segment %zu, high water %zu: %.2f s; the writer waited %llu times "
            "(%llu asleep), the reader %llu (%llu)",
            (unsigned long long)(total >> 20), seg, high_water, tu_now() - t0,
            (unsigned long long)st.writer_waits, (unsigned long long)st.writer_sleeps,
            (unsigned long long)st.reader_waits, (unsigned long long)st.reader_sleeps);
    pthread_barrier_destroy(&s.done);
    pthread_barrier_destroy(&s.checked);
    fifo_destroy(s.f);
}

int main(int argc, char **argv)
{
    unsigned char *source = malloc(SOURCE);
    /* `test_stress quick` (the ThreadSanitizer run, 5-15 times slower) moves 64 MiB. */
    uint64_t total =
        argc > 1 && strcmp(argv[1], "quick") == 0 ? (uint64_t)64 << 20 : (uint64_t)1 << 30;

    tu_fill(source, SOURCE, 77);
    stress(total, (uint64_t)1 << 20, 16384, 256 * 1024, 65536, source);
    stress((uint64_t)1 << 20, 1 << 14, 7, 100, 64, source);
    tu_invariants_held("invariants held throughout both runs");
    free(source);
    return tu_done();
}
