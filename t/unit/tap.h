/*
 * tap.h: the smallest TAP producer the unit tests need.
 *
 * Each test program calls tap_ok()/tap_is_*() and ends with
 * `return tap_done();`, which prints the plan and returns the exit status
 * (0 only when every assertion passed).  Header-only: the module's unit
 * tests need nothing to link (fifo/ has a helper of its own).
 */
#ifndef XSF_TAP_H
#define XSF_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_count;
static int tap_failed;

static void tap_vreport(int pass, const char *fmt, va_list ap)
{
    ++tap_count;
    if (!pass) {
        ++tap_failed;
    }
    printf("%sok %d - ", pass ? "" : "not ", tap_count);
    vprintf(fmt, ap);
    putchar('\n');
    fflush(stdout);
}

static int tap_ok(int pass, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tap_vreport(pass, fmt, ap);
    va_end(ap);
    return pass;
}

/* tap_diag() writes a comment line; the harness shows it next to a failure. */
static void tap_diag(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("# ", stdout);
    vprintf(fmt, ap);
    putchar('\n');
    va_end(ap);
}

static int tap_is_str(const char *got, const char *want, const char *name)
{
    int pass =
        (got == NULL && want == NULL) || (got != NULL && want != NULL && strcmp(got, want) == 0);
    tap_ok(pass, "%s", name);
    if (!pass) {
        tap_diag("got '%s', want '%s'", got ? got : "(null)", want ? want : "(null)");
    }
    return pass;
}

static int tap_is_long(long got, long want, const char *name)
{
    int pass = got == want;
    tap_ok(pass, "%s", name);
    if (!pass) {
        tap_diag("got %ld, want %ld", got, want);
    }
    return pass;
}

static int tap_done(void)
{
    printf("1..%d\n", tap_count);
    return tap_failed ? 1 : 0;
}

#endif
