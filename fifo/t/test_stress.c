/*
 * test_stress.c: one producer thread and one consumer thread move bytes
 * through a thread-safe fifo in random sizes, mixing the copying and the
 * zero-copy calls on both sides; CRC-32 of what was sent and what arrived
 * must match.  1 GiB with 16 KiB segments, then 1 MiB with 7-byte segments
 * and a 100-byte high-water mark to hit every boundary under contention.
 */
#include <pthread.h>
#include <stdio.h>
#include <zlib.h>

#include "testutil.h"

enum { SOURCE = 1 << 20 };

struct stress {
    fifo_t *f;
    uint64_t total;
    size_t max_piece;
    const unsigned char *source;    /* SOURCE random bytes, sent from random offsets */
    uLong sent_crc;
    uLong got_crc;
    uint64_t got;
    int producer_rc;
    int consumer_rc;
};

static void *producer(void *arg)
{
    struct stress *s = arg;
    uint64_t rng = 0x1234;
    uint64_t sent = 0;
    uLong crc = crc32(0L, Z_NULL, 0);
    int rc = FIFO_OK;

    while (rc == FIFO_OK && sent < s->total) {
        size_t len = tu_between(&rng, 1, s->max_piece);
        const unsigned char *p = s->source + tu_between(&rng, 0, SOURCE - s->max_piece);
        size_t n = 0;

        len = len > s->total - sent ? (size_t)(s->total - sent) : len;
        if (tu_rand(&rng) % 2 == 0) {
            rc = fifo_write_wait(s->f, p, len, 10000, &n);
        } else {
            void *buf;
            rc = fifo_reserve_wait(s->f, &buf, &n, 10000);
            if (rc == FIFO_OK) {
                n = n < len ? n : len;
                memcpy(buf, p, n);
                rc = fifo_commit(s->f, n);
            }
        }
        crc = crc32(crc, p, (uInt)n);
        sent += n;
    }
    fifo_close_write(s->f);
    s->sent_crc = crc;
    s->producer_rc = rc;
    return NULL;
}

static void *consumer(void *arg)
{
    struct stress *s = arg;
    uint64_t rng = 0x5678;
    uLong crc = crc32(0L, Z_NULL, 0);
    unsigned char *buf = malloc(s->max_piece);
    int rc = FIFO_OK;
    unsigned long ops = 0;

    while (rc == FIFO_OK) {
        size_t len = tu_between(&rng, 1, s->max_piece);
        size_t n = 0;

        if (tu_rand(&rng) % 2 == 0) {
            rc = fifo_read_wait(s->f, buf, len, &n, 10000);
            crc = crc32(crc, buf, (uInt)n);
        } else {
            rc = fifo_wait_readable(s->f, 10000);
            if (rc == FIFO_OK) {
                struct iovec iov[4];
                size_t i, k = fifo_peek_iov(s->f, iov, 4, len);
                for (i = 0; i < k; ++i) {
                    crc = crc32(crc, iov[i].iov_base, (uInt)iov[i].iov_len);
                    n += iov[i].iov_len;
                }
                fifo_skip(s->f, n);
            }
        }
        s->got += n;
        if (++ops % 64 == 0)
            tu_check(s->f, "consumer step (concurrent with the producer)");
    }
    free(buf);
    s->got_crc = crc;
    s->consumer_rc = rc;
    return NULL;
}

static void stress(uint64_t total, size_t seg, size_t high_water, size_t max_piece,
                   const unsigned char *source)
{
    struct stress s;
    pthread_t tp, tc;
    double t0 = tu_now();

    memset(&s, 0, sizeof(s));
    s.f = fifo_create(seg, high_water, FIFO_THREADSAFE);
    s.total = total;
    s.max_piece = max_piece;
    s.source = source;
    pthread_create(&tc, NULL, consumer, &s);
    pthread_create(&tp, NULL, producer, &s);
    pthread_join(tp, NULL);
    pthread_join(tc, NULL);
    tu_check(s.f, "after join");
    tap_is_long(s.producer_rc, FIFO_OK, "producer wrote everything");
    tap_is_long(s.consumer_rc, FIFO_EOF, "consumer ended at EOF");
    tap_ok(s.got == total, "%llu bytes arrived", (unsigned long long)s.got);
    tap_ok(s.sent_crc == s.got_crc, "CRC-32 of sent and received bytes match (%08lx)",
           (unsigned long)s.got_crc);
    tap_diag("%llu MiB, segment %zu, high water %zu: %.2f s", (unsigned long long)(total >> 20),
             seg, high_water, tu_now() - t0);
    fifo_destroy(s.f);
}

int main(void)
{
    unsigned char *source = malloc(SOURCE);

    tu_fill(source, SOURCE, 77);
    stress((uint64_t)1 << 30, 16384, 256 * 1024, 65536, source);
    stress((uint64_t)1 << 20, 7, 100, 64, source);
    tu_invariants_held("invariants held throughout both runs");
    free(source);
    return tap_done();
}
