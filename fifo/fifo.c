/*
 * fifo.c: the elastic segmented FIFO.  INTERNALS.md describes the layout,
 * the invariants fifo_check() verifies, and how two threads share it
 * without a lock on the way of the bytes.
 */
/* posix_memalign, clock_gettime, pthread_condattr_setclock */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fifo.h"

/* Segment data and each side's fields start on a cache line: misaligned
 * copies measurably slow large transfers, and the producer's and the
 * consumer's fields on one line would bounce it between cores on every
 * call. */
#define FIFO_LINE 64

/* Before a waiter sleeps it polls the other side's counter: FIFO_SPINS
 * times with a pause, which catches a hand-off between two threads running
 * on their own cores without a system call, then FIFO_YIELDS times after
 * giving the processor away, which lets the other side run where the two
 * share one. */
#define FIFO_SPINS  8
#define FIFO_YIELDS 16

/* The slow paths stay out of line, so that the common case of each call is
 * a few instructions around one memcpy. */
#if defined(__GNUC__)
#define FIFO_COLD __attribute__((cold, noinline))
#else
#define FIFO_COLD
#endif

/* The bits of fifo->stopped. */
#define FIFO_STOP_CLOSED  1
#define FIFO_STOP_ABORTED 2

/* fifo_wait's "keep waiting" answer; never returned to a caller. */
#define FIFO_NOT_READY 2

/* How many entries one copy step describes at a time. */
#define FIFO_COPY_BATCH 16

struct fifo_seg {
    /* Set by the producer before it publishes a byte in the next segment. */
    _Atomic(struct fifo_seg *) next;
    _Alignas(FIFO_LINE) unsigned char data[]; /* segment_size bytes */
};

/* How often one side had to wait, and how often it slept. */
struct fifo_waits {
    atomic_size_t waits;
    atomic_size_t sleeps;
};

struct fifo {
    /* Fixed at creation. */
    size_t seg_size;
    size_t high_water; /* SIZE_MAX: none */
    int threadsafe;
    int writers_wait;      /* thread-safe with a high-water mark */
    pthread_mutex_t mutex; /* only for sleeping and waking */
    pthread_cond_t readable;
    pthread_cond_t writable;

    /* Shared, written seldom. */
    _Atomic(struct fifo_seg *) first;  /* the first segment ever linked */
    _Atomic(struct fifo_seg *) spares; /* drained segments kept for reuse, */
    atomic_size_t nspares;             /* a stack of at most spares_max */
    size_t spares_max;
    atomic_int stopped;       /* FIFO_STOP_CLOSED | FIFO_STOP_ABORTED */
    atomic_int reader_asleep; /* set by a sleeper, cleared by its waker */
    atomic_int writer_asleep;
    atomic_size_t made;  /* segments allocated ... */
    atomic_size_t freed; /* ... and freed: held = made - freed */

    /* The two counters the sides meet in, each alone on its cache line: the
     * other side reads it while its owner keeps writing its own fields. */
    _Alignas(FIFO_LINE) atomic_size_t in;  /* bytes committed, ever (wraps) */
    _Alignas(FIFO_LINE) atomic_size_t out; /* bytes consumed, ever (wraps) */

    /* The producer's end: only the producer writes these. */
    _Alignas(FIFO_LINE) struct fifo_seg *tail; /* the segment written to */
    size_t tail_pos;                           /* bytes of the tail written (no tail: full) */
    size_t reserved;                           /* size of the open reservation, 0: none */
    size_t out_seen;                           /* the consumer's counter, as last read */
    size_t peak_from; /* out_seen + peak_length: an in past it may be a peak */
    atomic_size_t peak_length;
    atomic_size_t peak_segments;
    struct fifo_waits writer_waits;

    /* The consumer's end: only the consumer writes these. */
    _Alignas(FIFO_LINE) struct fifo_seg *head; /* the segment read from; NULL: first */
    size_t head_pos;                           /* bytes of the head consumed (no head: all) */
    size_t in_seen;                            /* the producer's counter, as last read */
    struct fifo_waits reader_waits;
};

/* An absolute CLOCK_MONOTONIC deadline, taken when a call first waits. */
struct fifo_deadline {
    int set;
    struct timespec at;
};

/* The consumer's walk over readable bytes that it does not consume. */
struct fifo_cursor {
    struct fifo_seg *seg;
    size_t pos;
    size_t left;
};

