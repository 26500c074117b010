/*
 * fifo.c: the elastic segmented FIFO.  INTERNALS.md describes the layout,
 * the invariants fifo_check() verifies, and the locking rules.
 */
/* posix_memalign, clock_gettime, pthread_condattr_setclock */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fifo.h"

/* How many segments one copy step looks at between two lock round trips. */
#define FIFO_COPY_BATCH 16

/* Segment data starts on a cache line: memcpy into and out of misaligned
 * data measurably slows large copies. */
#define FIFO_SEG_ALIGN 64

struct fifo_seg {
    struct fifo_seg *next;
    size_t start;               /* first unread byte */
    size_t end;                 /* one past the last committed byte */
    _Alignas(FIFO_SEG_ALIGN) unsigned char data[];   /* segment_size bytes */
};

struct fifo {
    struct fifo_seg *head;      /* oldest segment, read from */
    struct fifo_seg *tail;      /* newest segment, written to */
    struct fifo_seg *spare;     /* one drained segment kept for reuse */
    size_t seg_size;
    size_t nsegs;               /* segments in the chain, spare excluded */
    size_t length;              /* committed, unread bytes */
    size_t high_water;          /* 0: none */
    size_t reserved;            /* size of the open reservation, 0: none */
    int closed;
    int aborted;
    int threadsafe;
    unsigned waiting_readers;
    unsigned waiting_writers;
    pthread_mutex_t mutex;
    pthread_cond_t readable;
    pthread_cond_t writable;
};

const char *fifo_strerror(int status)
{
    switch (status) {
    case FIFO_OK:      return "success";
    case FIFO_EOF:     return "end of data";
    case FIFO_EAGAIN:  return "would block";
    case FIFO_TIMEOUT: return "timed out";
    case FIFO_ABORTED: return "aborted";
    case FIFO_CLOSED:  return "write after close";
    case FIFO_ENOMEM:  return "out of memory";
    case FIFO_EINVAL:  return "invalid argument";
    case FIFO_EPROTO:  return "malformed input";
    case FIFO_ELIMIT:  return "limit exceeded";
    default:           return "unknown status";
    }
}

/* ---- locking: no-ops on a plain fifo ---- */

static void fifo_lock(fifo_t *f)
{
    if (f->threadsafe)
        pthread_mutex_lock(&f->mutex);
}

static void fifo_unlock(fifo_t *f)
{
    if (f->threadsafe)
        pthread_mutex_unlock(&f->mutex);
}

/* Absolute CLOCK_MONOTONIC deadline, so a wall-clock change cannot stretch
 * or cut a timeout. */
