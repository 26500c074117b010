/*
 * testutil.h: helpers shared by the fifo tests, on top of t/unit/tap.h.
 *
 * The invariant checker runs after every operation; rather than one TAP
 * line per call, tu_check() remembers the first violation and
 * tu_invariants_held() turns the scenario into one assertion.
 */
#ifndef FIFO_TESTUTIL_H
#define FIFO_TESTUTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fifo.h"
#include "tap.h"

static const char *tu_violation;
static const char *tu_violation_where;

static inline void tu_check(fifo_t *f, const char *where)
{
    const char *why = fifo_check(f);
    if (why != NULL && tu_violation == NULL) {
        tu_violation = why;
        tu_violation_where = where;
    }
}

static inline int tu_invariants_held(const char *name)
{
    int pass = tap_is_str(tu_violation, NULL, name);
    if (!pass)
        tap_diag("first broken after: %s", tu_violation_where);
    tu_violation = NULL;
    tu_violation_where = NULL;
    return pass;
}

/* xorshift64*: deterministic, so a failure reproduces from its seed. */
static inline uint64_t tu_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 2685821657736338717ULL;
}

/* A value in [lo, hi]. */
static inline size_t tu_between(uint64_t *state, size_t lo, size_t hi)
{
    return lo + (size_t)(tu_rand(state) % (uint64_t)(hi - lo + 1));
}

static inline void tu_fill(unsigned char *buf, size_t n, uint64_t seed)
{
    uint64_t s = seed | 1;
    size_t i;
    for (i = 0; i < n; ++i)
        buf[i] = (unsigned char)(tu_rand(&s) >> 56);
}

static inline double tu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Drains a fifo into a fresh malloc'ed buffer; *len gets its size. */
static inline unsigned char *tu_drain(fifo_t *f, size_t *len)
{
    size_t n = fifo_length(f);
    unsigned char *buf = malloc(n + 1);
    *len = buf != NULL ? fifo_read(f, buf, n) : 0;
    return buf;
}

#endif
