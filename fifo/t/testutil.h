/*
 * testutil.h: what the fifo library's tests share, the library's own so
 * that fifo/ builds and tests on its own.
 *
 * TAP output (https://testanything.org): each tu_ok() prints one
 * "ok N - name" or "not ok N - name" line, tu_diag() a "# ..." comment,
 * and `return tu_done();` at the end of main() prints the plan "1..N" and
 * gives the exit status (0 only when every assertion passed).
 *
 * The invariant checker runs after every operation; rather than one TAP
 * line per call, tu_check() remembers the first violation and
 * tu_invariants_held() turns the scenario into one assertion.
 */
#ifndef FIFO_TESTUTIL_H
#define FIFO_TESTUTIL_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fifo.h"

static int tu_planned;
static int tu_failures;
static const char *tu_violation;
static const char *tu_violation_where;

/* A "# ..." line: context for the assertion printed just before. */
static inline void tu_diag(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    printf("# ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

/* One assertion; returns pass so that callers can add diagnostics. */
static inline int tu_ok(int pass, const char *fmt, ...)
{
    va_list ap;

    ++tu_planned;
    tu_failures += !pass;
    printf("%s %d - ", pass ? "ok" : "not ok", tu_planned);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    return pass;
}

static inline int tu_is_long(long got, long want, const char *name)
{
    if (!tu_ok(got == want, "%s", name)) {
        tu_diag("got %ld, want %ld", got, want);
    }
    return got == want;
}

/* Two strings, either may be NULL. */
static inline int tu_is_str(const char *got, const char *want, const char *name)
{
    int same = got == want || (got != NULL && want != NULL && strcmp(got, want) == 0);

    if (!tu_ok(same, "%s", name)) {
        tu_diag("got \"%s\", want \"%s\"", got != NULL ? got : "(null)",
                want != NULL ? want : "(null)");
    }
    return same;
}

static inline int tu_done(void)
{
    printf("1..%d\n", tu_planned);
    return tu_failures == 0 ? 0 : 1;
}

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
    int pass = tu_is_str(tu_violation, NULL, name);

    if (!pass) {
        tu_diag("first broken after: %s", tu_violation_where);
    }
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

    for (i = 0; i < n; ++i) {
        buf[i] = (unsigned char)(tu_rand(&s) >> 56);
    }
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
