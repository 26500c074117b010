/*
 * test_fifo.c: the fifo's operations, single-threaded and in blocking mode.
 * A model (a flat byte array) shadows random operations on fifos with tiny
 * segments so that every segment boundary is crossed many times.
 */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

#include "testutil.h"

/* The model: bytes [head, tail) of buf are in the fifo. */
struct model {
    unsigned char *buf;
    size_t head;
    size_t tail;
};

/*
 * The figures of a fifo holding `have` bytes in segments of `seg` bytes:
 * at most a drained head, the data, an empty tail and a spare
 * (INTERNALS.md), each segment costing the same *per bytes (learnt from
 * the first one seen).
 */
static int within_bound(fifo_t *f, size_t have, size_t seg, size_t *per)
{
    fifo_stats_t st = fifo_stats(f);

    if (*per == 0 && st.segments > 0) {
        *per = st.memory / st.segments;
    }
    return st.segments <= have / seg + 3 && st.memory == st.segments * *per && st.length == have
           && st.peak_length >= have && st.peak_memory >= st.memory;
}

static int model_step(fifo_t *f, struct model *m, uint64_t *rng, size_t seg, unsigned char *scratch,
                      const unsigned char *source, size_t *per)
{
    size_t len = tu_between(rng, 0, 3 * seg + 2);
    size_t have = m->tail - m->head;
    int ok = 1;
    struct iovec iov[4];
    size_t n, i, got;
    void *buf;
    size_t avail;

    switch (tu_rand(rng) % 7) {
    case 0: /* write */
        ok = fifo_write(f, source + m->tail, len) == FIFO_OK;
        memcpy(m->buf + m->tail, source + m->tail, len);
        m->tail += len;
        break;
    case 1: /* read */
        got = fifo_read(f, scratch, len);
        ok = got == (len < have ? len : have) && memcmp(scratch, m->buf + m->head, got) == 0;
        m->head += got;
        break;
    case 2: /* peek */
        got = fifo_peek(f, scratch, len);
        ok = got == (len < have ? len : have) && memcmp(scratch, m->buf + m->head, got) == 0;
        break;
    case 3: /* skip */
        got = fifo_skip(f, len);
        ok = got == (len < have ? len : have);
        m->head += got;
        break;
    case 4: /* reserve, fill part, commit */
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
    case 5: /* iovec peek, bounded by entries and bytes */
        n = fifo_peek_iov(f, iov, 1 + tu_rand(rng) % 4, len);
        got = 0;
        for (i = 0; i < n && ok; ++i) {
            ok = iov[i].iov_len > 0
                 && memcmp(iov[i].iov_base, m->buf + m->head + got, iov[i].iov_len) == 0;
            got += iov[i].iov_len;
        }
        ok = ok && got <= len && got <= have && (n > 0 || len == 0 || have == 0);
        break;
    default: /* length */ ok = fifo_length(f) == have; break;
    }
    tu_check(f, "random operation");
    return ok && within_bound(f, m->tail - m->head, seg, per);
}

static void test_model(size_t seg, unsigned ops, uint64_t seed)
{
    enum { CAP = 1 << 22 };
    struct model m = { malloc(CAP), 0, 0 };
    unsigned char *scratch = malloc(4 * seg + 8);
    unsigned char *source = malloc(CAP);
    fifo_t *f = fifo_create(seg, 0, 0);
    uint64_t rng = seed;
    size_t per = 0;
    unsigned i;
    int ok = 1;

    tu_fill(source, CAP, seed);
    for (i = 0; i < ops && ok && m.tail + 3 * seg + 3 < CAP; ++i) {
        ok = model_step(f, &m, &rng, seg, scratch, source, &per);
    }
    tu_ok(ok,
          "segment %zu: %u random operations agree with the model, and after each the "
          "memory held stays within the data plus a drained head, an empty tail and a spare",
          seg, i);
    tu_invariants_held("segment size: invariants held after every operation");
    fifo_destroy(f);
    free(scratch);
    free(source);
    free(m.buf);
}

