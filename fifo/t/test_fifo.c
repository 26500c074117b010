/*
 * test_fifo.c: the fifo's operations, single-threaded and in blocking mode.
 * A model (a flat byte array) shadows random operations on fifos with tiny
 * segments so that every segment boundary is crossed many times.
 */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

#include "testutil.h"

/* The model: bytes [model_head, model_tail) of model_buf are in the fifo. */
struct model {
    unsigned char *buf;
    size_t head;
    size_t tail;
};

static int model_step(fifo_t *f, struct model *m, uint64_t *rng, size_t seg,
                      unsigned char *scratch, const unsigned char *source)
{
    size_t len = tu_between(rng, 0, 3 * seg + 2);
    size_t have = m->tail - m->head;
    int ok = 1;
    struct iovec iov[4];
    size_t n, i, got;
    void *buf;
    size_t avail;

    switch (tu_rand(rng) % 7) {
    case 0:     /* write */
        ok = fifo_write(f, source + m->tail, len) == FIFO_OK;
        memcpy(m->buf + m->tail, source + m->tail, len);
        m->tail += len;
        break;
    case 1:     /* read */
        got = fifo_read(f, scratch, len);
        ok = got == (len < have ? len : have) && memcmp(scratch, m->buf + m->head, got) == 0;
        m->head += got;
        break;
    case 2:     /* peek */
        got = fifo_peek(f, scratch, len);
        ok = got == (len < have ? len : have) && memcmp(scratch, m->buf + m->head, got) == 0;
        break;
    case 3:     /* skip */
        got = fifo_skip(f, len);
        ok = got == (len < have ? len : have);
        m->head += got;
        break;
    case 4:     /* reserve, fill part, commit */
        ok = fifo_reserve(f, &buf, &avail) == FIFO_OK && avail >= 1 && avail <= seg;
        if (ok) {
            size_t take = tu_between(rng, 0, avail);
            memcpy(buf, source + m->tail, take);
            memcpy(m->buf + m->tail, source + m->tail, take);
            m->tail += take;
            tu_check(f, "reserve");
            ok = fifo_commit(f, take) == FIFO_OK;
        }
        break;
    case 5:     /* iovec peek, bounded by entries and bytes */
        n = fifo_peek_iov(f, iov, 1 + tu_rand(rng) % 4, len);
        got = 0;
        for (i = 0; i < n && ok; ++i) {
            ok = iov[i].iov_len > 0 && memcmp(iov[i].iov_base, m->buf + m->head + got,
                                              iov[i].iov_len) == 0;
            got += iov[i].iov_len;
        }
        ok = ok && got <= len && got <= have && (n > 0 || len == 0 || have == 0);
        break;
    default:    /* length */
        ok = fifo_length(f) == have;
        break;
    }
    tu_check(f, "random operation");
    return ok && fifo_length(f) == m->tail - m->head;
}

static void test_model(size_t seg, unsigned ops, uint64_t seed)
{
    enum { CAP = 1 << 22 };
    struct model m = { malloc(CAP), 0, 0 };
    unsigned char *scratch = malloc(4 * seg + 8);
    unsigned char *source = malloc(CAP);
    fifo_t *f = fifo_create(seg, 0, 0);
    uint64_t rng = seed;
    unsigned i;
    int ok = 1;

    tu_fill(source, CAP, seed);
    for (i = 0; i < ops && ok && m.tail + 3 * seg + 3 < CAP; ++i)
        ok = model_step(f, &m, &rng, seg, scratch, source);
    tap_ok(ok, "segment %zu: %u random operations agree with the model", seg, i);
    tu_invariants_held("segment size: invariants held after every operation");
    /* Memory never exceeds the data plus a partial head, a tail and the spare. */
    tap_ok(fifo_memory(f) <= ((m.tail - m.head) / seg + 3) * (seg + 64),
           "segment %zu: memory bounded by the data it holds", seg);
    fifo_destroy(f);
    free(scratch);
    free(source);
    free(m.buf);
}

