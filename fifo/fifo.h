/*
 * fifo.h: an elastic FIFO byte buffer made of fixed-size segments.
 *
 * Bytes are appended at the tail and consumed from the head.  Segments are
 * allocated as the buffer grows and released as it drains; one drained
 * segment is kept as a spare so that a buffer in steady state does not call
 * the allocator.  See INTERNALS.md for the structure and its invariants.
 *
 * Two modes, chosen at creation:
 *   - plain (flags 0): one thread, or callers that lock around every call;
 *   - FIFO_THREADSAFE: one producer thread and one consumer thread may use
 *     the buffer at the same time; the *_wait functions block with a
 *     timeout, the high-water mark holds the producer back, and
 *     fifo_close_write()/fifo_abort() wake the other side.
 * Both modes run the same code, which takes no lock unless a side has to
 * sleep: the producer and the consumer each own their end of the chain and
 * meet only in two byte counters (INTERNALS.md, "Two threads").
 *
 * Roles: the producer calls the write side (fifo_write*, fifo_reserve*,
 * fifo_commit, fifo_wait_writable, fifo_close_write), the consumer the read
 * side (fifo_read*, fifo_peek*, fifo_skip, fifo_wait_readable).  Any thread
 * may call fifo_abort, fifo_length, fifo_space, fifo_memory, fifo_stats.
 * fifo_check needs the fifo to itself (no call of another thread running).
 *
 * Return values, one rule here and in chunked.h, deflate.h and pipeline.h:
 *   - a function that can fail, wait or reach an end returns an int status:
 *     FIFO_OK, FIFO_EOF, or a negative FIFO_E... code (fifo_strerror names
 *     it); anything else it produces goes through out-parameters, which are
 *     required and set on every return;
 *   - a function that cannot fail returns its result directly: the
 *     non-waiting read calls (fifo_read, fifo_peek, fifo_skip,
 *     fifo_peek_iov) the number of bytes or entries they moved, 0 when
 *     nothing is readable; queries a size, a structure or a string;
 *     constructors the new object or NULL; the rest nothing;
 *   - a timeout, where there is one, is the last parameter, in milliseconds:
 *     negative waits forever, 0 does not wait.
 *
 * Every public symbol starts with fifo_ (constants with FIFO_).
 */
#ifndef FIFO_H
#define FIFO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes shared by the fifo and its stages.  Errors are negative. */
enum fifo_status {
    FIFO_OK = 0,
    FIFO_EOF = 1,      /* end of data: closed and drained, or stream complete */
    FIFO_EAGAIN = -1,  /* would have to wait (or its output is full), and this call may not */
    FIFO_TIMEOUT = -2, /* the wait's timeout expired */
    FIFO_ABORTED = -3, /* fifo_abort() was called */
    FIFO_CLOSED = -4,  /* write after fifo_close_write() */
    FIFO_ENOMEM = -5,
    FIFO_EINVAL = -6, /* bad argument or call out of order */
    FIFO_EPROTO = -7, /* malformed input to a decoding stage */
    FIFO_ELIMIT = -8  /* a configured bound was exceeded */
};

/* fifo_create() flags */
#define FIFO_THREADSAFE 1u

typedef struct fifo fifo_t;

/* A snapshot of a fifo's figures (fifo_stats). */
typedef struct fifo_stats {
    size_t length;          /* bytes readable now */
    size_t peak_length;     /* the most bytes readable at one time */
    size_t segments;        /* segments held now, the spare included */
    size_t memory;          /* bytes held now: segments and their headers */
    size_t peak_memory;     /* the most bytes held at one time */
    uint64_t writer_waits;  /* times a writer found the fifo at its mark and waited */
    uint64_t writer_sleeps; /* ... and of those, went to sleep */
    uint64_t reader_waits;  /* times a reader found the fifo empty and waited */
    uint64_t reader_sleeps; /* ... and of those, went to sleep */
} fifo_stats_t;

/* A short English description of a status code; never NULL. */
const char *fifo_strerror(int status);

/*
 * segment_size: bytes per segment (>= 1).  high_water: 0 for none, else the
 * number of buffered bytes at which fifo_space() reaches 0 and the
 * *_wait writers block.  Returns NULL on bad arguments or no memory.
 */
fifo_t *fifo_create(size_t segment_size, size_t high_water, unsigned flags);
void fifo_destroy(fifo_t *fifo);

size_t fifo_length(fifo_t *fifo); /* bytes readable now (0 once aborted) */
size_t fifo_segment_size(const fifo_t *fifo);
size_t fifo_memory(fifo_t *fifo); /* bytes held in segments, spare included */
/* Bytes that may be written before the high-water mark (SIZE_MAX if none). */
size_t fifo_space(fifo_t *fifo);
fifo_stats_t fifo_stats(fifo_t *fifo);

