/* fuzz-sources: fifo.c */
/* fuzz-libs: */
/*
 * fuzz_fifo.c: libFuzzer target for the fifo itself (fifo/fifo.c).
 *
 * The input is a program: its first bytes choose the segment size, the
 * high-water mark and the mode (plain or thread-safe, used from this one
 * thread with timeouts of 0), the rest is a sequence of operations with
 * their lengths.  A model (the stream position of the next byte to read
 * and to write, the flags, the peak) shadows the fifo; the byte at stream
 * position p is a function of p, so every byte read is checked without
 * storing the stream.
 *
 * Oracles, after every operation: fifo_check() finds the structure
 * consistent; every status, count and byte is the model's; the figures of
 * fifo_stats() agree with it; a bounded fifo written through the waiting
 * calls never holds more than its mark; memory stays within the data plus
 * a drained head, an empty tail and the spares a bounded fifo keeps.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fifo.h"

enum { FUZZ_MAX_LEN = 300 };

struct model {
    size_t head;     /* stream position of the next byte to read */
    size_t tail;     /* ... and to write */
    size_t reserved; /* open reservation, 0: none */
    size_t mark;     /* 0: none */
    size_t peak;
    int closed;
    int aborted;
    int threadsafe;
};

static unsigned char fuzz_byte(size_t pos)
{
    return (unsigned char)(pos * 131 + (pos >> 8) * 7 + 1);
}

static void fuzz_expect(int ok)
{
    if (!ok) {
        abort();
    }
}

/* The bytes at stream positions [pos, pos + n) in buf are the stream's. */
static int fuzz_stream_bytes(const unsigned char *buf, size_t pos, size_t n)
{
    size_t i;

    for (i = 0; i < n && buf[i] == fuzz_byte(pos + i); ++i) {
    }
    return i == n;
}

static size_t fuzz_readable(const struct model *m)
{
    return m->aborted ? 0 : m->tail - m->head;
}

/* What a write of len bytes should answer, in the model's terms. */
static int fuzz_write_status(const struct model *m)
{
    if (m->aborted) {
        return FIFO_ABORTED;
    }
    if (m->closed) {
        return FIFO_CLOSED;
    }
    return m->reserved != 0 ? FIFO_EINVAL : FIFO_OK;
}

static void fuzz_appended(struct model *m, size_t n)
{
    m->tail += n;
    m->peak = m->tail - m->head > m->peak ? m->tail - m->head : m->peak;
}

static void fuzz_write(fifo_t *f, struct model *m, size_t len, int waiting)
{
    unsigned char buf[FUZZ_MAX_LEN];
    size_t room =
        m->mark == 0 ? len : m->mark - (m->tail - m->head < m->mark ? m->tail - m->head : m->mark);
    size_t want = waiting && len > room ? room : len;
    size_t written = 0;
    size_t i;
    int state = fuzz_write_status(m);
    int rc;

    for (i = 0; i < len; ++i) {
        buf[i] = fuzz_byte(m->tail + i);
    }
    if (waiting) {
        int busy = m->threadsafe ? FIFO_TIMEOUT : FIFO_EAGAIN;
        rc = fifo_write_wait(f, buf, len, &written, 0);
        fuzz_expect(rc == (state != FIFO_OK ? state : want < len ? busy : FIFO_OK));
        fuzz_expect(written == (state == FIFO_OK ? want : 0));
    }
    else {
        rc = fifo_write(f, buf, len);
        fuzz_expect(rc == state);
        written = rc == FIFO_OK ? len : 0;
    }
    fuzz_appended(m, written);
}

static void fuzz_read(fifo_t *f, struct model *m, size_t len, int how)
{
    unsigned char buf[FUZZ_MAX_LEN];
    size_t have = fuzz_readable(m);
    size_t want = len < have ? len : have;
    size_t got = 0;
    int rc;

    switch (how) {
    case 0: got = fifo_read(f, buf, len); break;
    case 1: got = fifo_peek(f, buf, len); break;
    case 2: got = fifo_skip(f, len); break;
    default:
        rc = fifo_read_wait(f, buf, len, &got, 0);
        if (len == 0) {
            fuzz_expect(rc == FIFO_EINVAL);
        }
        else if (m->aborted) {
            fuzz_expect(rc == FIFO_ABORTED);
        }
        else if (have == 0) {
            fuzz_expect(rc == (m->closed ? FIFO_EOF : m->threadsafe ? FIFO_TIMEOUT : FIFO_EAGAIN));
        }
        else {
            fuzz_expect(rc == FIFO_OK);
        }
        want = rc == FIFO_OK ? want : 0;
        break;
    }
    fuzz_expect(got == want && (how == 2 || fuzz_stream_bytes(buf, m->head, got)));
    m->head += how == 1 ? 0 : got;
}

static void fuzz_peek_iov(fifo_t *f, const struct model *m, size_t cnt, size_t max)
{
    struct iovec iov[8];
    size_t have = fuzz_readable(m);
    size_t n = fifo_peek_iov(f, iov, cnt, max);
    size_t pos = m->head;
    size_t i;

    fuzz_expect(n <= cnt);
    for (i = 0; i < n; ++i) {
        fuzz_expect(iov[i].iov_len > 0 && fuzz_stream_bytes(iov[i].iov_base, pos, iov[i].iov_len));
        pos += iov[i].iov_len;
    }
    /* all of it, or as much as fits in the entries */
    fuzz_expect(pos - m->head <= max && pos - m->head <= have);
    fuzz_expect(n == cnt || pos - m->head == (max < have ? max : have));
}