static void test_create(void)
{
    fifo_t *f;

    tap_ok(fifo_create(0, 0, 0) == NULL, "segment size 0 is refused");
    tap_ok(fifo_create(16, 0, 0x80) == NULL, "unknown flags are refused");
    tap_ok(fifo_create((size_t)-1, 0, 0) == NULL, "a segment size that would wrap is refused");
    f = fifo_create(16, 0, 0);
    tap_ok(f != NULL && fifo_length(f) == 0 && fifo_memory(f) == 0,
           "a new fifo is empty and holds no segment");
    tap_is_long((long)fifo_segment_size(f), 16, "segment size is kept");
    tap_ok(fifo_space(f) == (size_t)-1, "no high-water mark: unlimited space");
    tu_check(f, "create");
    fifo_destroy(f);
    fifo_destroy(NULL);
    tu_invariants_held("create: invariants held");
}

/* Segment boundaries and the spare, seen through fifo_memory(). */
static void test_boundaries(void)
{
    fifo_t *f = fifo_create(4, 0, 0);
    size_t one;
    unsigned char buf[16];

    fifo_write(f, "abcd", 4);
    tu_check(f, "write 4");
    one = fifo_memory(f);
    tap_ok(one > 0, "exactly one segment's worth allocates one segment");
    fifo_write(f, "e", 1);
    tu_check(f, "write 1");
    tap_is_long((long)fifo_memory(f), (long)(2 * one), "the next byte opens a second segment");
    tap_is_long((long)fifo_read(f, buf, 4), 4, "read a full segment");
    tu_check(f, "read 4");
    tap_is_long((long)fifo_memory(f), (long)(2 * one), "the drained segment is kept as spare");
    fifo_write(f, "fghijkl", 7);
    tu_check(f, "write 7");
    tap_is_long((long)fifo_memory(f), (long)(2 * one), "the spare is reused before allocating");
    fifo_write(f, "m", 1);
    tu_check(f, "write 1 more");
    tap_is_long((long)fifo_memory(f), (long)(3 * one), "a third segment once both are full");
    tap_is_long((long)fifo_read(f, buf, sizeof(buf)), 9, "read everything");
    tu_check(f, "read all");
    tap_ok(memcmp(buf, "efghijklm", 9) == 0, "bytes come out in order across segments");
    tap_is_long((long)fifo_memory(f), (long)(2 * one),
                "drained: the tail segment and one spare remain, the rest is freed");
    fifo_destroy(f);
    tu_invariants_held("boundaries: invariants held after every operation");
}

static void test_reserve(void)
{
    fifo_t *f = fifo_create(8, 0, 0);
    void *buf = NULL;
    void *buf2 = NULL;
    size_t avail = 0;
    size_t avail2 = 0;
    unsigned char out[8];

    tap_is_long(fifo_commit(f, 1), FIFO_EINVAL, "commit without a reservation is refused");
    tap_is_long(fifo_reserve(f, &buf, &avail), FIFO_OK, "reserve");
    tap_is_long((long)avail, 8, "a fresh segment offers all of itself");
    tap_is_long(fifo_reserve(f, &buf2, &avail2), FIFO_EINVAL, "a second open reservation is refused");
    tap_is_long(fifo_commit(f, 9), FIFO_EINVAL, "committing more than reserved is refused");
    memcpy(buf, "xyz", 3);
    tap_is_long((long)fifo_length(f), 0, "reserved bytes are invisible before commit");
    tap_is_long(fifo_commit(f, 3), FIFO_OK, "commit 3");
    tu_check(f, "commit");
    tap_is_long(fifo_reserve(f, &buf, &avail), FIFO_OK, "reserve again");
    tap_is_long((long)avail, 5, "the rest of the tail is offered");
    tap_is_long(fifo_commit(f, 0), FIFO_OK, "commit 0 abandons the reservation");
    tu_check(f, "abandon");
    tap_ok(fifo_read(f, out, 8) == 3 && memcmp(out, "xyz", 3) == 0, "committed bytes read back");
    fifo_destroy(f);
    tu_invariants_held("reserve/commit: invariants held");
}