/* ---- write side ----
 * fifo_write appends all len bytes, ignoring the high-water mark (use
 * fifo_write_wait to respect it).  FIFO_OK, FIFO_CLOSED, FIFO_ABORTED,
 * FIFO_EINVAL (a reservation is open) or FIFO_ENOMEM; on an error nothing
 * of this call was written. */
int fifo_write(fifo_t *fifo, const void *data, size_t len);

/*
 * Write in place: fifo_reserve returns in *buf a contiguous writable area of
 * *avail >= 1 bytes at the tail (at most one segment); the caller fills a
 * prefix of it and publishes n <= *avail bytes with fifo_commit.  Only one
 * reservation may be open; fifo_commit(fifo, 0) abandons it.  After
 * fifo_abort or fifo_close_write the reservation is void and fifo_commit
 * returns FIFO_ABORTED or FIFO_CLOSED without publishing anything.
 */
int fifo_reserve(fifo_t *fifo, void **buf, size_t *avail);
int fifo_commit(fifo_t *fifo, size_t n);

/* Producer's end of stream: readers see FIFO_EOF once the buffer drains. */
void fifo_close_write(fifo_t *fifo);

/* ---- read side ----
 * Each returns the number of bytes copied or skipped: at most len, and 0
 * when nothing is readable. */
size_t fifo_read(fifo_t *fifo, void *buf, size_t len);
size_t fifo_peek(fifo_t *fifo, void *buf, size_t len);
size_t fifo_skip(fifo_t *fifo, size_t len);

/*
 * Zero-copy hand-off: fills up to iovcnt entries describing the first
 * readable bytes, at most max_bytes of them (SIZE_MAX for all), and returns
 * the number of entries filled.  The memory stays valid and unchanged until
 * the consumer's next fifo_skip/fifo_read, even while the producer writes.
 */
size_t fifo_peek_iov(fifo_t *fifo, struct iovec *iov, size_t iovcnt, size_t max_bytes);

/* ---- waiting (FIFO_THREADSAFE) ----
 * On a plain fifo these never wait and report FIFO_EAGAIN instead.
 *
 * fifo_write_wait: writes all len bytes, waiting whenever the buffer holds
 * high_water bytes, so the buffer never holds more than high_water.
 * Returns FIFO_OK, FIFO_TIMEOUT (the timeout is for the whole call),
 * FIFO_ABORTED, FIFO_CLOSED or FIFO_ENOMEM; *written tells how much went in
 * either way.
 */
int fifo_write_wait(fifo_t *fifo, const void *data, size_t len, size_t *written, int timeout_ms);
/* Like fifo_reserve, waiting for room; *avail is capped by the room left. */
int fifo_reserve_wait(fifo_t *fifo, void **buf, size_t *avail, int timeout_ms);
/* Waits until fifo_space() > 0.  FIFO_OK, FIFO_TIMEOUT, FIFO_ABORTED, FIFO_CLOSED. */
int fifo_wait_writable(fifo_t *fifo, int timeout_ms);

/*
 * fifo_read_wait: like read(2): waits until at least one byte is readable,
 * then copies up to len (> 0, else FIFO_EINVAL: a successful read of
 * nothing would look like progress to a read loop).  Returns FIFO_OK
 * (*got > 0), FIFO_EOF, FIFO_TIMEOUT, FIFO_ABORTED or FIFO_EINVAL.
 */
int fifo_read_wait(fifo_t *fifo, void *buf, size_t len, size_t *got, int timeout_ms);
/* Waits until bytes are readable: FIFO_OK, FIFO_EOF, FIFO_TIMEOUT, FIFO_ABORTED.
 * Pair it with fifo_peek_iov + fifo_skip for zero-copy consumption; on a
 * plain fifo, FIFO_EOF at timeout 0 tells that the writer closed and every
 * byte was read. */
int fifo_wait_readable(fifo_t *fifo, int timeout_ms);

/*
 * Cancels the stream from either side and wakes every waiter.  From then
 * on buffered bytes are gone for the reader (fifo_length is 0, the read
 * calls find nothing), every wait returns FIFO_ABORTED, and so does every
 * write and commit.  Memory that fifo_peek_iov or fifo_reserve handed out
 * stays valid until fifo_destroy, which releases everything.
 */
void fifo_abort(fifo_t *fifo);

/*
 * The invariant checker: NULL when the structure is consistent, else a
 * description of the first broken invariant.  Tests call it after every
 * operation; it walks the whole chain, so it is O(segments).  It reads both
 * sides' private state: call it only while no other thread is inside a
 * call on this fifo.
 */
const char *fifo_check(fifo_t *fifo);

#ifdef __cplusplus
}
#endif

#endif