static void test_create(void)
{
    fifo_t *f;
    fifo_stats_t st;

    tu_ok(fifo_create(0, 0, 0) == NULL, "segment size 0 is refused");
    tu_ok(fifo_create(16, 0, 0x80) == NULL, "unknown flags are refused");
    tu_ok(fifo_create((size_t)-1, 0, 0) == NULL, "a segment size that would wrap is refused");
    f = fifo_create(16, 0, 0);
    st = fifo_stats(f);
    tu_ok(f != NULL && st.length == 0 && st.segments == 0 && st.memory == 0 && st.peak_length == 0
              && st.peak_memory == 0 && st.writer_waits == 0 && st.writer_sleeps == 0
              && st.reader_waits == 0 && st.reader_sleeps == 0,
          "a new fifo is empty, holds no segment, has no peaks, waited for nothing");
    tu_is_long((long)fifo_segment_size(f), 16, "segment size is kept");
    tu_ok(fifo_space(f) == (size_t)-1, "no high-water mark: unlimited space");
    tu_check(f, "create");
    fifo_destroy(f);
    fifo_destroy(NULL);
    tu_invariants_held("create: invariants held");
}

/* Segment boundaries and the spare, counted through fifo_stats(). */
static void test_boundaries(void)
{
    fifo_t *f = fifo_create(4, 0, 0);
    unsigned char buf[16];
    size_t one;

    fifo_write(f, "abcd", 4);
    tu_check(f, "write 4");
    tu_is_long((long)fifo_stats(f).segments, 1,
               "exactly one segment's worth allocates one segment");
    one = fifo_memory(f);
    tu_ok(one >= 4 && one <= 4 + 128, "one segment's memory is its bytes and a small header (%zu)",
          one);
    fifo_write(f, "e", 1);
    tu_check(f, "write 1");
    tu_is_long((long)fifo_stats(f).segments, 2, "the next byte opens a second segment");
    tu_is_long((long)fifo_memory(f), (long)(2 * one), "memory counts both");
    tu_is_long((long)fifo_read(f, buf, 4), 4, "read a full segment");
    tu_check(f, "read 4");
    tu_is_long((long)fifo_stats(f).segments, 2, "the drained segment is kept as spare");
    fifo_write(f, "fghijkl", 7);
    tu_check(f, "write 7");
    tu_is_long((long)fifo_stats(f).segments, 2, "the spare is reused before allocating");
    fifo_write(f, "m", 1);
    tu_check(f, "write 1 more");
    tu_is_long((long)fifo_stats(f).segments, 3, "a third segment once both are full");
    tu_is_long((long)fifo_stats(f).peak_memory, (long)(3 * one), "peak memory: three segments");
    tu_is_long((long)fifo_read(f, buf, sizeof(buf)), 9, "read everything");
    tu_check(f, "read all");
    tu_ok(memcmp(buf, "efghijklm", 9) == 0, "bytes come out in order across segments");
    tu_is_long((long)fifo_stats(f).segments, 2,
               "drained: the tail segment and one spare remain, the rest is freed");
    tu_is_long((long)fifo_stats(f).peak_memory, (long)(3 * one), "the peak stays");
    tu_is_long((long)fifo_stats(f).peak_length, 9, "peak length: the 9 bytes held before the read");
    fifo_destroy(f);
    tu_invariants_held("boundaries: invariants held after every operation");
}

/*
 * A bounded fifo keeps what it frees as spares: filling it to the mark and
 * draining it again and again stops allocating after the first rounds.  The
 * drained tail stays in the chain (the producer writes there next), so the
 * second round needs one segment more than the first.
 */
