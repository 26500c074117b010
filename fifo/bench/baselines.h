/*
 * baselines.h: what fifo_bench measures the fifo against, written for the
 * benchmark.  They live in their own file so that the benchmark calls them
 * as it calls the fifo, through functions taking run-time sizes, not
 * inlined with constant ones.
 */
#ifndef FIFO_BENCH_BASELINES_H
#define FIFO_BENCH_BASELINES_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/types.h>

/* A memcpy ring buffer: a power-of-two capacity, two indices, one thread. */
struct ring {
    unsigned char *buf;
    size_t cap;
    size_t head;
    size_t tail;
};

int ring_init(struct ring *r, size_t cap);
void ring_free(struct ring *r);
/* Copies in as much of data as fits; returns how much. */
size_t ring_write(struct ring *r, const void *data, size_t len);
/* Copies out up to len bytes; returns how many. */
size_t ring_read(struct ring *r, void *buf, size_t len);

/* The textbook blocking bounded buffer: the ring under a mutex, with a
 * condition variable for each side; bytes are copied under the lock. */
struct locked_ring {
    struct ring r;
    pthread_mutex_t mutex;
    pthread_cond_t not_empty;
    pthread_cond_t not_full;
    int closed;
};

int locked_ring_init(struct locked_ring *lr, size_t cap);
void locked_ring_free(struct locked_ring *lr);
/* Writes all len (<= cap) bytes, waiting for room. */
void locked_ring_write(struct locked_ring *lr, const void *data, size_t len);
/* Waits for a byte, then reads up to len; 0 once closed and drained. */
size_t locked_ring_read(struct locked_ring *lr, void *buf, size_t len);
void locked_ring_close(struct locked_ring *lr);

/* A lock-free single-producer single-consumer ring: the indices are
 * atomics on their own cache lines, each side keeps a copy of the other's;
 * a side that cannot go on yields the processor and tries again (it never
 * sleeps, so it is not a blocking buffer: an upper bound, not a peer). */
struct spsc_ring {
    unsigned char *buf;
    size_t cap;
    _Alignas(64) atomic_size_t head;
    _Alignas(64) atomic_size_t tail;
    _Alignas(64) size_t head_seen; /* the producer's copy */
    _Alignas(64) size_t tail_seen; /* the consumer's copy */
    atomic_int closed;
};

int spsc_ring_init(struct spsc_ring *r, size_t cap);
void spsc_ring_free(struct spsc_ring *r);
void spsc_ring_write(struct spsc_ring *r, const void *data, size_t len);
size_t spsc_ring_read(struct spsc_ring *r, void *buf, size_t len);
void spsc_ring_close(struct spsc_ring *r);

/* A minimal in-place chunked decoder with picohttpparser's algorithm
 * (chunk data moved down over the framing with memmove), for when
 * picohttpparser itself is not at hand.  It checks sizes and CRLFs but
 * skips extensions and trailers unchecked.  Decodes buf[0..*len) in place,
 * leaving the data in buf[0..*len); returns -2 while the body goes on, -1
 * on malformed input, else the number of bytes after the body. */
struct inplace_decoder {
    int state;
    size_t left;
};

ssize_t inplace_decode(struct inplace_decoder *d, char *buf, size_t *len);

#endif