static void test_eof_and_high_water(void)
{
    fifo_t *f = fifo_create(4, 10, 0);
    size_t written = 0;
    size_t got = 0;
    unsigned char buf[32];

    tap_is_long((long)fifo_space(f), 10, "space starts at the high-water mark");
    tap_is_long(fifo_write_wait(f, "0123456789abc", 13, 0, &written), FIFO_EAGAIN,
                "a plain fifo cannot wait for room: EAGAIN");
    tap_is_long((long)written, 10, "it wrote up to the high-water mark");
    tap_is_long((long)fifo_space(f), 0, "no space left");
    tap_is_long(fifo_write(f, "X", 1), FIFO_OK, "plain fifo_write ignores the mark");
    tu_check(f, "over high water");
    tap_is_long(fifo_wait_writable(f, 0), FIFO_EAGAIN, "wait_writable on a full plain fifo");
    tap_is_long((long)fifo_read(f, buf, 11), 11, "drain");
    tap_is_long(fifo_wait_readable(f, 0), FIFO_EAGAIN, "wait_readable on an empty plain fifo");
    fifo_write(f, "tail", 4);
    fifo_close_write(f);
    tu_check(f, "close");
    tap_is_long(fifo_write(f, "more", 4), FIFO_CLOSED, "write after close fails");
    tap_ok(!fifo_is_eof(f), "not EOF while bytes remain");
    tap_is_long(fifo_read_wait(f, buf, 2, &got, -1), FIFO_OK, "read_wait returns data first");
    tap_is_long((long)got, 2, "read_wait returns at most len");
    tap_is_long(fifo_read_wait(f, buf, 8, &got, -1), FIFO_OK, "then the rest");
    tap_ok(got == 2 && memcmp(buf, "il", 2) == 0, "the bytes before close all arrive");
    tap_is_long(fifo_read_wait(f, buf, 8, &got, -1), FIFO_EOF, "then EOF");
    tap_ok(fifo_is_eof(f), "fifo_is_eof after the drain");
    tu_check(f, "eof");
    fifo_destroy(f);
    tu_invariants_held("EOF and high water: invariants held");
}

static void test_strerror(void)
{
    int codes[] = { FIFO_OK, FIFO_EOF, FIFO_EAGAIN, FIFO_TIMEOUT, FIFO_ABORTED,
                    FIFO_CLOSED, FIFO_ENOMEM, FIFO_EINVAL, FIFO_EPROTO, FIFO_ELIMIT };
    size_t i;
    int ok = 1;

    for (i = 0; i < sizeof(codes) / sizeof(codes[0]); ++i)
        ok = ok && strcmp(fifo_strerror(codes[i]), "unknown status") != 0;
    tap_ok(ok, "every status has a description");
    tap_is_str(fifo_strerror(12345), "unknown status", "unknown codes are named so");
}

/* ---- blocking mode ---- */

struct waiter {
    fifo_t *f;
    int write_side;
    int rc;
};

static void *waiter_main(void *arg)
{
    struct waiter *w = arg;
    unsigned char buf[64] = { 0 };
    size_t n;

    if (w->write_side)
        w->rc = fifo_write_wait(w->f, buf, sizeof(buf), -1, &n);
    else
        w->rc = fifo_read_wait(w->f, buf, sizeof(buf), &n, -1);
    return NULL;
}

/* Starts a thread blocked on one side, then wakes it with action. */
static int wake_with(int write_side, void (*action)(fifo_t *))
{
    struct waiter w;
    pthread_t t;

    w.f = fifo_create(16, 8, FIFO_THREADSAFE);
    w.write_side = write_side;
    w.rc = 12345;
    pthread_create(&t, NULL, waiter_main, &w);
    usleep(50000);      /* let it block; the result does not depend on this */
    action(w.f);
    pthread_join(t, NULL);
    tu_check(w.f, "after wake");
    fifo_destroy(w.f);
    return w.rc;
}