static void test_bounded_spares(void)
{
    static const long want[] = { 3, 4, 4, 4 };
    fifo_t *f = fifo_create(4, 12, 0);
    unsigned char buf[16];
    size_t written = 0;
    size_t round;
    int ok = 1;

    for (round = 0; round < 4; ++round) {
        fifo_write_wait(f, "0123456789ab", 12, &written, 0);
        tu_check(f, "fill to the mark");
        ok = ok && written == 12 && fifo_stats(f).segments == (size_t)want[round];
        ok = ok && fifo_read(f, buf, 12) == 12 && fifo_stats(f).segments == (size_t)want[round];
        tu_check(f, "drain");
    }
    tu_ok(ok, "segments held through four fill/drain rounds: 3, 4, 4, 4");
    tu_is_long((long)fifo_stats(f).peak_memory, (long)fifo_memory(f), "the peak is what is held");
    fifo_destroy(f);
    tu_invariants_held("bounded spares: invariants held");
}

static void test_reserve(void)
{
    fifo_t *f = fifo_create(8, 0, 0);
    void *buf = NULL;
    void *buf2 = NULL;
    size_t avail = 0;
    size_t avail2 = 0;
    unsigned char out[8];

    tu_is_long(fifo_commit(f, 1), FIFO_EINVAL, "commit without a reservation is refused");
    tu_is_long(fifo_reserve(f, &buf, &avail), FIFO_OK, "reserve");
    tu_is_long((long)avail, 8, "a fresh segment offers all of itself");
    tu_is_long(fifo_reserve(f, &buf2, &avail2), FIFO_EINVAL,
               "a second open reservation is refused");
    tu_ok(buf2 == NULL && avail2 == 0, "and its out-parameters say so");
    tu_is_long(fifo_write(f, "x", 1), FIFO_EINVAL, "so is a write while one is open");
    tu_is_long(fifo_commit(f, 9), FIFO_EINVAL, "committing more than reserved is refused");
    memcpy(buf, "xyz", 3);
    tu_is_long((long)fifo_length(f), 0, "reserved bytes are invisible before commit");
    tu_is_long(fifo_commit(f, 3), FIFO_OK, "commit 3 (the reservation survived the refusal)");
    tu_check(f, "commit");
    tu_is_long(fifo_reserve(f, &buf, &avail), FIFO_OK, "reserve again");
    tu_is_long((long)avail, 5, "the rest of the tail is offered");
    tu_is_long(fifo_commit(f, 0), FIFO_OK, "commit 0 abandons the reservation");
    tu_check(f, "abandon");
    tu_ok(fifo_read(f, out, 8) == 3 && memcmp(out, "xyz", 3) == 0, "committed bytes read back");

    tu_is_long(fifo_reserve(f, &buf, &avail), FIFO_OK, "reserve before close");
    fifo_close_write(f);
    tu_check(f, "close with a reservation open");
    tu_is_long(fifo_commit(f, 1), FIFO_CLOSED, "close voids the reservation: commit is refused");
    tu_is_long((long)fifo_length(f), 0, "and published nothing");
    fifo_destroy(f);
    tu_invariants_held("reserve/commit: invariants held");
}

static void test_eof_and_high_water(void)
{
    fifo_t *f = fifo_create(4, 10, 0);
    size_t written = 0;
    size_t got = 0;
    unsigned char buf[32];

    tu_is_long((long)fifo_space(f), 10, "space starts at the high-water mark");
    tu_is_long(fifo_write_wait(f, "0123456789abc", 13, &written, 0), FIFO_EAGAIN,
               "a plain fifo cannot wait for room: EAGAIN");
    tu_is_long((long)written, 10, "it wrote up to the high-water mark");
    tu_is_long((long)fifo_space(f), 0, "no space left");
    tu_is_long(fifo_write(f, "X", 1), FIFO_OK, "plain fifo_write ignores the mark");
    tu_check(f, "over high water");
    tu_is_long(fifo_wait_writable(f, 0), FIFO_EAGAIN, "wait_writable on a full plain fifo");
    tu_is_long((long)fifo_read(f, buf, 11), 11, "drain");
    tu_is_long(fifo_wait_readable(f, 0), FIFO_EAGAIN, "wait_readable on an empty plain fifo");
    fifo_write(f, "tail", 4);
    fifo_close_write(f);
    tu_check(f, "close");
    tu_is_long(fifo_write(f, "more", 4), FIFO_CLOSED, "write after close fails");
    tu_is_long(fifo_wait_readable(f, 0), FIFO_OK, "not EOF while bytes remain");
    tu_is_long(fifo_read_wait(f, buf, 2, &got, -1), FIFO_OK, "read_wait returns data first");
    tu_is_long((long)got, 2, "read_wait returns at most len");
    tu_is_long(fifo_read_wait(f, buf, 8, &got, -1), FIFO_OK, "then the rest");
    tu_ok(got == 2 && memcmp(buf, "il", 2) == 0, "the bytes before close all arrive");
    tu_is_long(fifo_read_wait(f, buf, 8, &got, -1), FIFO_EOF, "then EOF");
    tu_is_long((long)got, 0, "with nothing read");
    tu_is_long(fifo_wait_readable(f, 0), FIFO_EOF, "wait_readable says EOF too");
    tu_check(f, "eof");
    fifo_destroy(f);
    tu_invariants_held("EOF and high water: invariants held");
}

