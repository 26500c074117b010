/*
 * baselines.c: the benchmark's baselines (see baselines.h).
 */
#define _POSIX_C_SOURCE 200809L

#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "baselines.h"

/* ---- the memcpy ring ---- */

int ring_init(struct ring *r, size_t cap)
{
    r->buf = malloc(cap);
    r->cap = cap;
    r->head = 0;
    r->tail = 0;
    return r->buf != NULL && (cap & (cap - 1)) == 0 ? 0 : -1;
}

void ring_free(struct ring *r)
{
    free(r->buf);
}

/* Copies len bytes between the ring at index pos and flat memory. */
static void ring_copy(struct ring *r, size_t pos, unsigned char *flat, size_t len, int into_ring)
{
    size_t at = pos & (r->cap - 1);
    size_t first = r->cap - at < len ? r->cap - at : len;

    if (into_ring) {
        memcpy(r->buf + at, flat, first);
    }
    else {
        memcpy(flat, r->buf + at, first);
    }
    if (first < len && into_ring) {
        memcpy(r->buf, flat + first, len - first);
    }
    else if (first < len) {
        memcpy(flat + first, r->buf, len - first);
    }
}

size_t ring_write(struct ring *r, const void *data, size_t len)
{
    size_t room = r->cap - (r->tail - r->head);
    size_t n = len < room ? len : room;

    ring_copy(r, r->tail, (unsigned char *)data, n, 1);
    r->tail += n;
    return n;
}

size_t ring_read(struct ring *r, void *buf, size_t len)
{
    size_t have = r->tail - r->head;
    size_t n = len < have ? len : have;

    ring_copy(r, r->head, buf, n, 0);
    r->head += n;
    return n;
}

/* ---- the ring under a lock ---- */

int locked_ring_init(struct locked_ring *lr, size_t cap)
{
    lr->closed = 0;
    pthread_mutex_init(&lr->mutex, NULL);
    pthread_cond_init(&lr->not_empty, NULL);
    pthread_cond_init(&lr->not_full, NULL);
    return ring_init(&lr->r, cap);
}

void locked_ring_free(struct locked_ring *lr)
{
    ring_free(&lr->r);
    pthread_cond_destroy(&lr->not_full);
    pthread_cond_destroy(&lr->not_empty);
    pthread_mutex_destroy(&lr->mutex);
}

void locked_ring_write(struct locked_ring *lr, const void *data, size_t len)
{
    pthread_mutex_lock(&lr->mutex);
    while (lr->r.cap - (lr->r.tail - lr->r.head) < len) {
        pthread_cond_wait(&lr->not_full, &lr->mutex);
    }
    ring_write(&lr->r, data, len);
    pthread_cond_signal(&lr->not_empty);
    pthread_mutex_unlock(&lr->mutex);
}

size_t locked_ring_read(struct locked_ring *lr, void *buf, size_t len)
{
    size_t n;

    pthread_mutex_lock(&lr->mutex);
    while (lr->r.tail == lr->r.head && !lr->closed) {
        pthread_cond_wait(&lr->not_empty, &lr->mutex);
    }
    n = ring_read(&lr->r, buf, len);
    pthread_cond_signal(&lr->not_full);
    pthread_mutex_unlock(&lr->mutex);
    return n;
}

void locked_ring_close(struct locked_ring *lr)
{
    pthread_mutex_lock(&lr->mutex);
    lr->closed = 1;
    pthread_cond_broadcast(&lr->not_empty);
    pthread_mutex_unlock(&lr->mutex);
}

/* ---- the lock-free ring ---- */

int spsc_ring_init(struct spsc_ring *r, size_t cap)
{
    r->buf = malloc(cap);
    r->cap = cap;
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    atomic_init(&r->closed, 0);
    r->head_seen = 0;
    r->tail_seen = 0;
    return r->buf != NULL && (cap & (cap - 1)) == 0 ? 0 : -1;
}