static struct timespec fifo_deadline(int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec += 1;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/*
 * One wait on cond with the lock held.  Returns FIFO_OK when woken (the
 * caller re-checks its condition), FIFO_TIMEOUT past the deadline, and
 * FIFO_EAGAIN on a plain fifo, which has nobody to wake it.
 */
static int fifo_wait_locked(fifo_t *f, pthread_cond_t *cond, unsigned *waiters,
                            int timeout_ms, const struct timespec *deadline)
{
    int rc = FIFO_OK;

    if (!f->threadsafe) {
        rc = FIFO_EAGAIN;
    } else if (timeout_ms == 0) {
        rc = FIFO_TIMEOUT;
    } else {
        ++*waiters;
        if (timeout_ms < 0)
            pthread_cond_wait(cond, &f->mutex);
        else if (pthread_cond_timedwait(cond, &f->mutex, deadline) == ETIMEDOUT)
            rc = FIFO_TIMEOUT;
        --*waiters;
    }
    return rc;
}

static size_t fifo_space_locked(const fifo_t *f)
{
    if (f->high_water == 0)
        return SIZE_MAX;
    return f->length >= f->high_water ? 0 : f->high_water - f->length;
}

/* ---- creation ---- */

fifo_t *fifo_create(size_t segment_size, size_t high_water, unsigned flags)
{
    fifo_t *f = NULL;
    pthread_condattr_t attr;

    /* The segment header and its data are one allocation: refuse sizes whose
     * sum would wrap. */
    if (segment_size == 0 || segment_size > SIZE_MAX - sizeof(struct fifo_seg)
        || (flags & ~FIFO_THREADSAFE) != 0)
        return NULL;
    f = calloc(1, sizeof(*f));
    if (f == NULL)
        return NULL;
    f->seg_size = segment_size;
    f->high_water = high_water;
    f->threadsafe = (flags & FIFO_THREADSAFE) != 0;
    if (f->threadsafe) {
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_mutex_init(&f->mutex, NULL);
        pthread_cond_init(&f->readable, &attr);
        pthread_cond_init(&f->writable, &attr);
        pthread_condattr_destroy(&attr);
    }
    return f;
}

static void fifo_free_chain(struct fifo_seg *seg)
{
    while (seg != NULL) {
        struct fifo_seg *next = seg->next;
        free(seg);
        seg = next;
    }
}

void fifo_destroy(fifo_t *f)
{
    if (f == NULL)
        return;
    fifo_free_chain(f->head);
    free(f->spare);
    if (f->threadsafe) {
        pthread_cond_destroy(&f->writable);
        pthread_cond_destroy(&f->readable);
        pthread_mutex_destroy(&f->mutex);
    }
    free(f);
}

size_t fifo_length(fifo_t *f)
{
    size_t n;
    fifo_lock(f);
    n = f->length;
    fifo_unlock(f);
    return n;
}

size_t fifo_segment_size(const fifo_t *f)
{
    return f->seg_size;
}

size_t fifo_memory(fifo_t *f)
{
    size_t n;
    fifo_lock(f);
    n = (f->nsegs + (f->spare != NULL)) * (sizeof(struct fifo_seg) + f->seg_size);
    fifo_unlock(f);
    return n;
}

size_t fifo_space(fifo_t *f)
{
    size_t n;
    fifo_lock(f);
    n = fifo_space_locked(f);
    fifo_unlock(f);
    return n;
}

/* ---- write side ---- */

static void fifo_link_tail(fifo_t *f, struct fifo_seg *seg)
{
    seg->start = 0;
    seg->end = 0;
    seg->next = NULL;
    if (f->tail != NULL)
        f->tail->next = seg;
    else
        f->head = seg;
    f->tail = seg;
    ++f->nsegs;
}

/*
 * Makes sure the tail has room and opens a reservation on it, lock held.
 * A new segment comes from the spare, else from malloc, which runs with the
 * lock released: only the producer adds segments, and the consumer can only
 * make the tail roomier meanwhile (by resetting a drained lone segment), so
 * the loop re-checks and keeps an allocation it ends up not needing.
 */
static int fifo_reserve_locked(fifo_t *f, void **buf, size_t *avail)
{
    struct fifo_seg *fresh = NULL;
    int rc = FIFO_OK;

    if (f->aborted)
        rc = FIFO_ABORTED;
    else if (f->closed)
        rc = FIFO_CLOSED;
    else if (f->reserved != 0)
        rc = FIFO_EINVAL;
    while (rc == FIFO_OK && (f->tail == NULL || f->tail->end == f->seg_size)) {
        if (f->spare != NULL) {
            fifo_link_tail(f, f->spare);
            f->spare = NULL;
        } else if (fresh != NULL) {
            fifo_link_tail(f, fresh);
            fresh = NULL;
        } else {
            void *mem = NULL;
            fifo_unlock(f);
            if (posix_memalign(&mem, FIFO_SEG_ALIGN, sizeof(*fresh) + f->seg_size) == 0)
                fresh = mem;
            fifo_lock(f);
            if (fresh == NULL)
                rc = FIFO_ENOMEM;
        }
    }
    if (fresh != NULL) {
        if (f->spare == NULL)
            f->spare = fresh;
        else
            free(fresh);
    }
    if (rc == FIFO_OK) {
        *buf = f->tail->data + f->tail->end;
        *avail = f->seg_size - f->tail->end;
        f->reserved = *avail;
    }
    return rc;
}

int fifo_reserve(fifo_t *f, void **buf, size_t *avail)
{
    int rc;
    fifo_lock(f);
    rc = fifo_reserve_locked(f, buf, avail);
    fifo_unlock(f);
    return rc;
}

int fifo_commit(fifo_t *f, size_t n)
{
    int rc = FIFO_OK;

    fifo_lock(f);
    if (n > f->reserved || (n > 0 && f->reserved == 0)) {
        rc = FIFO_EINVAL;
    } else {
        if (f->reserved != 0)         /* a reservation is always on the tail */
            f->tail->end += n;
        f->length += n;
        f->reserved = 0;
        if (n > 0 && f->waiting_readers > 0)
            pthread_cond_signal(&f->readable);
    }
    fifo_unlock(f);
    return rc;
}

int fifo_write(fifo_t *f, const void *data, size_t len)
{
    const unsigned char *p = data;
    int rc = FIFO_OK;

    while (len > 0 && rc == FIFO_OK) {
        void *buf;
        size_t avail;
        rc = fifo_reserve(f, &buf, &avail);
        if (rc == FIFO_OK) {
            size_t take = len < avail ? len : avail;
            memcpy(buf, p, take);
            rc = fifo_commit(f, take);
            p += take;
            len -= take;
        }
    }
    return rc;
}

void fifo_close_write(fifo_t *f)
{
    fifo_lock(f);
    f->closed = 1;
    if (f->threadsafe) {
        pthread_cond_broadcast(&f->readable);
        pthread_cond_broadcast(&f->writable);
    }
    fifo_unlock(f);
}

void fifo_abort(fifo_t *f)
{
    fifo_lock(f);
    f->aborted = 1;
    if (f->threadsafe) {
        pthread_cond_broadcast(&f->readable);
        pthread_cond_broadcast(&f->writable);
    }
    fifo_unlock(f);
}

/* ---- read side ---- */

/* Describes up to max readable bytes starting offset bytes past the head. */
static size_t fifo_iov_locked(const fifo_t *f, size_t offset, struct iovec *iov,
                              size_t iovcnt, size_t max)
{
    const struct fifo_seg *seg = f->head;
    size_t n = 0;
    size_t limit = 0;

    if (offset < f->length)
        limit = f->length - offset < max ? f->length - offset : max;
    while (seg != NULL && n < iovcnt && limit > 0) {
        size_t avail = seg->end - seg->start;
        if (offset >= avail) {
            offset -= avail;
        } else {
            size_t take = avail - offset < limit ? avail - offset : limit;
            iov[n].iov_base = (void *)(seg->data + seg->start + offset);
            iov[n].iov_len = take;
            ++n;
            limit -= take;
            offset = 0;
        }
        seg = seg->next;
    }
    return n;
}

/*
 * Consumes n <= length bytes, lock held.  Drained segments other than the
 * tail leave the chain: the first becomes the spare, the rest go to *dead,
 * freed by the caller after unlocking.  A drained tail stays (the producer
 * writes there next) and is rewound unless a reservation points into it.
 */
static void fifo_skip_locked(fifo_t *f, size_t n, struct fifo_seg **dead)
{
    f->length -= n;
    while (n > 0 || (f->head != f->tail && f->head->start == f->head->end)) {
        struct fifo_seg *seg = f->head;
        size_t avail = seg->end - seg->start;
        size_t take = n < avail ? n : avail;

        seg->start += take;
        n -= take;
        if (seg->start == seg->end && seg != f->tail) {
            f->head = seg->next;
            --f->nsegs;
            if (f->spare == NULL) {
                f->spare = seg;
            } else {
                seg->next = *dead;
                *dead = seg;
            }
        }
    }
    if (f->head != NULL && f->head == f->tail && f->head->start == f->head->end
        && f->reserved == 0) {
        f->head->start = 0;
        f->head->end = 0;
    }
    if (f->waiting_writers > 0 && fifo_space_locked(f) > 0)
        pthread_cond_signal(&f->writable);
}

size_t fifo_skip(fifo_t *f, size_t len)
{
    struct fifo_seg *dead = NULL;

    fifo_lock(f);
    if (len > f->length)
        len = f->length;
    if (len > 0)
        fifo_skip_locked(f, len, &dead);
    fifo_unlock(f);
    fifo_free_chain(dead);
    return len;
}

size_t fifo_peek_iov(fifo_t *f, struct iovec *iov, size_t iovcnt, size_t max_bytes)
{
    size_t n;
    fifo_lock(f);
    n = fifo_iov_locked(f, 0, iov, iovcnt, max_bytes);
    fifo_unlock(f);
    return n;
}

/*
 * Copies up to len bytes out, consuming them when consume is set.  The
 * copying runs unlocked: the consumer owns the bytes it was shown until it
 * skips them, so the producer keeps writing meanwhile.
 */
static size_t fifo_copy_out(fifo_t *f, unsigned char *buf, size_t len, int consume)
{
    size_t done = 0;
    size_t n = 1;

    while (done < len && n > 0) {
        struct iovec iov[FIFO_COPY_BATCH];
        size_t i;
        size_t got = 0;

        fifo_lock(f);
        n = fifo_iov_locked(f, consume ? 0 : done, iov, FIFO_COPY_BATCH, len - done);
        fifo_unlock(f);
        for (i = 0; i < n; ++i) {
            memcpy(buf + done + got, iov[i].iov_base, iov[i].iov_len);
            got += iov[i].iov_len;
        }
        if (consume && got > 0)
            fifo_skip(f, got);
        done += got;
    }
    return done;
}

size_t fifo_read(fifo_t *f, void *buf, size_t len)
{
    return fifo_copy_out(f, buf, len, 1);
}

size_t fifo_peek(fifo_t *f, void *buf, size_t len)
{
    return fifo_copy_out(f, buf, len, 0);
}

int fifo_is_eof(fifo_t *f)
{
    int eof;
    fifo_lock(f);
    eof = f->closed && f->length == 0;
    fifo_unlock(f);
    return eof;
}

/* ---- blocking mode ---- */

/* Waits, lock held, until bytes are readable or the stream ended. */
static int fifo_wait_readable_locked(fifo_t *f, int timeout_ms)
{
    struct timespec deadline = { 0, 0 };
    int rc = FIFO_OK;

    if (timeout_ms > 0)
        deadline = fifo_deadline(timeout_ms);
    while (rc == FIFO_OK && !f->aborted && f->length == 0 && !f->closed)
        rc = fifo_wait_locked(f, &f->readable, &f->waiting_readers, timeout_ms, &deadline);
    if (f->aborted)
        rc = FIFO_ABORTED;
    else if (f->length > 0)
        rc = FIFO_OK;
    else if (f->closed)
        rc = FIFO_EOF;
    return rc;
}

int fifo_wait_readable(fifo_t *f, int timeout_ms)
{
    int rc;
    fifo_lock(f);
    rc = fifo_wait_readable_locked(f, timeout_ms);
    fifo_unlock(f);
    return rc;
}

int fifo_read_wait(fifo_t *f, void *buf, size_t len, size_t *got, int timeout_ms)
{
    int rc = fifo_wait_readable(f, timeout_ms);

    *got = 0;
    if (rc == FIFO_OK)
        *got = fifo_read(f, buf, len);
    return rc;
}

/* Waits, lock held, until the high-water mark leaves room. */
static int fifo_wait_writable_locked(fifo_t *f, const struct timespec *deadline,
                                     int timeout_ms)
{
    int rc = FIFO_OK;

    while (rc == FIFO_OK && !f->aborted && !f->closed && fifo_space_locked(f) == 0)
        rc = fifo_wait_locked(f, &f->writable, &f->waiting_writers, timeout_ms, deadline);
    if (f->aborted)
        rc = FIFO_ABORTED;
    else if (f->closed)
        rc = FIFO_CLOSED;
    else if (fifo_space_locked(f) > 0)
        rc = FIFO_OK;
    return rc;
}

int fifo_wait_writable(fifo_t *f, int timeout_ms)
{
    struct timespec deadline = { 0, 0 };
    int rc;

    if (timeout_ms > 0)
        deadline = fifo_deadline(timeout_ms);
    fifo_lock(f);
    rc = fifo_wait_writable_locked(f, &deadline, timeout_ms);
    fifo_unlock(f);
    return rc;
}

static int fifo_reserve_deadline(fifo_t *f, void **buf, size_t *avail,
                                 const struct timespec *deadline, int timeout_ms)
{
    int rc;

    fifo_lock(f);
    rc = fifo_wait_writable_locked(f, deadline, timeout_ms);
    if (rc == FIFO_OK)
        rc = fifo_reserve_locked(f, buf, avail);
    if (rc == FIFO_OK) {
        size_t space = fifo_space_locked(f);
        if (*avail > space)
            *avail = space;
        f->reserved = *avail;
    }
    fifo_unlock(f);
    return rc;
}

int fifo_reserve_wait(fifo_t *f, void **buf, size_t *avail, int timeout_ms)
{
    struct timespec deadline = { 0, 0 };

    if (timeout_ms > 0)
        deadline = fifo_deadline(timeout_ms);
    return fifo_reserve_deadline(f, buf, avail, &deadline, timeout_ms);
}

int fifo_write_wait(fifo_t *f, const void *data, size_t len, int timeout_ms,
                    size_t *written)
{
    const unsigned char *p = data;
    struct timespec deadline = { 0, 0 };
    size_t done = 0;
    int rc = FIFO_OK;

    if (timeout_ms > 0)
        deadline = fifo_deadline(timeout_ms);
    while (done < len && rc == FIFO_OK) {
        void *buf;
        size_t avail;
        rc = fifo_reserve_deadline(f, &buf, &avail, &deadline, timeout_ms);
        if (rc == FIFO_OK) {
            size_t take = len - done < avail ? len - done : avail;
            memcpy(buf, p + done, take);
            rc = fifo_commit(f, take);
            done += take;
        }
    }
    if (written != NULL)
        *written = done;
    return rc;
}

/* ---- the invariant checker ---- */

static const char *fifo_check_locked(const fifo_t *f)
{
    const struct fifo_seg *seg;
    size_t count = 0;
    size_t sum = 0;

    if ((f->head == NULL) != (f->tail == NULL))
        return "head and tail disagree on emptiness";
    for (seg = f->head; seg != NULL; seg = seg->next) {
        if (++count > f->nsegs)
            return "more segments in the chain than counted";
        if (seg->start > seg->end || seg->end > f->seg_size)
            return "segment offsets out of order";
        if (seg != f->head && seg->start != 0)
            return "a segment after the head was read from";
        if (seg != f->tail && seg->end != f->seg_size)
            return "a segment before the tail is not full";
        if (seg != f->tail && seg->start == seg->end)
            return "a drained segment before the tail was kept";
        if (seg->next == NULL && seg != f->tail)
            return "the chain does not end at the tail";
        sum += seg->end - seg->start;
    }
    if (count != f->nsegs)
        return "fewer segments in the chain than counted";
    if (sum != f->length)
        return "length differs from the bytes in the chain";
    if (f->reserved != 0 && (f->tail == NULL || f->reserved > f->seg_size - f->tail->end))
        return "the reservation exceeds the tail's room";
    if (f->spare != NULL && (f->spare == f->head || f->spare == f->tail))
        return "the spare segment is also in the chain";
    return NULL;
}

const char *fifo_check(fifo_t *f)
{
    const char *why;
    fifo_lock(f);
    why = fifo_check_locked(f);
    fifo_unlock(f);
    return why;
}