/* A read loop `while (fifo_read_wait(...) == FIFO_OK)` must end: asking for
 * nothing is an error, not an endless success. */
static void test_read_wait_nothing(void)
{
    static const unsigned flags[] = { 0, FIFO_THREADSAFE };
    size_t i;

    for (i = 0; i < 2; ++i) {
        fifo_t *f = fifo_create(8, 0, flags[i]);
        unsigned char buf[4];
        size_t got = 99;

        fifo_write(f, "abc", 3);
        tu_is_long(fifo_read_wait(f, buf, 0, &got, -1), FIFO_EINVAL,
                   flags[i] ? "thread-safe: read_wait of 0 bytes is FIFO_EINVAL"
                            : "plain: read_wait of 0 bytes is FIFO_EINVAL");
        tu_ok(got == 0 && fifo_length(f) == 3, "nothing was read, nothing consumed");
        tu_check(f, "read_wait 0");
        fifo_destroy(f);
    }
    tu_invariants_held("read_wait 0: invariants held");
}

/* After fifo_abort the buffered bytes are gone for every read call alike,
 * and every write, commit and wait says FIFO_ABORTED. */
static void test_abort_discards(void)
{
    fifo_t *f = fifo_create(4, 0, FIFO_THREADSAFE);
    struct iovec iov[4];
    unsigned char buf[16];
    size_t n, got = 99, written = 99;
    size_t memory;
    void *res;
    size_t avail;

    fifo_write(f, "abcdefgh", 8);
    n = fifo_peek_iov(f, iov, 4, SIZE_MAX);
    tu_is_long((long)n, 2, "before abort: peek_iov sees two segments");
    tu_is_long(fifo_reserve(f, &res, &avail), FIFO_OK, "a reservation is open at the abort");
    memory = fifo_memory(f);
    fifo_abort(f);
    tu_check(f, "abort");
    tu_is_long((long)fifo_length(f), 0, "after abort: fifo_length is 0");
    tu_is_long((long)fifo_peek_iov(f, iov + 2, 2, SIZE_MAX), 0, "peek_iov sees nothing");
    tu_is_long((long)fifo_peek(f, buf, sizeof(buf)), 0, "peek copies nothing");
    tu_is_long((long)fifo_read(f, buf, sizeof(buf)), 0, "read copies nothing");
    tu_is_long((long)fifo_skip(f, 8), 0, "skip skips nothing");
    tu_is_long(fifo_wait_readable(f, -1), FIFO_ABORTED, "wait_readable: FIFO_ABORTED at once");
    tu_is_long(fifo_read_wait(f, buf, 4, &got, -1), FIFO_ABORTED, "read_wait: FIFO_ABORTED");
    tu_is_long((long)got, 0, "having read nothing");
    tu_is_long(fifo_commit(f, 2), FIFO_ABORTED, "the open reservation's commit: FIFO_ABORTED");
    tu_is_long(fifo_write(f, "x", 1), FIFO_ABORTED, "write: FIFO_ABORTED");
    tu_is_long(fifo_write_wait(f, "x", 1, &written, -1), FIFO_ABORTED, "write_wait: FIFO_ABORTED");
    tu_is_long((long)written, 0, "having written nothing");
    tu_is_long(fifo_reserve(f, &res, &avail), FIFO_ABORTED, "reserve: FIFO_ABORTED");
    tu_is_long(fifo_wait_writable(f, -1), FIFO_ABORTED, "wait_writable: FIFO_ABORTED");
    tu_ok(memcmp(iov[0].iov_base, "abcd", 4) == 0 && memcmp(iov[1].iov_base, "efgh", 4) == 0,
          "memory handed out before the abort is still valid and unchanged");
    tu_is_long((long)fifo_memory(f), (long)memory, "and held until fifo_destroy");
    tu_check(f, "after abort");
    fifo_destroy(f);
    tu_invariants_held("abort: invariants held");
}