void spsc_ring_free(struct spsc_ring *r)
{
    free(r->buf);
}

void spsc_ring_write(struct spsc_ring *r, const void *data, size_t len)
{
    size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    struct ring view = { r->buf, r->cap, 0, 0 };

    while (r->cap - (tail - r->head_seen) < len) {
        r->head_seen = atomic_load_explicit(&r->head, memory_order_acquire);
        if (r->cap - (tail - r->head_seen) < len) {
            sched_yield();
        }
    }
    ring_copy(&view, tail, (unsigned char *)data, len, 1);
    atomic_store_explicit(&r->tail, tail + len, memory_order_release);
}

size_t spsc_ring_read(struct spsc_ring *r, void *buf, size_t len)
{
    size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    struct ring view = { r->buf, r->cap, 0, 0 };
    size_t n = 0;

    while (r->tail_seen == head) {
        int closed = atomic_load_explicit(&r->closed, memory_order_acquire);
        r->tail_seen = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (r->tail_seen == head && closed) {
            return 0;
        }
        if (r->tail_seen == head) {
            sched_yield();
        }
    }
    n = r->tail_seen - head < len ? r->tail_seen - head : len;
    ring_copy(&view, head, buf, n, 0);
    atomic_store_explicit(&r->head, head + n, memory_order_release);
    return n;
}

void spsc_ring_close(struct spsc_ring *r)
{
    atomic_store_explicit(&r->closed, 1, memory_order_release);
}

/* ---- the in-place chunked decoder ---- */

enum {
    IP_SIZE,
    IP_EXT,
    IP_SIZE_LF,
    IP_DATA,
    IP_DATA_CR,
    IP_DATA_LF,
    IP_TRAILER,
    IP_TRAILER_LINE,
    IP_FINAL_LF,
    IP_DONE
};

static int inplace_hex(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
        return (c | 0x20) - 'a' + 10;
    }
    return -1;
}

/* One byte outside chunk data: the next state, or -1 when malformed. */
static int inplace_step(struct inplace_decoder *d, char c)
{
    int h = inplace_hex(c);

    switch (d->state) {
    case IP_SIZE:
        if (h >= 0) {
            d->left = d->left * 16 + (size_t)h;
            return IP_SIZE;
        }
        return c == '\r' ? IP_SIZE_LF : c == ';' ? IP_EXT : -1;
    case IP_EXT: return c == '\r' ? IP_SIZE_LF : c == '\n' ? -1 : IP_EXT;
    case IP_SIZE_LF: return c != '\n' ? -1 : d->left == 0 ? IP_TRAILER : IP_DATA;
    case IP_DATA_CR: return c == '\r' ? IP_DATA_LF : -1;
    case IP_DATA_LF: return c == '\n' ? IP_SIZE : -1;
    case IP_TRAILER: return c == '\r' ? IP_FINAL_LF : IP_TRAILER_LINE;
    case IP_TRAILER_LINE: return c == '\n' ? IP_TRAILER : IP_TRAILER_LINE;
    case IP_FINAL_LF: return c == '\n' ? IP_DONE : -1;
    default: return -1;
    }
}

ssize_t inplace_decode(struct inplace_decoder *d, char *buf, size_t *len)
{
    size_t src = 0;
    size_t dst = 0;
    ssize_t rc = -2;

    while (src < *len && rc == -2 && d->state != IP_DONE) {
        if (d->state == IP_DATA) {
            size_t n = *len - src < d->left ? *len - src : d->left;
            memmove(buf + dst, buf + src, n);
            src += n;
            dst += n;
            d->left -= n;
            d->state = d->left == 0 ? IP_DATA_CR : IP_DATA;
        }
        else {
            d->state = inplace_step(d, buf[src++]);
            rc = d->state < 0 ? -1 : -2;
        }
    }
    if (d->state == IP_DONE) {
        rc = (ssize_t)(*len - src);
    }
    *len = dst;
    return rc;
}