/* Opens a reservation and fills it with the stream's next bytes. */
static void fuzz_reserve(fifo_t *f, struct model *m, int waiting)
{
    void *buf = NULL;
    size_t avail = 0;
    int rc = waiting ? fifo_reserve_wait(f, &buf, &avail, 0) : fifo_reserve(f, &buf, &avail);
    int expect = fuzz_write_status(m);

    if (expect == FIFO_OK && waiting && m->mark != 0 && m->tail - m->head >= m->mark) {
        expect = m->threadsafe ? FIFO_TIMEOUT : FIFO_EAGAIN;
    }
    fuzz_expect(rc == expect && (rc == FIFO_OK) == (avail > 0) && (rc == FIFO_OK) == (buf != NULL));
    if (rc == FIFO_OK) {
        size_t i;

        fuzz_expect(!waiting || m->mark == 0 || avail <= m->mark - (m->tail - m->head));
        m->reserved = avail;
        for (i = 0; i < avail; ++i) {
            ((unsigned char *)buf)[i] = fuzz_byte(m->tail + i);
        }
        fuzz_expect(fifo_check(f) == NULL);
    }
}

static void fuzz_commit(fifo_t *f, struct model *m, size_t n)
{
    int rc = fifo_commit(f, n);

    if (m->aborted) {
        fuzz_expect(rc == FIFO_ABORTED);
        m->reserved = 0;
    }
    else if (m->closed) {
        fuzz_expect(rc == FIFO_CLOSED);
    }
    else if (n > m->reserved) {
        fuzz_expect(rc == FIFO_EINVAL);
    }
    else {
        fuzz_expect(rc == FIFO_OK);
        fuzz_appended(m, n);
        m->reserved = 0;
    }
}

static void fuzz_waits(fifo_t *f, const struct model *m)
{
    int busy = m->threadsafe ? FIFO_TIMEOUT : FIFO_EAGAIN;
    int r = fifo_wait_readable(f, 0);
    int w = fifo_wait_writable(f, 0);

    if (m->aborted) {
        fuzz_expect(r == FIFO_ABORTED && w == FIFO_ABORTED);
        return;
    }
    fuzz_expect(r == (m->tail > m->head ? FIFO_OK : m->closed ? FIFO_EOF : busy));
    fuzz_expect(w
                == (m->closed                                      ? FIFO_CLOSED
                    : m->mark != 0 && m->tail - m->head >= m->mark ? busy
                                                                   : FIFO_OK));
}

/* The figures agree with the model, and memory stays bounded. */
static void fuzz_figures(fifo_t *f, const struct model *m, size_t seg)
{
    fifo_stats_t st = fifo_stats(f);
    size_t held = m->tail - m->head;
    size_t spares = m->mark == 0 ? 1 : m->mark / seg + 3;
    size_t most = (m->mark != 0 && held < m->mark ? m->mark : held) / seg + 3 + spares;

    fuzz_expect(fifo_check(f) == NULL);
    fuzz_expect(fifo_length(f) == fuzz_readable(m) && st.length == fuzz_readable(m));
    fuzz_expect(st.peak_length == m->peak);
    fuzz_expect(st.segments <= most && st.memory == fifo_memory(f));
    fuzz_expect(st.peak_memory >= st.memory && st.writer_waits == 0 && st.writer_sleeps == 0
                && st.reader_waits == 0 && st.reader_sleeps == 0);
    fuzz_expect(fifo_space(f) == (m->mark == 0 ? SIZE_MAX : held >= m->mark ? 0 : m->mark - held));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct model m;
    size_t seg, i;
    fifo_t *f;

    if (size < 3) {
        return 0;
    }
    memset(&m, 0, sizeof(m));
    seg = 1 + data[0] % 64 * (data[0] >= 192 ? 64 : 1);
    m.mark = data[1] < 64 ? 0 : 1 + data[1] % 128 * 4;
    m.threadsafe = data[2] & 1;
    f = fifo_create(seg, m.mark, m.threadsafe ? FIFO_THREADSAFE : 0);
    for (i = 3; i + 1 < size; i += 2) {
        size_t len = data[i + 1] % FUZZ_MAX_LEN;

        switch (data[i] % 16) {
        case 0:
        case 1: fuzz_write(f, &m, len, 0); break;
        case 2:
        case 3: fuzz_write(f, &m, len, 1); break;
        case 4:
        case 5: fuzz_read(f, &m, len, 0); break;
        case 6: fuzz_read(f, &m, len, 1); break;
        case 7: fuzz_read(f, &m, len, 2); break;
        case 8: fuzz_read(f, &m, len, 3); break;
        case 9: fuzz_peek_iov(f, &m, 1 + data[i + 1] % 8, len * 3); break;
        case 10:
            fuzz_reserve(f, &m, 0);
            fuzz_commit(f, &m, len < m.reserved ? len : 0);
            break;
        case 11:
            fuzz_reserve(f, &m, 1);
            fuzz_commit(f, &m, len < m.reserved ? len : m.reserved);
            break;
        case 12: /* a reservation left open across operations */
            if (m.reserved == 0) {
                fuzz_reserve(f, &m, 0);
            }
            else {
                fuzz_commit(f, &m, len % (m.reserved + 2));
            }
            break;
        case 13: fuzz_waits(f, &m); break;
        case 14:
            if (data[i + 1] < 8) {
                fifo_close_write(f);
                m.closed = 1;
                m.reserved = 0;
            }
            break;
        default:
            if (data[i + 1] < 4) {
                fifo_abort(f);
                m.aborted = 1;
            }
            break;
        }
        fuzz_figures(f, &m, seg);
    }
    fifo_destroy(f);
    return 0;
}