static void test_strerror(void)
{
    int codes[] = { FIFO_OK,     FIFO_EOF,    FIFO_EAGAIN, FIFO_TIMEOUT, FIFO_ABORTED,
                    FIFO_CLOSED, FIFO_ENOMEM, FIFO_EINVAL, FIFO_EPROTO,  FIFO_ELIMIT };
    size_t i;
    int ok = 1;

    for (i = 0; i < sizeof(codes) / sizeof(codes[0]); ++i) {
        ok = ok && strcmp(fifo_strerror(codes[i]), "unknown status") != 0;
    }
    tu_ok(ok, "every status has a description");
    tu_is_str(fifo_strerror(12345), "unknown status", "unknown codes are named so");
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

    if (w->write_side) {
        w->rc = fifo_write_wait(w->f, buf, sizeof(buf), &n, -1);
    }
    else {
        w->rc = fifo_read_wait(w->f, buf, sizeof(buf), &n, -1);
    }
    return NULL;
}

/* Starts a thread blocked on one side, then wakes it with action once the
 * sleep counter says it is asleep (it counts with the lock held, which the
 * action needs too, so the action cannot come before the sleep). */
static int wake_with(int write_side, void (*action)(fifo_t *), int *slept)
{
    struct waiter w;
    pthread_t t;
    int i;

    w.f = fifo_create(16, 8, FIFO_THREADSAFE);
    w.write_side = write_side;
    w.rc = 12345;
    pthread_create(&t, NULL, waiter_main, &w);
    for (i = 0; i < 500; ++i) {
        fifo_stats_t st = fifo_stats(w.f);
        if ((write_side ? st.writer_sleeps : st.reader_sleeps) > 0) {
            break;
        }
        usleep(2000);
    }
    *slept = i < 500;
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
    int slept = 0;
    double t0;

    t0 = tu_now();
    tu_is_long(fifo_wait_readable(f, 80), FIFO_TIMEOUT, "wait_readable times out when empty");
    tu_ok(tu_now() - t0 >= 0.079, "and only after the timeout");
    tu_is_long(fifo_read_wait(f, buf, 1, &n, 0), FIFO_TIMEOUT, "timeout 0 polls");
    t0 = tu_now();
    tu_is_long(fifo_write_wait(f, buf, 64, &n, 80), FIFO_TIMEOUT,
               "write_wait times out at the high-water mark");
    tu_ok(tu_now() - t0 >= 0.079, "after the timeout");
    tu_is_long((long)n, 32, "having written exactly up to the mark");
    tu_is_long(fifo_wait_writable(f, 10), FIFO_TIMEOUT, "wait_writable times out while full");
    tu_ok(fifo_stats(f).writer_waits == 2 && fifo_stats(f).writer_sleeps == 2,
          "each timed-out writer call waited once and slept once");
    tu_ok(fifo_stats(f).reader_waits == 1 && fifo_stats(f).reader_sleeps == 1,
          "the timed-out reader call waited and slept once; timeout 0 did not wait");
    tu_check(f, "timeouts");
    fifo_destroy(f);

    tu_is_long(wake_with(0, fifo_abort, &slept), FIFO_ABORTED, "abort wakes a blocked reader");
    tu_ok(slept, "which had gone to sleep");
    tu_is_long(wake_with(1, fifo_abort, &slept), FIFO_ABORTED, "abort wakes a blocked writer");
    tu_ok(slept, "which had gone to sleep");
    tu_is_long(wake_with(0, fifo_close_write, &slept), FIFO_EOF,
               "close wakes a blocked reader with EOF");
    tu_ok(slept, "which had gone to sleep");
    tu_invariants_held("blocking: invariants held");
}