static void test_blocking(void)
{
    fifo_t *f = fifo_create(16, 32, FIFO_THREADSAFE);
    unsigned char buf[64] = { 0 };
    size_t n = 0;
    double t0;

    t0 = tu_now();
    tap_is_long(fifo_wait_readable(f, 80), FIFO_TIMEOUT, "wait_readable times out when empty");
    tap_ok(tu_now() - t0 >= 0.079, "and only after the timeout");
    tap_is_long(fifo_read_wait(f, buf, 1, &n, 0), FIFO_TIMEOUT, "timeout 0 polls");
    t0 = tu_now();
    tap_is_long(fifo_write_wait(f, buf, 64, 80, &n), FIFO_TIMEOUT,
                "write_wait times out at the high-water mark");
    tap_ok(tu_now() - t0 >= 0.079, "after the timeout");
    tap_is_long((long)n, 32, "having written exactly up to the mark");
    tap_is_long(fifo_wait_writable(f, 10), FIFO_TIMEOUT, "wait_writable times out while full");
    tu_check(f, "timeouts");
    fifo_destroy(f);

    tap_is_long(wake_with(0, fifo_abort), FIFO_ABORTED, "abort wakes a blocked reader");
    tap_is_long(wake_with(1, fifo_abort), FIFO_ABORTED, "abort wakes a blocked writer");
    tap_is_long(wake_with(0, fifo_close_write), FIFO_EOF, "close wakes a blocked reader with EOF");
    tu_invariants_held("blocking: invariants held");
}

/* ---- high-water bound with a real producer ---- */

struct bounded {
    fifo_t *f;
    size_t total;
};

static void *bounded_producer(void *arg)
{
    struct bounded *b = arg;
    unsigned char chunk[3000];
    size_t sent = 0;

    memset(chunk, 'p', sizeof(chunk));
    while (sent < b->total) {
        size_t n = 0;
        size_t len = b->total - sent < sizeof(chunk) ? b->total - sent : sizeof(chunk);
        if (fifo_write_wait(b->f, chunk, len, -1, &n) != FIFO_OK)
            break;
        sent += n;
    }
    fifo_close_write(b->f);
    return NULL;
}

static void test_high_water_bound(void)
{
    enum { SEG = 1024, HW = 16 * 1024 };
    struct bounded b;
    pthread_t t;
    size_t got = 0;
    size_t max_len = 0;
    size_t max_mem = 0;
    unsigned char buf[700];
    int rc = FIFO_OK;

    b.f = fifo_create(SEG, HW, FIFO_THREADSAFE);
    b.total = 4 * 1024 * 1024;
    pthread_create(&t, NULL, bounded_producer, &b);
    while (rc == FIFO_OK) {
        size_t n = 0;
        size_t len = fifo_length(b.f);
        size_t mem = fifo_memory(b.f);
        max_len = len > max_len ? len : max_len;
        max_mem = mem > max_mem ? mem : max_mem;
        rc = fifo_read_wait(b.f, buf, sizeof(buf), &n, 5000);
        got += n;
        tu_check(b.f, "slow consumer");
    }
    pthread_join(t, NULL);
    tap_is_long(rc, FIFO_EOF, "the slow consumer reaches EOF");
    tap_is_long((long)got, (long)b.total, "and receives every byte");
    tap_ok(max_len <= HW, "the buffer never held more than the high-water mark (%zu)", max_len);
    tap_ok(max_mem <= HW + 3 * (SEG + 64),
           "memory stayed within the mark plus partial head, tail and spare (%zu)", max_mem);
    fifo_destroy(b.f);
    tu_invariants_held("high-water bound: invariants held");
}

int main(void)
{
    static const size_t segs[] = { 1, 2, 3, 7, 64, 4096 };
    size_t i;

    test_create();
    test_boundaries();
    test_reserve();
    test_eof_and_high_water();
    test_strerror();
    for (i = 0; i < sizeof(segs) / sizeof(segs[0]); ++i)
        test_model(segs[i], 20000, 0x9e3779b97f4a7c15ULL + i);
    test_blocking();
    test_high_water_bound();
    return tap_done();
}