const char *fifo_strerror(int status)
{
    switch (status) {
    case FIFO_OK: return "success";
    case FIFO_EOF: return "end of data";
    case FIFO_EAGAIN: return "would block";
    case FIFO_TIMEOUT: return "timed out";
    case FIFO_ABORTED: return "aborted";
    case FIFO_CLOSED: return "write after close";
    case FIFO_ENOMEM: return "out of memory";
    case FIFO_EINVAL: return "invalid argument";
    case FIFO_EPROTO: return "malformed input";
    case FIFO_ELIMIT: return "limit exceeded";
    default: return "unknown status";
    }
}

static inline size_t fifo_min(size_t a, size_t b)
{
    return a < b ? a : b;
}

static size_t fifo_seg_bytes(const fifo_t *f)
{
    return sizeof(struct fifo_seg) + f->seg_size;
}

/* ---- creation ---- */

fifo_t *fifo_create(size_t segment_size, size_t high_water, unsigned flags)
{
    void *mem = NULL;
    fifo_t *f = NULL;
    pthread_condattr_t attr;

    /* The segment header and its data are one allocation: refuse sizes whose
     * sum would wrap. */
    if (segment_size == 0 || segment_size > SIZE_MAX - sizeof(struct fifo_seg)
        || (flags & ~FIFO_THREADSAFE) != 0) {
        return NULL;
    }
    if (posix_memalign(&mem, FIFO_LINE, sizeof(*f)) != 0) {
        return NULL;
    }
    f = memset(mem, 0, sizeof(*f));
    f->seg_size = segment_size;
    f->high_water = high_water == 0 ? SIZE_MAX : high_water;
    /* No segment yet counts as a full one on both ends: the common case
     * of a write or a read then needs no test for it. */
    f->tail_pos = segment_size;
    f->head_pos = segment_size;
    f->threadsafe = (flags & FIFO_THREADSAFE) != 0;
    f->writers_wait = f->threadsafe && high_water != 0;
    atomic_init(&f->first, NULL);
    atomic_init(&f->spares, NULL);
    /* A bounded fifo keeps every segment it may need again (the chain never
     * needs more than that, INTERNALS.md); an unbounded one keeps one. */
    f->spares_max = high_water == 0 ? 1 : high_water / segment_size + 3;
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

static void fifo_free_list(struct fifo_seg *seg)
{
    while (seg != NULL) {
        struct fifo_seg *next = atomic_load(&seg->next);
        free(seg);
        seg = next;
    }
}

void fifo_destroy(fifo_t *f)
{
    if (f == NULL) {
        return;
    }
    fifo_free_list(f->head != NULL ? f->head : atomic_load(&f->first));
    fifo_free_list(atomic_load(&f->spares));
    if (f->threadsafe) {
        pthread_cond_destroy(&f->writable);
        pthread_cond_destroy(&f->readable);
        pthread_mutex_destroy(&f->mutex);
    }
    free(f);
}

/* ---- figures ---- */

size_t fifo_length(fifo_t *f)
{
    size_t out = atomic_load(&f->out);
    size_t n = atomic_load(&f->in) - out;

    return atomic_load(&f->stopped) & FIFO_STOP_ABORTED ? 0 : n;
}

size_t fifo_segment_size(const fifo_t *f)
{
    return f->seg_size;
}

size_t fifo_memory(fifo_t *f)
{
    size_t freed = atomic_load(&f->freed);

    return (atomic_load(&f->made) - freed) * fifo_seg_bytes(f);
}

size_t fifo_space(fifo_t *f)
{
    size_t used;

    if (f->high_water == SIZE_MAX) {
        return SIZE_MAX;
    }
    used = atomic_load(&f->in) - atomic_load(&f->out);
    return used >= f->high_water ? 0 : f->high_water - used;
}

fifo_stats_t fifo_stats(fifo_t *f)
{
    fifo_stats_t st;

    st.length = fifo_length(f);
    st.peak_length = atomic_load_explicit(&f->peak_length, memory_order_relaxed);
    st.memory = fifo_memory(f);
    st.segments = st.memory / fifo_seg_bytes(f);
    st.peak_memory =
        atomic_load_explicit(&f->peak_segments, memory_order_relaxed) * fifo_seg_bytes(f);
    st.writer_waits = atomic_load_explicit(&f->writer_waits.waits, memory_order_relaxed);
    st.writer_sleeps = atomic_load_explicit(&f->writer_waits.sleeps, memory_order_relaxed);
    st.reader_waits = atomic_load_explicit(&f->reader_waits.waits, memory_order_relaxed);
    st.reader_sleeps = atomic_load_explicit(&f->reader_waits.sleeps, memory_order_relaxed);
    return st;
}

/* Raises a peak figure that only one side writes. */
static void fifo_note_peak(atomic_size_t *peak, size_t value)
{
    if (value > atomic_load_explicit(peak, memory_order_relaxed)) {
        atomic_store_explicit(peak, value, memory_order_relaxed);
    }
}

/* ---- segments ---- */

/*
 * Producer: a segment to link at the tail, a spare if the consumer left
 * one, else a new one.  Only the producer pops spares, so the top it read
 * cannot be popped and pushed again before its exchange succeeds (no ABA);
 * the acquire pairs with the consumer's release in fifo_seg_release, so
 * its last reads of the segment come before our writes.
 */
static struct fifo_seg *fifo_seg_get(fifo_t *f)
{
    struct fifo_seg *seg = atomic_load_explicit(&f->spares, memory_order_acquire);
    struct fifo_seg *next = NULL;

    do {
        next = seg != NULL ? atomic_load_explicit(&seg->next, memory_order_relaxed) : NULL;
    } while (seg != NULL
             && !atomic_compare_exchange_weak_explicit(&f->spares, &seg, next, memory_order_acquire,
                                                       memory_order_acquire));
    if (seg != NULL) {
        atomic_fetch_sub(&f->nspares, 1);
    }
    else {
        void *mem = NULL;

        if (posix_memalign(&mem, FIFO_LINE, fifo_seg_bytes(f)) == 0) {
            size_t made = atomic_fetch_add(&f->made, 1) + 1;
            seg = mem;
            fifo_note_peak(&f->peak_segments, made - atomic_load(&f->freed));
        }
    }
    if (seg != NULL) {
        atomic_store_explicit(&seg->next, NULL, memory_order_relaxed);
    }
    return seg;
}

static void fifo_seg_free(fifo_t *f, struct fifo_seg *seg)
{
    free(seg);
    atomic_fetch_add(&f->freed, 1);
}

/* Consumer: a segment it is done with becomes a spare, or goes back to the
 * allocator when there are enough.  The count is raised before the push,
 * so that it never falls below the stack's size. */
static void fifo_seg_release(fifo_t *f, struct fifo_seg *seg)
{
    if (atomic_load_explicit(&f->nspares, memory_order_relaxed) < f->spares_max) {
        struct fifo_seg *top = atomic_load_explicit(&f->spares, memory_order_relaxed);

        atomic_fetch_add(&f->nspares, 1);
        do {
            atomic_store_explicit(&seg->next, top, memory_order_relaxed);
        } while (!atomic_compare_exchange_weak_explicit(&f->spares, &top, seg, memory_order_release,
                                                        memory_order_relaxed));
    }
    else {
        fifo_seg_free(f, seg);
    }
}

/* Producer: makes seg the tail.  The release pairs with the consumer's
 * acquire when it steps into the segment. */
static void fifo_link(fifo_t *f, struct fifo_seg *seg)
{
    if (f->tail == NULL) {
        atomic_store_explicit(&f->first, seg, memory_order_release);
    }
    else {
        atomic_store_explicit(&f->tail->next, seg, memory_order_release);
    }
    f->tail = seg;
    f->tail_pos = 0;
}

/* ---- sleeping and waking ---- */

static void fifo_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* The other side sleeps: wake it, once.  The exchange keeps a stream of
 * commits from signalling again while the sleeper is still waking up. */
FIFO_COLD static void fifo_wake(fifo_t *f, atomic_int *asleep, pthread_cond_t *cond)
{
    if (atomic_exchange(asleep, 0)) {
        pthread_mutex_lock(&f->mutex);
        pthread_cond_signal(cond);
        pthread_mutex_unlock(&f->mutex);
    }
}

/* Wakes the other side if it sleeps.  The caller's sequentially consistent
 * store of its counter and this load of the other side's flag pair with
 * the sleeper's flag store and counter load in fifo_wait: one of the two
 * sees the other, so no wake-up is lost (INTERNALS.md, "Two threads"). */
static inline void fifo_wake_other(fifo_t *f, atomic_int *asleep, pthread_cond_t *cond)
{
    if (atomic_load(asleep)) {
        fifo_wake(f, asleep, cond);
    }
}

/* Sets a stop bit under the lock and wakes every sleeper of both sides. */
static void fifo_raise(fifo_t *f, int bit)
{
    if (f->threadsafe) {
        pthread_mutex_lock(&f->mutex);
    }
    atomic_fetch_or(&f->stopped, bit);
    if (f->threadsafe) {
        pthread_cond_broadcast(&f->readable);
        pthread_cond_broadcast(&f->writable);
        pthread_mutex_unlock(&f->mutex);
    }
}

/*
 * Waits until ready() answers something other than FIFO_NOT_READY: first a
 * few polls, then asleep on cond with the lock, counting the wait and the
 * sleep in counts.  FIFO_EAGAIN on a plain fifo, which has nobody to wake
 * it; FIFO_TIMEOUT past the deadline.
 */
static int fifo_wait(fifo_t *f, int (*ready)(fifo_t *), pthread_cond_t *cond, atomic_int *asleep,
                     struct fifo_waits *counts, int timeout_ms, struct fifo_deadline *dl)
{
    int rc = ready(f);
    int spins = 0;

    if (rc != FIFO_NOT_READY) {
        return rc;
    }
    if (!f->threadsafe) {
        return FIFO_EAGAIN;
    }
    if (timeout_ms == 0) {
        return FIFO_TIMEOUT;
    }
    atomic_fetch_add_explicit(&counts->waits, 1, memory_order_relaxed);
    if (timeout_ms > 0 && !dl->set) {
        clock_gettime(CLOCK_MONOTONIC, &dl->at);
        dl->at.tv_sec += timeout_ms / 1000;
        dl->at.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (dl->at.tv_nsec >= 1000000000L) {
            dl->at.tv_sec += 1;
            dl->at.tv_nsec -= 1000000000L;
        }
        dl->set = 1;
    }
    while (rc == FIFO_NOT_READY && spins++ < FIFO_SPINS + FIFO_YIELDS) {
        if (spins <= FIFO_SPINS) {
            fifo_pause();
        }
        else {
            sched_yield();
        }
        rc = ready(f);
    }
    if (rc == FIFO_NOT_READY) {
        pthread_mutex_lock(&f->mutex);
        atomic_fetch_add_explicit(&counts->sleeps, 1, memory_order_relaxed);
        while (rc == FIFO_NOT_READY) {
            atomic_store(asleep, 1);
            rc = ready(f);
            if (rc != FIFO_NOT_READY) {
                break;
            }
            if (timeout_ms < 0) {
                pthread_cond_wait(cond, &f->mutex);
            }
            else if (pthread_cond_timedwait(cond, &f->mutex, &dl->at) == ETIMEDOUT) {
                rc = ready(f);
                rc = rc != FIFO_NOT_READY ? rc : FIFO_TIMEOUT;
            }
        }
        atomic_store(asleep, 0);
        pthread_mutex_unlock(&f->mutex);
    }
    return rc;
}

/* ---- the producer's end ---- */

/* Producer: a fresh copy of the consumer's counter (sequentially
 * consistent: fifo_writer_ready's half of the sleeping protocol). */
static void fifo_see_out(fifo_t *f)
{
    f->out_seen = atomic_load(&f->out);
    f->peak_from = f->out_seen + atomic_load_explicit(&f->peak_length, memory_order_relaxed);
}

/* Producer: bytes it may still write before the high-water mark, at least
 * want of them if it can.  The consumer's counter is re-read only when the
 * copy at hand does not show that much room. */
static size_t fifo_producer_space(fifo_t *f, size_t want)
{
    size_t in = atomic_load_explicit(&f->in, memory_order_relaxed);
    size_t used = in - f->out_seen;

    if (f->high_water == SIZE_MAX) {
        return SIZE_MAX;
    }
    if (used >= f->high_water || f->high_water - used < want) {
        fifo_see_out(f);
        used = in - f->out_seen;
    }
    return used >= f->high_water ? 0 : f->high_water - used;
}

/* Producer: a possible new peak length, confirmed with a fresh read of the
 * consumer's counter (the copy at hand overstates the length). */
FIFO_COLD static void fifo_note_length(fifo_t *f, size_t in)
{
    fifo_see_out(f);
    fifo_note_peak(&f->peak_length, in - f->out_seen);
    f->peak_from = f->out_seen + atomic_load_explicit(&f->peak_length, memory_order_relaxed);
}

/* Moves one side's counter on by n, waking the other side if it may sleep
 * and does (the sequentially consistent store pairs with the sleeper's
 * flag, INTERNALS.md, "Two threads"); returns the new value. */
static inline size_t fifo_move(fifo_t *f, atomic_size_t *counter, size_t n, int other_may_sleep,
                               atomic_int *other_asleep, pthread_cond_t *other_cond)
{
    size_t value = atomic_load_explicit(counter, memory_order_relaxed) + n;

    if (other_may_sleep) {
        atomic_store(counter, value);
        fifo_wake_other(f, other_asleep, other_cond);
    }
    else {
        atomic_store_explicit(counter, value, memory_order_release);
    }
    return value;
}

/* Producer: makes n more bytes visible to the consumer; notes a new peak,
 * re-reading the consumer's counter only when the copy at hand suggests
 * one.  (Lengths stay far below half the counters' range, so the signed
 * difference is exact across their wrap-around.) */
static inline void fifo_publish(fifo_t *f, size_t n)
{
    size_t in = fifo_move(f, &f->in, n, f->threadsafe, &f->reader_asleep, &f->readable);

    if ((ptrdiff_t)(in - f->peak_from) > 0) {
        fifo_note_length(f, in);
    }
}

/* A write's status once the fifo was stopped: aborting wins over closing. */
static int fifo_stopped_status(int stopped)
{
    return stopped & FIFO_STOP_ABORTED ? FIFO_ABORTED : FIFO_CLOSED;
}

/* Producer: whether a write may start. */
static inline int fifo_write_state(const fifo_t *f)
{
    int stopped = atomic_load_explicit(&f->stopped, memory_order_acquire);

    if (stopped != 0) {
        return fifo_stopped_status(stopped);
    }
    return f->reserved != 0 ? FIFO_EINVAL : FIFO_OK;
}

/*
 * Producer: appends len bytes that do not fit in the tail's room.  The
 * segments they need are gathered first, so that a failed allocation
 * leaves the fifo as it was.
 */
FIFO_COLD static int fifo_put_segments(fifo_t *f, const unsigned char *p, size_t len)
{
    struct fifo_seg *fresh = NULL; /* gathered, chained through next */
    struct fifo_seg *last = NULL;
    size_t room = f->seg_size - f->tail_pos;
    size_t need = (len - room - 1) / f->seg_size + 1;
    size_t done = 0;
    int rc = FIFO_OK;

    while (need > 0 && rc == FIFO_OK) {
        struct fifo_seg *seg = fifo_seg_get(f);
        if (seg == NULL) {
            rc = FIFO_ENOMEM;
        }
        else if (last == NULL) {
            fresh = seg;
        }
        else {
            atomic_store_explicit(&last->next, seg, memory_order_relaxed);
        }
        last = seg != NULL ? seg : last;
        --need;
    }
    while (rc == FIFO_OK && done < len) {
        size_t take;
        if (f->tail_pos == f->seg_size) {
            struct fifo_seg *seg = fresh;
            fresh = atomic_load_explicit(&seg->next, memory_order_relaxed);
            atomic_store_explicit(&seg->next, NULL, memory_order_relaxed);
            fifo_link(f, seg);
        }
        take = fifo_min(f->seg_size - f->tail_pos, len - done);
        memcpy(f->tail->data + f->tail_pos, p + done, take);
        f->tail_pos += take;
        done += take;
    }
    while (fresh != NULL) { /* only after a failed allocation */
        struct fifo_seg *next = atomic_load_explicit(&fresh->next, memory_order_relaxed);
        fifo_seg_free(f, fresh);
        fresh = next;
    }
    return rc;
}

/* Producer: appends len > 0 bytes and publishes them. */
static inline int fifo_put(fifo_t *f, const unsigned char *p, size_t len)
{
    int rc = FIFO_OK;

    if (len <= f->seg_size - f->tail_pos) {
        memcpy(f->tail->data + f->tail_pos, p, len); /* the common case */
        f->tail_pos += len;
    }
    else {
        rc = fifo_put_segments(f, p, len);
    }
    if (rc == FIFO_OK) {
        fifo_publish(f, len);
    }
    return rc;
}

int fifo_write(fifo_t *f, const void *data, size_t len)
{
    int rc = fifo_write_state(f);

    if (rc == FIFO_OK && len > 0) {
        rc = fifo_put(f, data, len);
    }
    return rc;
}

/* Producer: opens a reservation of at most cap bytes on the tail. */
static int fifo_reserve_at_most(fifo_t *f, void **buf, size_t *avail, size_t cap)
{
    int rc = fifo_write_state(f);

    *buf = NULL;
    *avail = 0;
    if (rc == FIFO_OK && f->tail_pos == f->seg_size) {
        struct fifo_seg *seg = fifo_seg_get(f);
        if (seg == NULL) {
            rc = FIFO_ENOMEM;
        }
        else {
            fifo_link(f, seg);
        }
    }
    if (rc == FIFO_OK) {
        *buf = f->tail->data + f->tail_pos;
        *avail = fifo_min(f->seg_size - f->tail_pos, cap);
        f->reserved = *avail;
    }
    return rc;
}

int fifo_reserve(fifo_t *f, void **buf, size_t *avail)
{
    return fifo_reserve_at_most(f, buf, avail, SIZE_MAX);
}

int fifo_commit(fifo_t *f, size_t n)
{
    int stopped = atomic_load_explicit(&f->stopped, memory_order_acquire);
    int rc = FIFO_OK;

    if (stopped != 0) {
        rc = fifo_stopped_status(stopped);
    }
    else if (n > f->reserved) {
        rc = FIFO_EINVAL; /* the reservation, if any, stays open */
    }
    else if (n > 0) {
        f->tail_pos += n;
        fifo_publish(f, n);
    }
    if (rc != FIFO_EINVAL) {
        f->reserved = 0;
    }
    return rc;
}

void fifo_close_write(fifo_t *f)
{
    f->reserved = 0;
    fifo_raise(f, FIFO_STOP_CLOSED);
}

void fifo_abort(fifo_t *f)
{
    fifo_raise(f, FIFO_STOP_ABORTED);
}

/* fifo_wait's question for a writer. */
static int fifo_writer_ready(fifo_t *f)
{
    int stopped = atomic_load(&f->stopped);

    if (stopped != 0) {
        return fifo_stopped_status(stopped);
    }
    return fifo_producer_space(f, 1) > 0 ? FIFO_OK : FIFO_NOT_READY;
}

static int fifo_wait_room(fifo_t *f, int timeout_ms, struct fifo_deadline *dl)
{
    return fifo_wait(f, fifo_writer_ready, &f->writable, &f->writer_asleep, &f->writer_waits,
                     timeout_ms, dl);
}

int fifo_wait_writable(fifo_t *f, int timeout_ms)
{
    struct fifo_deadline dl = { 0, { 0, 0 } };

    return fifo_wait_room(f, timeout_ms, &dl);
}

int fifo_reserve_wait(fifo_t *f, void **buf, size_t *avail, int timeout_ms)
{
    struct fifo_deadline dl = { 0, { 0, 0 } };
    int rc = fifo_write_state(f);

    if (rc == FIFO_OK) {
        rc = fifo_wait_room(f, timeout_ms, &dl);
    }
    if (rc == FIFO_OK) {
        return fifo_reserve_at_most(f, buf, avail, fifo_producer_space(f, f->seg_size));
    }
    *buf = NULL;
    *avail = 0;
    return rc;
}

int fifo_write_wait(fifo_t *f, const void *data, size_t len, size_t *written, int timeout_ms)
{
    const unsigned char *p = data;
    struct fifo_deadline dl = { 0, { 0, 0 } };
    size_t done = 0;
    int rc = fifo_write_state(f);

    while (rc == FIFO_OK && done < len) {
        size_t space = fifo_producer_space(f, len - done);
        if (space == 0) {
            rc = fifo_wait_room(f, timeout_ms, &dl);
        }
        else {
            size_t take = fifo_min(space, len - done);
            rc = fifo_put(f, p + done, take);
            done += rc == FIFO_OK ? take : 0;
        }
    }
    *written = done;
    return rc;
}

/* ---- the consumer's end ---- */

/* Consumer: bytes readable, at least want of them if there are (0 once
 * aborted).  The producer's counter is re-read only when the copy at hand
 * does not show that many. */
static inline size_t fifo_consumer_avail(fifo_t *f, size_t want)
{
    size_t out = atomic_load_explicit(&f->out, memory_order_relaxed);
    size_t avail = f->in_seen - out;

    if (avail < want) {
        f->in_seen = atomic_load_explicit(&f->in, memory_order_acquire);
        avail = f->in_seen - out;
    }
    return atomic_load_explicit(&f->stopped, memory_order_acquire) & FIFO_STOP_ABORTED ? 0 : avail;
}

/* Consumer: the segment holding the read position, stepping into the first
 * segment or past a used-up one.  Only called when bytes are readable, so
 * the producer linked the segment before it published them. */
static struct fifo_seg *fifo_head(fifo_t *f)
{
    if (f->head == NULL) {
        f->head = atomic_load_explicit(&f->first, memory_order_acquire);
        f->head_pos = 0;
    }
    else if (f->head_pos == f->seg_size) {
        struct fifo_seg *used = f->head;
        f->head = atomic_load_explicit(&used->next, memory_order_acquire);
        f->head_pos = 0;
        fifo_seg_release(f, used);
    }
    return f->head;
}

static inline void fifo_consumed(fifo_t *f, size_t n);

/* Consumer: consumes n readable bytes, releasing the segments they leave
 * behind, and tells the producer. */
FIFO_COLD static void fifo_advance(fifo_t *f, size_t n)
{
    size_t left = n;

    while (left > 0) {
        size_t take;
        fifo_head(f);
        take = fifo_min(f->seg_size - f->head_pos, left);
        f->head_pos += take;
        left -= take;
    }
    /* A used-up head goes at once when the producer has moved past it. */
    if (f->head_pos == f->seg_size
        && atomic_load_explicit(&f->head->next, memory_order_acquire) != NULL) {
        fifo_head(f);
    }
    fifo_consumed(f, n);
}

/* Consumer: hands n consumed bytes back to the producer, which may sleep
 * at the high-water mark. */
static inline void fifo_consumed(fifo_t *f, size_t n)
{
    fifo_move(f, &f->out, n, f->writers_wait, &f->writer_asleep, &f->writable);
}

/* Consumer: a walk over the first max readable bytes. */
static struct fifo_cursor fifo_cursor(fifo_t *f, size_t max)
{
    struct fifo_cursor c = { NULL, 0, 0 };

    c.left = fifo_min(fifo_consumer_avail(f, max), max);
    if (c.left > 0) {
        c.seg = fifo_head(f);
        c.pos = f->head_pos;
    }
    return c;
}

/* Describes the cursor's next bytes in up to iovcnt entries and moves it
 * past them; returns the number of entries. */
static size_t fifo_cursor_iov(const fifo_t *f, struct fifo_cursor *c, struct iovec *iov,
                              size_t iovcnt)
{
    size_t n = 0;

    while (n < iovcnt && c->left > 0) {
        size_t take;
        if (c->pos == f->seg_size) {
            c->seg = atomic_load_explicit(&c->seg->next, memory_order_acquire);
            c->pos = 0;
        }
        take = fifo_min(f->seg_size - c->pos, c->left);
        iov[n].iov_base = c->seg->data + c->pos;
        iov[n].iov_len = take;
        ++n;
        c->pos += take;
        c->left -= take;
    }
    return n;
}

size_t fifo_peek_iov(fifo_t *f, struct iovec *iov, size_t iovcnt, size_t max_bytes)
{
    struct fifo_cursor c = fifo_cursor(f, iovcnt > 0 ? max_bytes : 0);

    return fifo_cursor_iov(f, &c, iov, iovcnt);
}

size_t fifo_peek(fifo_t *f, void *buf, size_t len)
{
    struct fifo_cursor c = fifo_cursor(f, len);
    unsigned char *p = buf;
    size_t done = 0;
    size_t n;

    do {
        struct iovec iov[FIFO_COPY_BATCH];
        size_t i;

        n = fifo_cursor_iov(f, &c, iov, FIFO_COPY_BATCH);
        for (i = 0; i < n; ++i) {
            memcpy(p + done, iov[i].iov_base, iov[i].iov_len);
            done += iov[i].iov_len;
        }
    } while (n > 0);
    return done;
}

size_t fifo_read(fifo_t *f, void *buf, size_t len)
{
    size_t n = fifo_min(fifo_consumer_avail(f, len), len);

    if (n > 0 && n < f->seg_size - f->head_pos) {
        memcpy(buf, f->head->data + f->head_pos, n); /* the common case */
        f->head_pos += n;
        fifo_consumed(f, n);
    }
    else if (n > 0) {
        fifo_peek(f, buf, n);
        fifo_advance(f, n);
    }
    return n;
}

size_t fifo_skip(fifo_t *f, size_t len)
{
    size_t n = fifo_min(fifo_consumer_avail(f, len), len);

    if (n > 0) {
        fifo_advance(f, n);
    }
    return n;
}

/* fifo_wait's question for a reader.  The flag is read before the counter:
 * the producer sets it after its last publication. */
static int fifo_reader_ready(fifo_t *f)
{
    int stopped = atomic_load(&f->stopped);

    if (stopped & FIFO_STOP_ABORTED) {
        return FIFO_ABORTED;
    }
    f->in_seen = atomic_load(&f->in);
    if (f->in_seen != atomic_load_explicit(&f->out, memory_order_relaxed)) {
        return FIFO_OK;
    }
    return stopped & FIFO_STOP_CLOSED ? FIFO_EOF : FIFO_NOT_READY;
}

int fifo_wait_readable(fifo_t *f, int timeout_ms)
{
    struct fifo_deadline dl = { 0, { 0, 0 } };

    return fifo_wait(f, fifo_reader_ready, &f->readable, &f->reader_asleep, &f->reader_waits,
                     timeout_ms, &dl);
}

int fifo_read_wait(fifo_t *f, void *buf, size_t len, size_t *got, int timeout_ms)
{
    int rc = len > 0 ? fifo_wait_readable(f, timeout_ms) : FIFO_EINVAL;

    *got = rc == FIFO_OK ? fifo_read(f, buf, len) : 0;
    return rc;
}

/* ---- the invariant checker ---- */

/* Whether seg is one of the spares. */
static int fifo_check_is_spare(const fifo_t *f, const struct fifo_seg *seg)
{
    const struct fifo_seg *spare = atomic_load(&f->spares);

    while (spare != NULL && spare != seg) {
        spare = atomic_load(&spare->next);
    }
    return spare != NULL;
}

/* Bytes between the read position and the write position along the chain,
 * whose length goes to *count; *why is set when the chain is not the list
 * INTERNALS.md describes. */
static size_t fifo_check_chain(const fifo_t *f, size_t held, size_t *count, const char **why)
{
    const struct fifo_seg *seg = f->head != NULL ? f->head : atomic_load(&f->first);
    size_t pos = f->head != NULL ? f->head_pos : 0;
    size_t sum = 0;

    if (seg == NULL && f->tail != NULL) {
        *why = "the chain is empty but has a tail";
    }
    while (seg != NULL && *why == NULL) {
        const struct fifo_seg *next = atomic_load(&seg->next);
        size_t end = seg == f->tail ? f->tail_pos : f->seg_size;

        if (++*count > held) {
            *why = "more segments in the chain than held";
        }
        else if (fifo_check_is_spare(f, seg)) {
            *why = "a spare segment is also in the chain";
        }
        else if (pos > end) {
            *why = "the read position is past the write position";
        }
        else if (next == NULL && seg != f->tail) {
            *why = "the chain does not end at the tail";
        }
        else if (seg == f->tail && next != NULL) {
            *why = "the tail has a successor";
        }
        sum += end - pos;
        pos = 0;
        seg = next;
    }
    return sum;
}

/* The number of spares, *why set when the stack is longer than held. */
static size_t fifo_check_spares(const fifo_t *f, size_t held, const char **why)
{
    const struct fifo_seg *seg = atomic_load(&f->spares);
    size_t n = 0;

    while (seg != NULL && n <= held) {
        ++n;
        seg = atomic_load(&seg->next);
    }
    if (n > held) {
        *why = "more spares than segments held";
    }
    else if (n != atomic_load(&f->nspares) || n > f->spares_max) {
        *why = "the spare count is off";
    }
    return n;
}

const char *fifo_check(fifo_t *f)
{
    size_t in = atomic_load(&f->in);
    size_t out = atomic_load(&f->out);
    size_t held = atomic_load(&f->made) - atomic_load(&f->freed);
    const char *why = NULL;
    size_t chain = 0;
    size_t spares = 0;
    size_t sum = 0;

    if (f->tail_pos > f->seg_size || f->head_pos > f->seg_size) {
        why = "a position is outside its segment";
    }
    else if ((f->tail == NULL && f->tail_pos != f->seg_size)
             || (f->head == NULL && f->head_pos != f->seg_size)) {
        why = "a missing segment does not count as full";
    }
    if (why == NULL) {
        spares = fifo_check_spares(f, held, &why);
    }
    if (why == NULL) {
        sum = fifo_check_chain(f, held, &chain, &why);
    }
    if (why == NULL && chain + spares != held) {
        why = "segments held differ from the chain and the spares";
    }
    if (why != NULL) {
        return why;
    }
    if (sum != in - out) {
        return "the byte counters differ from the bytes in the chain";
    }
    if (f->reserved > f->seg_size - f->tail_pos) {
        return "the reservation exceeds the tail's room";
    }
    if ((atomic_load(&f->stopped) & FIFO_STOP_CLOSED) && f->reserved != 0) {
        return "a reservation is open after close";
    }
    if (f->in_seen - out > in - out || out - f->out_seen > in - f->out_seen) {
        return "a side's copy of the other's counter is ahead of it";
    }
    if (in - out > atomic_load(&f->peak_length) || held > atomic_load(&f->peak_segments)) {
        return "a peak figure is below the current one";
    }
    if (f->peak_from != f->out_seen + atomic_load(&f->peak_length)) {
        return "the producer's peak threshold is off";
    }
    if (atomic_load(&f->reader_asleep) || atomic_load(&f->writer_asleep)) {
        return "a side is marked asleep while nobody waits";
    }
    return NULL;
}