/* ---- high-water bound with a real producer ---- */

enum { HW_SEG = 1024, HW_MARK = 16 * 1024, HW_PIECE = 3000 };

struct bounded {
    fifo_t *f;
    size_t total;
};

static void *bounded_producer(void *arg)
{
    struct bounded *b = arg;
    unsigned char chunk[HW_PIECE];
    size_t sent = 0;

    memset(chunk, 'p', sizeof(chunk));
    while (sent < b->total) {
        size_t n = 0;
        size_t len = b->total - sent < sizeof(chunk) ? b->total - sent : sizeof(chunk);
        if (fifo_write_wait(b->f, chunk, len, &n, -1) != FIFO_OK) {
            break;
        }
        sent += n;
    }
    fifo_close_write(b->f);
    return NULL;
}

/*
 * A producer faster than its consumer (which naps now and then) fills the
 * fifo to the mark and waits there, again and again; the fifo never holds
 * more than the mark, nor more memory than the mark plus a drained head,
 * an empty tail and a spare.
 */
static void test_high_water_bound(void)
{
    struct bounded b;
    pthread_t t;
    size_t got = 0;
    size_t max_len = 0;
    size_t reads = 0;
    unsigned char buf[700];
    fifo_stats_t st;
    int rc = FIFO_OK;

    b.f = fifo_create(HW_SEG, HW_MARK, FIFO_THREADSAFE);
    b.total = 4 * 1024 * 1024;
    pthread_create(&t, NULL, bounded_producer, &b);
    while (rc == FIFO_OK) {
        size_t n = 0;
        size_t len = fifo_length(b.f);
        max_len = len > max_len ? len : max_len;
        if (++reads % 32 == 0) {
            usleep(100);
        }
        rc = fifo_read_wait(b.f, buf, sizeof(buf), &n, 5000);
        got += n;
    }
    pthread_join(t, NULL);
    tu_check(b.f, "after the producer ended");
    st = fifo_stats(b.f);
    tu_is_long(rc, FIFO_EOF, "the slow consumer reaches EOF");
    tu_is_long((long)got, (long)b.total, "and receives every byte");
    tu_ok(st.peak_length <= HW_MARK && max_len <= HW_MARK,
          "the buffer never held more than the high-water mark (peak %zu, seen %zu)",
          st.peak_length, max_len);
    tu_ok(st.peak_length >= HW_MARK - sizeof(buf),
          "it was filled to within one read of the mark (peak %zu of %d)", st.peak_length, HW_MARK);
    tu_ok(st.writer_waits > 0, "the writer waited at the mark (%llu times, %llu asleep)",
          (unsigned long long)st.writer_waits, (unsigned long long)st.writer_sleeps);
    tu_ok(st.peak_memory <= (HW_MARK / HW_SEG + 3) * (HW_SEG + 64),
          "memory stayed within the mark plus a drained head, an empty tail and a spare (%zu)",
          st.peak_memory);
    fifo_destroy(b.f);
    tu_invariants_held("high-water bound: invariants held");
}

int main(void)
{
    static const size_t segs[] = { 1, 2, 3, 7, 64, 4096 };
    size_t i;

    test_create();
    test_boundaries();
    test_bounded_spares();
    test_reserve();
    test_eof_and_high_water();
    test_read_wait_nothing();
    test_abort_discards();
    test_strerror();
    for (i = 0; i < sizeof(segs) / sizeof(segs[0]); ++i) {
        test_model(segs[i], 20000, 0x9e3779b97f4a7c15ULL + i);
    }
    test_blocking();
    test_high_water_bound();
    return tu_done();
}
