/*
 * xsf_path.c: from a trigger header's value to an open, confined file.
 * SPEC means docs/SPEC.md; docs/INTERNALS.md ("Confinement") gives the
 * safety argument step by step, and xsf_try_root() is where it holds.
 *
 * SPEC §3, decoding.  A value becomes at most five candidate names, in this
 * order: its RFC 2047 words decoded, its %XX escapes decoded, the value as
 * it came, and the ISO-8859-1 reading of the last two where they are not
 * UTF-8.  A decoding that adds a NUL or a ".." segment is skipped.  The
 * first candidate that names anything (a file, a directory, a path outside
 * the roots) decides the outcome; the next one is tried only when a
 * candidate names nothing under any root.
 *
 * SPEC §4, confinement.  A candidate is never opened by its full name, but
 * beneath the descriptor its root got when Apache read the configuration,
 * so that the file checked is the file opened, whatever renames or symlink
 * swaps happen meanwhile:
 *   - Linux 5.6+: openat2(2) with RESOLVE_BENEATH, plus RESOLVE_NO_SYMLINKS
 *     where XSendFileFollowSymlinks is Off;
 *   - elsewhere, or where openat2 is refused with ENOSYS: one openat(2) per
 *     component with O_NOFOLLOW, ".." going back to the descriptor the walk
 *     came from, which proves "beneath" for paths without symlinks;
 *   - a symlink that leaves the root it was met in may still land inside a
 *     root in scope, which SPEC §4 allows (xsf_reroute).
 *
 * Devices are never opened (opening a tape or a tty has side effects).
 * Where O_PATH exists the name is resolved to an O_PATH descriptor, which
 * opens nothing; only once fstat() says regular file or FIFO is the same
 * inode opened for reading through /proc/self/fd.  Without O_PATH the file
 * is opened O_NONBLOCK|O_NOCTTY and checked afterwards.  O_NONBLOCK also
 * keeps a FIFO with no writer from blocking the worker (SPEC §8).
 */
#ifdef HAVE_CONFIG_H
#include "config.h" /* HAVE_LINUX_OPENAT2_H */
#endif
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE 1 /* O_PATH */
#endif

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <apr_atomic.h>
#include <apr_portable.h>
#include <apr_strings.h>

#include "xsf_path.h"

/*
 * configure checks for linux/openat2.h (config.h); direct builds (the
 * fuzzer) ask the compiler.  -DXSF_NO_OPENAT2 builds as for a kernel
 * before 5.6 (RHEL 8), -DXSF_NO_OPENAT2 -DXSF_NO_O_PATH as for a BSD, so
 * that the unit tests and the fuzzer run the portable code on Linux too.
 */
#if defined(__linux__) && !defined(HAVE_LINUX_OPENAT2_H) && defined(__has_include)
#if __has_include(<linux/openat2.h>)
#define HAVE_LINUX_OPENAT2_H 1
#endif
#endif

#if defined(HAVE_LINUX_OPENAT2_H) && !defined(XSF_NO_OPENAT2)
#include <linux/openat2.h>
#include <sys/syscall.h>
#ifdef SYS_openat2
#define XSF_HAVE_OPENAT2 1
#endif
#endif

#if defined(O_PATH) && !defined(XSF_NO_O_PATH)
#define XSF_HAVE_O_PATH 1
#endif

/* Resolving a name without opening what it names (see the top comment). */
#ifdef XSF_HAVE_O_PATH
#define XSF_O_PROBE (O_PATH | O_CLOEXEC)
#define XSF_O_DIR   (O_PATH | O_DIRECTORY | O_CLOEXEC)
#else
#define XSF_O_PROBE (O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
#define XSF_O_DIR   (O_RDONLY | O_DIRECTORY | O_CLOEXEC)
#endif
#define XSF_O_READ (O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)

/* openat2(2) fails with EAGAIN when a rename raced a ".." check: retry. */
#define XSF_OPENAT2_TRIES 4

#define XSF_MAX_CANDIDATES 5

typedef struct xsf_candidate {
    const char *name;
    const char *decoding;
} xsf_candidate_t;

/*
 * Where a candidate is opened from: a root (its descriptor, opened when
 * Apache read its configuration) and a path beneath it.  A symlink into
 * another root reroutes the open (xsf_reroute).
 */
typedef struct xsf_route {
    const xsf_root_t *root;
    const char *rel;
    int follow;
} xsf_route_t;

/* One lookup: the roots in scope, which of them were checked, and the result. */
typedef struct xsf_lookup_ctx {
    apr_pool_t *p;
    const xsf_root_t *roots;
    int nroots;
    signed char *root_state; /* 0: not checked yet, 1: still the configured
                                    directory, -1: replaced or gone */
    const xsf_lookup_opts_t *opts;
    const xsf_candidate_t *candidate;
    xsf_lookup_result_t *result;
} xsf_lookup_ctx_t;

#ifdef XSF_HAVE_OPENAT2
/* Set once the kernel answered ENOSYS; a benign race between threads. */
static int xsf_openat2_missing;
#endif

/* ------------------------------------------------------------------------
 * SPEC §3: decoding
 * ------------------------------------------------------------------------ */

static int xsf_hexval(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Two hex digits at s, or -1. */
static int xsf_hexbyte(const char *s)
{
    int hi = xsf_hexval((unsigned char)s[0]);
    int lo = hi < 0 ? -1 : xsf_hexval((unsigned char)s[1]);

    return lo < 0 ? -1 : hi * 16 + lo;
}

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, at most U+10FFFF. */
static int xsf_is_utf8(const unsigned char *s, apr_size_t len)
{
    apr_size_t i = 0;

    while (i < len) {
        unsigned char c = s[i];
        unsigned char lo = 0x80, hi = 0xBF;
        apr_size_t n, k;

        if (c < 0x80) {
            ++i;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
        }
        else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
        }
        else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
        }
        else {
            return 0;
        }
        if (c == 0xE0) {
            lo = 0xA0; /* overlong */
        }
        else if (c == 0xED) {
            hi = 0x9F; /* surrogates */
        }
        else if (c == 0xF0) {
            lo = 0x90; /* overlong */
        }
        else if (c == 0xF4) {
            hi = 0x8F; /* above U+10FFFF */
        }
        if (len - i <= n) {
            return 0;
        }
        if (s[i + 1] < lo || s[i + 1] > hi) {
            return 0;
        }
        for (k = 2; k <= n; ++k) {
            if (s[i + k] < 0x80 || s[i + k] > 0xBF) {
                return 0;
            }
        }
        i += n + 1;
    }
    return 1;
}

/* ISO-8859-1 to UTF-8; out has room for 2 * len bytes. Returns the length written. */
static apr_size_t xsf_latin1_to_utf8(const unsigned char *in, apr_size_t len, char *out)
{
    apr_size_t i, o = 0;

    for (i = 0; i < len; ++i) {
        if (in[i] < 0x80) {
            out[o++] = (char)in[i];
        }
        else {
            out[o++] = (char)(0xC0 | (in[i] >> 6));
            out[o++] = (char)(0x80 | (in[i] & 0x3F));
        }
    }
    return o;
}

/*
 * SPEC §3 step 2: decode every valid %XX; a '%' not followed by two hex
 * digits stays as it is ("100%.txt"), and '+' stays '+' (it means a space
 * only in form bodies, not in paths).  Decoding happens once: "%252e" is
 * "%2e", never ".".  Returns the length, or 0 if there was no escape.
 */
static apr_size_t xsf_percent_decode(const char *in, char *out)
{
    apr_size_t o = 0;
    int decoded = 0;

    while (*in) {
        int byte = *in == '%' ? xsf_hexbyte(in + 1) : -1;

        if (byte >= 0) {
            out[o++] = (char)byte;
            in += 3;
            decoded = 1;
        }
        else {
            out[o++] = *in++;
        }
    }
    return decoded ? o : 0;
}

static int xsf_base64_value(int c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '+') {
        return 62;
    }
    if (c == '/') {
        return 63;
    }
    return -1;
}

/* RFC 2047 §4.1 "B": RFC 2045 base64, padded to a multiple of four. Returns -1 if malformed. */
static apr_ssize_t xsf_base64_decode(const char *in, apr_size_t len, unsigned char *out)
{
    apr_size_t i, o = 0;

    if (len % 4 != 0) {
        return -1;
    }
    for (i = 0; i < len; i += 4) {
        int v[4], k, pad = 0;

        for (k = 0; k < 4; ++k) {
            v[k] = xsf_base64_value((unsigned char)in[i + k]);
            if (v[k] < 0) {
                /* '=' only as the last one or two characters */
                if (in[i + k] != '=' || i + 4 != len || k < 2) {
                    return -1;
                }
                v[k] = 0;
                ++pad;
            }
            else if (pad) {
                return -1;
            }
        }
        out[o++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
        if (pad < 2) {
            out[o++] = (unsigned char)((v[1] & 0x0F) << 4 | v[2] >> 2);
        }
        if (pad < 1) {
            out[o++] = (unsigned char)((v[2] & 0x03) << 6 | v[3]);
        }
    }
    return (apr_ssize_t)o;
}

/* RFC 2047 §4.2 "Q": '_' is a space, =XX a byte. Returns -1 if malformed. */
static apr_ssize_t xsf_qp_decode(const char *in, apr_size_t len, unsigned char *out)
{
    apr_size_t i, o = 0;

    for (i = 0; i < len; ++i) {
        if (in[i] == '_') {
            out[o++] = ' ';
        }
        else if (in[i] == '=') {
            int byte = i + 2 < len ? xsf_hexbyte(in + i + 1) : -1;

            if (byte < 0) {
                return -1;
            }
            out[o++] = (unsigned char)byte;
            i += 2;
        }
        else {
            out[o++] = (unsigned char)in[i];
        }
    }
    return (apr_ssize_t)o;
}

/*
 * RFC 2047 charset names we decode (SPEC §3: UTF-8 and ISO-8859-1), with an
 * RFC 2231 "*language" suffix ignored.  Returns 1 for UTF-8 (US-ASCII is a
 * subset), 2 for ISO-8859-1, 0 for anything else.
 */
static int xsf_rfc2047_charset(const char *name, apr_size_t len)
{
    const char *star = memchr(name, '*', len);

    if (star) {
        len = (apr_size_t)(star - name);
    }
    if ((len == 5 && strncasecmp(name, "utf-8", 5) == 0)
        || (len == 8 && strncasecmp(name, "us-ascii", 8) == 0)) {
        return 1;
    }
    if ((len == 10 && strncasecmp(name, "iso-8859-1", 10) == 0)
        || (len == 6 && strncasecmp(name, "latin1", 6) == 0)) {
        return 2;
    }
    return 0;
}

/*
 * One encoded word "=?charset?B|Q?text?=" at s (RFC 2047 §2), its bytes
 * decoded into raw (room for strlen(s) bytes).  Returns the characters
 * consumed, or 0 where s does not start a word we can decode; *rawlen gets
 * the byte count and *latin1 whether they are ISO-8859-1 rather than UTF-8.
 * Every scan stops at the next '?', so a value full of "=?" costs linear time.
 */
static apr_size_t xsf_rfc2047_word(const char *s, unsigned char *raw, apr_size_t *rawlen,
                                   int *latin1)
{
    const char *charset = s + 2, *enc, *text, *end;
    apr_ssize_t n;
    int cs;

    if (s[0] != '=' || s[1] != '?') {
        return 0;
    }
    enc = charset + strcspn(charset, "?");
    if (*enc != '?' || enc == charset || enc[1] == '\0' || enc[2] != '?') {
        return 0;
    }
    text = enc + 3;
    /* encoded-text has no '?' and no white space (RFC 2047 §5) */
    end = text + strcspn(text, "? \t");
    if (end[0] != '?' || end[1] != '=') {
        return 0;
    }
    cs = xsf_rfc2047_charset(charset, (apr_size_t)(enc - charset));
    if (cs == 0) {
        return 0;
    }
    if (enc[1] == 'b' || enc[1] == 'B') {
        n = xsf_base64_decode(text, (apr_size_t)(end - text), raw);
    }
    else if (enc[1] == 'q' || enc[1] == 'Q') {
        n = xsf_qp_decode(text, (apr_size_t)(end - text), raw);
    }
    else {
        return 0;
    }
    if (n < 0) {
        return 0;
    }
    *rawlen = (apr_size_t)n;
    *latin1 = cs == 2;
    return (apr_size_t)(end + 2 - s);
}

/*
 * SPEC §3 step 1: decode the RFC 2047 words of a value (Django sends
 * "=?utf-8?b?...?=" for names outside Latin-1) to UTF-8 in out (room for
 * 2 * strlen(in) bytes).  Text around the words is kept; white space
 * between two adjacent words is dropped (RFC 2047 §6.2).  Returns the
 * length, or -1 if the value holds no word we can decode.
 */
static apr_ssize_t xsf_rfc2047_decode(apr_pool_t *p, const char *in, char *out)
{
    unsigned char *raw = apr_palloc(p, strlen(in) + 1);
    apr_size_t o = 0, after_word = 0;
    int found = 0, in_gap = 0;

    while (*in) {
        apr_size_t rawlen = 0;
        int latin1 = 0;
        apr_size_t used = xsf_rfc2047_word(in, raw, &rawlen, &latin1);

        if (used > 0) {
            if (in_gap) {
                o = after_word; /* drop the white space between two words */
            }
            if (latin1) {
                o += xsf_latin1_to_utf8(raw, rawlen, out + o);
            }
            else {
                memcpy(out + o, raw, rawlen);
                o += rawlen;
            }
            after_word = o;
            in += used;
            found = in_gap = 1;
            continue;
        }
        if (*in != ' ' && *in != '\t') {
            in_gap = 0;
        }
        out[o++] = *in++;
    }
    return found ? (apr_ssize_t)o : -1;
}

/* The number of ".." segments of a name, '/' separated (SPEC §4). */
static int xsf_count_dotdot(const char *name, apr_size_t len)
{
    apr_size_t i = 0;
    int n = 0;

    while (i < len) {
        apr_size_t seg = i;

        while (i < len && name[i] != '/') {
            ++i;
        }
        if (i - seg == 2 && name[seg] == '.' && name[seg + 1] == '.') {
            ++n;
        }
        ++i;
    }
    return n;
}

/* What the decoders of one value share: the raw value and the list so far. */
typedef struct xsf_decoding {
    apr_pool_t *p;
    xsf_candidate_t *c;
    int n;
    int raw_dotdots;     /* ".." segments the raw value has itself */
    const char *skipped; /* why a decoding was skipped, for the log */
    const char *reason;  /* why the value was refused (XSF_BAD_VALUE) */
} xsf_decoding_t;

/*
 * Add a candidate unless an earlier one has the same name.  An empty name,
 * or a CR or LF, means the backend sent garbage (SPEC §3): the whole value
 * is refused.  A decoding that produces a NUL or a ".." segment the raw
 * value did not have is skipped instead (SPEC §4: decoding never invents a
 * path): an application that checked the raw value for ".." must not be
 * outwitted by "%2e%2e%2f".  Returns XSF_FOUND (go on) or XSF_BAD_VALUE.
 */
static xsf_status_t xsf_add_candidate(xsf_decoding_t *d, const char *name, apr_size_t len,
                                      const char *decoding)
{
    int i;

    if (len == 0 || memchr(name, '\r', len) || memchr(name, '\n', len)) {
        d->reason = apr_psprintf(d->p, "the %s value is empty or holds a CR or LF byte", decoding);
        return XSF_BAD_VALUE;
    }
    if (memchr(name, '\0', len) || xsf_count_dotdot(name, len) > d->raw_dotdots) {
        d->skipped = apr_psprintf(d->p,
                                  "the %s value, which adds a NUL or a '..' "
                                  "segment, was skipped",
                                  decoding);
        return XSF_FOUND;
    }
    for (i = 0; i < d->n; ++i) {
        if (strcmp(d->c[i].name, name) == 0) {
            return XSF_FOUND;
        }
    }
    d->c[d->n].name = apr_pstrmemdup(d->p, name, len);
    d->c[d->n].decoding = decoding;
    ++d->n;
    return XSF_FOUND;
}

/* SPEC §3 step 4: the ISO-8859-1 reading of a name that is not UTF-8. */
static xsf_status_t xsf_add_latin1(xsf_decoding_t *d, const char *name, const char *decoding)
{
    apr_size_t len = strlen(name);
    char *utf8;

    if (xsf_is_utf8((const unsigned char *)name, len)) {
        return XSF_FOUND;
    }
    utf8 = apr_palloc(d->p, 2 * len);
    len = xsf_latin1_to_utf8((const unsigned char *)name, len, utf8);
    return xsf_add_candidate(d, utf8, len, decoding);
}

/* No '%', no "=?", no CR or LF, nothing above ASCII: no decoding applies. */
static int xsf_is_plain(const char *value)
{
    const unsigned char *c;

    for (c = (const unsigned char *)value; *c; ++c) {
        if (*c == '%' || *c >= 0x80 || *c == '\r' || *c == '\n' || (*c == '=' && c[1] == '?')) {
            return 0;
        }
    }
    return 1;
}

/*
 * SPEC §3: the ordered candidates of a value.  A value the backend marked
 * as percent-encoded (X-SendFile-Encoding: url) but that has no escape is
 * its own decoding: Flask's quote() of an ASCII name changes nothing.
 */
static xsf_status_t xsf_decode_candidates(xsf_decoding_t *d, const char *value,
                                          const xsf_lookup_opts_t *opts)
{
    apr_size_t len = strlen(value), plen;
    char *buf = apr_palloc(d->p, 2 * len + 1);
    const char *percent = NULL;
    apr_ssize_t rlen;
    xsf_status_t st = XSF_FOUND;

    d->n = 0;
    if (len == 0) {
        d->reason = "the value is empty";
        return XSF_BAD_VALUE;
    }
    /* Most values are plain ASCII paths: no escape, no encoded word, no
     * byte a Latin-1 reading would change.  They are their only candidate. */
    if (xsf_is_plain(value)) {
        d->c[0].name = value;
        d->c[0].decoding = opts->value_is_encoded ? "percent-decoded" : "raw";
        d->n = 1;
        return XSF_FOUND;
    }
    d->raw_dotdots = xsf_count_dotdot(value, len);
    rlen = xsf_rfc2047_decode(d->p, value, buf);
    if (rlen >= 0) {
        st = xsf_add_candidate(d, buf, (apr_size_t)rlen, "RFC 2047");
    }
    if (st == XSF_FOUND && (opts->unescape || opts->value_is_encoded)) {
        plen = xsf_percent_decode(value, buf);
        if (plen == 0 && opts->value_is_encoded) {
            memcpy(buf, value, len);
            plen = len;
        }
        if (plen > 0) {
            st = xsf_add_candidate(d, buf, plen, "percent-decoded");
            percent = apr_pstrmemdup(d->p, buf, plen);
        }
    }
    if (st == XSF_FOUND && !opts->value_is_encoded) {
        st = xsf_add_candidate(d, value, len, "raw");
    }
    if (st == XSF_FOUND && percent) {
        st = xsf_add_latin1(d, percent, "percent-decoded ISO-8859-1");
    }
    if (st == XSF_FOUND && !opts->value_is_encoded) {
        st = xsf_add_latin1(d, value, "ISO-8859-1");
    }
    if (st == XSF_FOUND && d->n == 0) {
        d->reason = d->skipped;
        st = XSF_BAD_VALUE;
    }
    return st;
}

/* ------------------------------------------------------------------------
 * Path arithmetic, lexical only
 * ------------------------------------------------------------------------ */

/* Skip separators and "." components. */
static const char *xsf_skip_empty(const char *s)
{
    for (;;) {
        while (*s == '/') {
            ++s;
        }
        if (s[0] == '.' && (s[1] == '/' || s[1] == '\0')) {
            ++s;
        }
        else {
            return s;
        }
    }
}

/*
 * The part of `path` below `dir`, compared by whole components (the original
 * module's prefix test let root /data contain /data2/x), or NULL.  "" is dir itself.
 * Empty and "." components of path are ignored; ".." is not interpreted,
 * so "/data/../etc" is below "/data" as "../etc" and refused later.
 */
static const char *xsf_path_below(const char *dir, const char *path)
{
    if (path[0] != '/') {
        return NULL;
    }
    for (;;) {
        apr_size_t dlen, plen;

        while (*dir == '/') {
            ++dir;
        }
        path = xsf_skip_empty(path);
        if (*dir == '\0') {
            return path;
        }
        dlen = strcspn(dir, "/");
        plen = strcspn(path, "/");
        if (dlen != plen || memcmp(dir, path, dlen) != 0) {
            return NULL;
        }
        dir += dlen;
        path += plen;
    }
}

/*
 * The components of a relative path, without empty and "." ones.
 * *trailing_slash: a '/' follows the last component ("file/", "file/."),
 * so it must name a directory, as the kernel would insist.
 */
static int xsf_components(apr_pool_t *p, const char *rel, const char ***comps, int *trailing_slash)
{
    apr_size_t len = strlen(rel);
    const char **c = apr_palloc(p, (len / 2 + 1) * sizeof(*c));
    int n = 0;

    *trailing_slash = 0;
    while (*rel) {
        apr_size_t clen = strcspn(rel, "/");

        if (clen > 0 && !(clen == 1 && rel[0] == '.')) {
            c[n++] = apr_pstrmemdup(p, rel, clen);
            *trailing_slash = rel[clen] == '/';
        }
        rel += clen;
        while (*rel == '/') {
            ++rel;
        }
    }
    *comps = c;
    return n;
}

static int xsf_is_dotdot(const char *comp)
{
    return comp[0] == '.' && comp[1] == '.' && comp[2] == '\0';
}

/*
 * Apply ".." lexically, in place.  Returns the new count, or -1 where ".."
 * would climb above the start (SPEC §3: never above the root the value is
 * resolved against).
 */
static int xsf_normalise(const char **comps, int n)
{
    int i, out = 0;

    for (i = 0; i < n; ++i) {
        if (!xsf_is_dotdot(comps[i])) {
            comps[out++] = comps[i];
        }
        else if (out-- == 0) {
            return -1;
        }
    }
    return out;
}

/* dir + "/" + each component, in one allocation (values may be 64 KiB). */
static const char *xsf_join(apr_pool_t *p, const char *dir, const char **comps, int n)
{
    apr_size_t dlen = strcmp(dir, "/") == 0 ? 0 : strlen(dir), len = dlen;
    char *path, *o;
    int i;

    for (i = 0; i < n; ++i) {
        len += 1 + strlen(comps[i]);
    }
    if (n == 0) {
        return dir;
    }
    path = apr_palloc(p, len + 1);
    memcpy(path, dir, dlen);
    o = path + dlen;
    for (i = 0; i < n; ++i) {
        apr_size_t clen = strlen(comps[i]);

        *o++ = '/';
        memcpy(o, comps[i], clen);
        o += clen;
    }
    *o = '\0';
    return path;
}

/* ------------------------------------------------------------------------
 * SPEC §4: opening beneath a directory descriptor
 * ------------------------------------------------------------------------ */

/* After a failed O_NOFOLLOW open: was the component a symlink? */
static int xsf_is_symlink_at(int dirfd, const char *name)
{
    struct stat st;

    return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
}

/* O_PATH|O_NOFOLLOW opens a symlink itself instead of failing. */
static int xsf_fd_is_symlink(int fd)
{
    struct stat st;

    return fstat(fd, &st) == 0 && S_ISLNK(st.st_mode);
}

/* openat(2) of one component with O_NOFOLLOW; a symlink met: ELOOP. */
static int xsf_openat_nofollow(int dirfd, const char *name, int flags)
{
    int fd = openat(dirfd, name, flags | O_NOFOLLOW);

    if (fd < 0) {
        int err = errno;

        /* Linux says ELOOP, FreeBSD EMLINK; with O_DIRECTORY, ENOTDIR */
        errno = xsf_is_symlink_at(dirfd, name) ? ELOOP : err;
        return -1;
    }
    if (xsf_fd_is_symlink(fd)) {
        close(fd);
        errno = ELOOP;
        return -1;
    }
    return fd;
}

/*
 * The portable RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS: one component at a time,
 * each with O_NOFOLLOW, from `dirfd` downwards.  ".." returns to the
 * descriptor the walk came from instead of opening "..", so a directory
 * renamed away meanwhile cannot lead above `dirfd`; and like openat2 the
 * walk opens every component a ".." cancels, so "link/.." is a symlink met,
 * "file/.." is ENOTDIR.  Returns a descriptor, or -1 with errno (ELOOP: a
 * symlink, EXDEV: ".." above `dirfd`).
 */
static int xsf_walk_beneath(apr_pool_t *p, int dirfd, const char *rel, int flags)
{
    const char **comps;
    int trailing_slash, n, i, last, depth = 0, fd = -1, err;
    int *dirs;

#ifdef PATH_MAX
    /* as the kernel would: the same names fail with or without openat2 */
    if (strlen(rel) >= PATH_MAX) {
        errno = ENAMETOOLONG;
        return -1;
    }
#endif
    n = xsf_components(p, rel, &comps, &trailing_slash);
    dirs = apr_palloc(p, (apr_size_t)(n + 1) * sizeof(*dirs));
    dirs[0] = dirfd;
    /* the component opened with the caller's flags; n: "." of where ".." led */
    last = n == 0 || xsf_is_dotdot(comps[n - 1]) ? n : n - 1;
    for (i = 0; i < last; ++i) {
        if (!xsf_is_dotdot(comps[i])) {
            int next = xsf_openat_nofollow(dirs[depth], comps[i], XSF_O_DIR);

            if (next < 0) {
                goto done;
            }
            dirs[++depth] = next;
        }
        else if (depth == 0) {
            errno = EXDEV;
            goto done;
        }
        else {
            close(dirs[depth--]);
        }
    }
    if (last == n) {
        fd = openat(dirs[depth], ".", flags | O_DIRECTORY);
    }
    else {
        fd = xsf_openat_nofollow(dirs[depth], comps[last],
                                 flags | (trailing_slash ? O_DIRECTORY : 0));
    }
done:
    err = errno;
    while (depth > 0) {
        close(dirs[depth--]);
    }
    errno = err;
    return fd;
}

#ifdef XSF_HAVE_OPENAT2
static int xsf_openat2(int dirfd, const char *rel, int flags, int follow)
{
    struct open_how how;
    int tries = XSF_OPENAT2_TRIES;
    long fd;

    memset(&how, 0, sizeof(how));
    how.flags = (apr_uint64_t)flags;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | (follow ? 0 : RESOLVE_NO_SYMLINKS);
    do {
        fd = syscall(SYS_openat2, dirfd, *rel ? rel : ".", &how, sizeof(how));
    } while (fd < 0 && errno == EAGAIN && --tries > 0);
    return (int)fd;
}
#endif

/*
 * Open `rel` beneath `dirfd`.  Fails with EXDEV where the name leaves the
 * directory (or, follow on, passes a symlink the walk cannot prove beneath:
 * the caller checks it canonically), ELOOP for a symlink with follow off.
 */
static int xsf_open_beneath(apr_pool_t *p, int dirfd, const char *rel, int flags, int follow)
{
    int fd;

#ifdef XSF_HAVE_OPENAT2
    if (!xsf_openat2_missing) {
        fd = xsf_openat2(dirfd, rel, flags, follow);
        if (fd >= 0 || errno != ENOSYS) {
            return fd;
        }
        xsf_openat2_missing = 1;
    }
#endif
    fd = xsf_walk_beneath(p, dirfd, rel, flags);
    if (fd < 0 && errno == ELOOP && follow) {
        errno = EXDEV;
    }
    return fd;
}

/* ------------------------------------------------------------------------
 * SPEC §4: the roots
 * ------------------------------------------------------------------------ */

static const char *xsf_strerror(apr_pool_t *p, int err)
{
    char buf[120];

    return apr_pstrdup(p, apr_strerror(APR_FROM_OS_ERROR(err), buf, sizeof(buf)));
}

/*
 * Is the directory now standing at a root's name still the one opened at
 * start-up?  Files are always opened beneath the descriptor taken then, so
 * a root renamed away and replaced (by a symlink to elsewhere, another
 * directory, a mount) can never serve what replaced it; this check turns
 * that situation into a clear error instead of silently serving from the
 * old directory.  One stat(2) per root and second in each process: a
 * replacement is refused within a second of happening.
 */
static int xsf_root_usable(xsf_lookup_ctx_t *ctx, int i)
{
    const xsf_root_t *root = &ctx->roots[i];
    apr_uint32_t now = (apr_uint32_t)apr_time_sec(apr_time_now());
    struct stat st;

    if (ctx->root_state[i] == 0 && apr_atomic_read32(root->checked_at) == now) {
        ctx->root_state[i] = 1;
    }
    if (ctx->root_state[i] == 0) {
        if (stat(root->path, &st) != 0) {
            ctx->result->reason = apr_psprintf(ctx->p,
                                               "root %s is gone since Apache "
                                               "started (%s); reload Apache after "
                                               "moving a root",
                                               root->path, xsf_strerror(ctx->p, errno));
            ctx->root_state[i] = -1;
        }
        else if ((apr_dev_t)st.st_dev != root->device || (apr_ino_t)st.st_ino != root->inode) {
            ctx->result->reason = apr_psprintf(ctx->p,
                                               "root %s was replaced since Apache "
                                               "started; nothing is served from what "
                                               "stands there now until Apache is "
                                               "reloaded",
                                               root->path);
            ctx->root_state[i] = -1;
        }
        else {
            ctx->root_state[i] = 1;
            apr_atomic_set32(root->checked_at, now);
        }
    }
    return ctx->root_state[i] > 0;
}

/* ------------------------------------------------------------------------
 * SPEC §4: one candidate under one root
 * ------------------------------------------------------------------------ */

/*
 * A symlink left the root of `route` (EXDEV under RESOLVE_BENEATH).  SPEC
 * §4 serves its target if that lies inside any root in scope: realpath(3)
 * names the target, the root holding it is found by whole components, and
 * the route is redirected to the canonical remainder beneath that root's
 * descriptor with symlinks refused, so that a link swapped in after
 * realpath() makes the open fail instead of escaping.  Returns the probe
 * descriptor, or -1 with errno (EXDEV: no root holds the target).
 */
static int xsf_reroute(xsf_lookup_ctx_t *ctx, xsf_route_t *route)
{
    const char *full = apr_pstrcat(ctx->p, route->root->path, "/", route->rel, NULL);
    char *canonical = realpath(full, NULL);
    int i, fd = -1;

    if (canonical == NULL) {
        return -1;
    }
    errno = EXDEV;
    for (i = 0; i < ctx->nroots; ++i) {
        const char *below = xsf_path_below(ctx->roots[i].path, canonical);

        if (below != NULL && xsf_root_usable(ctx, i)) {
            route->root = &ctx->roots[i];
            route->rel = apr_pstrdup(ctx->p, below);
            route->follow = 0;
            fd = xsf_open_beneath(ctx->p, route->root->fd, route->rel, XSF_O_PROBE, 0);
            if (fd < 0 && errno == ELOOP) {
                errno = EXDEV; /* a symlink appeared since realpath() */
            }
            break;
        }
    }
    free(canonical);
    return fd;
}

#if defined(XSF_HAVE_O_PATH) || defined(__linux__)
/* "/proc/self/fd/N" into buf (room for 32 bytes), without printf's cost. */
static void xsf_proc_fd(char *buf, int fd)
{
    char digits[12];
    int n = 0;

    do {
        digits[n++] = (char)('0' + fd % 10);
        fd /= 10;
    } while (fd > 0 && n < (int)sizeof(digits));
    memcpy(buf, "/proc/self/fd/", 14);
    for (buf += 14; n > 0;) {
        *buf++ = digits[--n];
    }
    *buf = '\0';
}
#endif

/*
 * An apr_file_t of APR's own for a descriptor the caller keeps: a
 * duplicate with the cleanup apr_file_open() registers.  That cleanup is
 * what apr_file_setaside() moves when httpd sets a file bucket aside for
 * write completion; a file made by apr_os_file_put() has none to move, and
 * its descriptor was never closed (one leaked per large download).
 */
static apr_status_t xsf_adopt(apr_pool_t *p, int fd, apr_int32_t flags, apr_file_t **file)
{
    apr_file_t *borrowed;
    apr_os_file_t dup_fd;
    apr_status_t rv = apr_os_file_put(&borrowed, &fd, flags, p);

    if (rv == APR_SUCCESS) {
        rv = apr_file_dup(file, borrowed, p);
    }
    /* apr_file_dup() uses dup(2), which drops close-on-exec; a CGI forked
     * meanwhile by another thread could inherit the descriptor.  Only the
     * builds without /proc or O_PATH come here. */
    if (rv == APR_SUCCESS && apr_os_file_get(&dup_fd, *file) == APR_SUCCESS) {
        (void)fcntl(dup_fd, F_SETFD, FD_CLOEXEC);
    }
    return rv;
}

/*
 * Open the probed inode for reading, owned by APR in ctx->p.  Through
 * /proc/self/fd this is the very inode probed.  Without /proc (a ChrootDir
 * jail) the route is resolved again and must give the same inode; a device
 * swapped in between would then be opened, but only one lying inside a root.
 */
static apr_status_t xsf_open_for_reading(xsf_lookup_ctx_t *ctx, int probe,
                                         const apr_finfo_t *probed, const xsf_route_t *route,
                                         apr_file_t **file)
{
    apr_int32_t flags = APR_FOPEN_READ | APR_FOPEN_NONBLOCK | ctx->opts->open_flags;
#ifdef XSF_HAVE_O_PATH
    char proc[32];
    struct stat st;
    apr_status_t rv;
    int fd;

    xsf_proc_fd(proc, probe);
    rv = apr_file_open(file, proc, flags, APR_OS_DEFAULT, ctx->p);
    if (!APR_STATUS_IS_ENOENT(rv)) {
        return rv;
    }
    fd = xsf_open_beneath(ctx->p, route->root->fd, route->rel, XSF_O_READ, route->follow);
    if (fd < 0) {
        return APR_FROM_OS_ERROR(errno);
    }
    if (fstat(fd, &st) != 0 || (apr_dev_t)st.st_dev != probed->device
        || (apr_ino_t)st.st_ino != probed->inode) {
        rv = APR_FROM_OS_ERROR(EXDEV);
    }
    else {
        rv = xsf_adopt(ctx->p, fd, flags, file);
    }
    close(fd);
    return rv;
#else
    /* Without O_PATH the probe was opened for reading already. */
    (void)probed;
    (void)route;
    return xsf_adopt(ctx->p, probe, flags, file);
#endif
}

/* What the probe names, from fstat(2): the one stat of a lookup. */
static apr_status_t xsf_probe_info(apr_pool_t *p, int probe, apr_finfo_t *finfo)
{
    apr_file_t *borrowed;
    apr_status_t rv = apr_os_file_put(&borrowed, &probe, 0, p);

    if (rv == APR_SUCCESS) {
        rv = apr_file_info_get(finfo, APR_FINFO_NORM, borrowed);
    }
    return rv == APR_INCOMPLETE ? APR_SUCCESS : rv;
}

/*
 * The canonical path of the opened file, for logs and for deleting an
 * X-SendFile-Temporary file: the name beneath the root the file was found
 * under.  Where the route followed symlinks, the kernel names the inode.
 */
static const char *xsf_canonical_path(apr_pool_t *p, const xsf_route_t *route, int probe)
{
    const char **comps;
    int trailing_slash, n;
#ifdef __linux__
    char link[32], buf[PATH_MAX];
    ssize_t len;

    xsf_proc_fd(link, probe);
    len = readlink(link, buf, sizeof(buf) - 1);
    if (len > 0 && buf[0] == '/') {
        buf[len] = '\0';
        return apr_pstrdup(p, buf);
    }
#else
    (void)probe;
#endif
    /* The route's path has no symlink in it here (the portable walk
     * refuses them, and a rerouted route is canonical): lexical is physical. */
    n = xsf_components(p, route->rel, &comps, &trailing_slash);
    n = xsf_normalise(comps, n);
    return n < 0 ? route->root->path : xsf_join(p, route->root->path, comps, n);
}

static const char *xsf_kind(apr_filetype_e type)
{
    switch (type) {
    case APR_DIR: return "a directory";
    case APR_CHR:
    case APR_BLK: return "a device";
    case APR_SOCK: return "a socket";
    default: return "not a regular file";
    }
}

/* An errno from resolving or opening, as the status of SPEC §4. */
static xsf_status_t xsf_errno_status(xsf_lookup_ctx_t *ctx, int err, const char *name)
{
    const char *why = xsf_strerror(ctx->p, err);
    xsf_status_t st;

    switch (err) {
    case ENOENT:
    case ENOTDIR:
    case ENAMETOOLONG: st = XSF_NOT_FOUND; break;
    case ELOOP:
        st = ctx->opts->follow_symlinks ? XSF_NOT_FOUND : XSF_FORBIDDEN;
        if (!ctx->opts->follow_symlinks) {
            why = "a symlink, and XSendFileFollowSymlinks is Off";
        }
        break;
    case EXDEV:
        st = XSF_OUTSIDE;
        why = "it resolves outside every XSendFilePath root";
        break;
    case EACCES:
    case EPERM: st = XSF_FORBIDDEN; break;
    case ENXIO: /* open(2) of a socket, or of a device with no driver */
    case EOPNOTSUPP: /* the same on some BSDs */ st = XSF_NOT_REGULAR; break;
    default: st = XSF_ERROR; break;
    }
    ctx->result->reason =
        apr_psprintf(ctx->p, "%.512s (%s value): %s", name, ctx->candidate->decoding, why);
    return st;
}

/*
 * The probe names something: serve it if it is a regular file or a named
 * pipe.  Devices are never opened for reading (opening a tape or a tty has
 * side effects), which is why the probe is an O_PATH descriptor.
 */
static xsf_status_t xsf_accept(xsf_lookup_ctx_t *ctx, int probe, const xsf_route_t *route,
                               const char *name)
{
    xsf_lookup_result_t *res = ctx->result;
    apr_status_t rv = xsf_probe_info(ctx->p, probe, &res->finfo);

    if (rv != APR_SUCCESS) {
        return xsf_errno_status(ctx, rv, name);
    }
    if (res->finfo.filetype != APR_REG && res->finfo.filetype != APR_PIPE) {
        res->reason = apr_psprintf(ctx->p, "%.512s (%s value) is %s", name,
                                   ctx->candidate->decoding, xsf_kind(res->finfo.filetype));
        return XSF_NOT_REGULAR;
    }
    rv = xsf_open_for_reading(ctx, probe, &res->finfo, route, &res->file);
    if (rv != APR_SUCCESS) {
        res->file = NULL;
        return xsf_errno_status(ctx, rv, name);
    }
    res->path = ctx->opts->want_path ? xsf_canonical_path(ctx->p, route, probe) : NULL;
    res->finfo.fname = res->path != NULL ? res->path : name;
    res->name = name;
    res->root = route->root;
    res->decoding = ctx->candidate->decoding;
    res->decoded = ctx->candidate->name;
    res->is_fifo = res->finfo.filetype == APR_PIPE;
    res->reason = NULL;
    return XSF_FOUND;
}

/*
 * SPEC §4 for one candidate under root i; `rel` is the part below it.
 * The name a user would see (root joined with `rel`, ".." applied
 * lexically) is what mod_mime types and the log shows; the open itself
 * goes beneath the root's descriptor, where the kernel refuses to leave
 * it.  Only a symlink into another root takes another route.
 */
static xsf_status_t xsf_try_root(xsf_lookup_ctx_t *ctx, int i, const char *rel)
{
    const char **comps;
    int trailing_slash, n, probe;
    xsf_route_t route;
    const char *name;
    xsf_status_t status;

    n = xsf_components(ctx->p, rel, &comps, &trailing_slash);
    n = xsf_normalise(comps, n);
    if (n < 0) {
        ctx->result->reason =
            apr_psprintf(ctx->p,
                         "%.512s (%s value): '..' climbs above "
                         "root %s",
                         ctx->candidate->name, ctx->candidate->decoding, ctx->roots[i].path);
        return XSF_OUTSIDE;
    }
    if (!xsf_root_usable(ctx, i)) {
        return XSF_ROOT_CHANGED;
    }
    name = xsf_join(ctx->p, ctx->roots[i].path, comps, n);
    route.root = &ctx->roots[i];
    route.rel = rel;
    route.follow = ctx->opts->follow_symlinks;
    probe = xsf_open_beneath(ctx->p, route.root->fd, rel, XSF_O_PROBE, route.follow);
    if (probe < 0 && errno == EXDEV && route.follow) {
        probe = xsf_reroute(ctx, &route);
    }
    if (probe < 0) {
        return xsf_errno_status(ctx, errno, name);
    }
    status = xsf_accept(ctx, probe, &route, name);
    close(probe);
    return status;
}

/*
 * One candidate: a relative name under each root in order, an absolute one
 * under the roots that contain it by whole components (as canonical or as
 * configured).  XSF_NOT_FOUND means: it names nothing, try the next one.
 */
static xsf_status_t xsf_try_candidate(xsf_lookup_ctx_t *ctx)
{
    const char *name = ctx->candidate->name;
    int i, contained = 0;

    for (i = 0; i < ctx->nroots; ++i) {
        const char *rel = name;
        xsf_status_t st;

        if (name[0] == '/') {
            rel = xsf_path_below(ctx->roots[i].path, name);
            if (rel == NULL && ctx->roots[i].configured != NULL) {
                rel = xsf_path_below(ctx->roots[i].configured, name);
            }
            if (rel == NULL) {
                continue;
            }
        }
        contained = 1;
        st = xsf_try_root(ctx, i, rel);
        if (st != XSF_NOT_FOUND) {
            return st;
        }
    }
    if (!contained) {
        ctx->result->reason = apr_psprintf(ctx->p,
                                           "%.512s (%s value) is outside every "
                                           "XSendFilePath root",
                                           name, ctx->candidate->decoding);
        return XSF_OUTSIDE;
    }
    return XSF_NOT_FOUND;
}

/* ------------------------------------------------------------------------
 * Public functions
 * ------------------------------------------------------------------------ */

/* The pool's cleanup owns a root's descriptor; copies of xsf_root_t only use it. */
static apr_status_t xsf_root_cleanup(void *data)
{
    close(*(int *)data);
    return APR_SUCCESS;
}

const char *xsf_root_open(apr_pool_t *p, const char *configured, int allow_delete, xsf_root_t *root)
{
    struct stat st;
    char *path;
    int *owned;
    int fd;

    memset(root, 0, sizeof(*root));
    root->fd = -1;
    if (configured == NULL || configured[0] != '/') {
        return "must be an absolute path";
    }
    path = realpath(configured, NULL);
    if (path == NULL) {
        return apr_psprintf(p, "cannot be resolved: %s", xsf_strerror(p, errno));
    }
    fd = open(path, XSF_O_DIR);
    if (fd < 0 || fstat(fd, &st) != 0) {
        const char *err =
            apr_psprintf(p, "cannot be opened as a directory: %s", xsf_strerror(p, errno));

        if (fd >= 0) {
            close(fd);
        }
        free(path);
        return err;
    }
    owned = apr_palloc(p, sizeof(*owned));
    *owned = fd;
    apr_pool_cleanup_register(p, owned, xsf_root_cleanup, apr_pool_cleanup_null);
    root->path = apr_pstrdup(p, path);
    root->configured = apr_pstrdup(p, configured);
    root->allow_delete = allow_delete;
    root->fd = fd;
    root->device = (apr_dev_t)st.st_dev;
    root->inode = (apr_ino_t)st.st_ino;
    root->checked_at = apr_pcalloc(p, sizeof(*root->checked_at));
    free(path);
    return NULL;
}

xsf_status_t xsf_lookup(apr_pool_t *p, const char *value, const xsf_root_t *roots, int nroots,
                        const xsf_lookup_opts_t *opts, xsf_lookup_result_t *result)
{
    xsf_candidate_t candidates[XSF_MAX_CANDIDATES];
    xsf_decoding_t decoding;
    xsf_lookup_ctx_t ctx;
    xsf_status_t st;
    int i;

    memset(result, 0, sizeof(*result));
    if (value == NULL) {
        value = ""; /* refused below as empty */
    }
    if (nroots <= 0) {
        result->reason = "no XSendFilePath in scope: add one naming the directory "
                         "the backend's files are in";
        return XSF_NO_ROOT;
    }
    memset(&decoding, 0, sizeof(decoding));
    decoding.p = p;
    decoding.c = candidates;
    st = xsf_decode_candidates(&decoding, value, opts);
    if (st != XSF_FOUND) {
        result->reason = decoding.reason;
        return st;
    }

    ctx.p = p;
    ctx.roots = roots;
    ctx.nroots = nroots;
    ctx.root_state = apr_pcalloc(p, (apr_size_t)nroots);
    ctx.opts = opts;
    ctx.result = result;

    st = XSF_NOT_FOUND;
    for (i = 0; i < decoding.n && st == XSF_NOT_FOUND; ++i) {
        ctx.candidate = &candidates[i];
        st = xsf_try_candidate(&ctx);
    }
    if (st == XSF_NOT_FOUND) {
        result->reason =
            apr_psprintf(p,
                         "%.512s: not found under any XSendFilePath root "
                         "(%d decoding%s tried)%s%s",
                         value, decoding.n, decoding.n == 1 ? "" : "s",
                         decoding.skipped ? "; " : "", decoding.skipped ? decoding.skipped : "");
    }
    return st;
}

apr_status_t xsf_unlink_opened(apr_pool_t *p, const xsf_lookup_result_t *result)
{
    const xsf_root_t *root;
    const char *below, *slash, *base;
    struct stat st;
    int dirfd;
    apr_status_t rv = APR_SUCCESS;

    if (result == NULL || result->file == NULL || result->root == NULL || result->path == NULL) {
        return APR_EINVAL;
    }
    root = result->root;
    if (!root->allow_delete) {
        return APR_FROM_OS_ERROR(EACCES);
    }
    below = xsf_path_below(root->path, result->path);
    if (below == NULL || *below == '\0') {
        return APR_FROM_OS_ERROR(EACCES);
    }

    slash = strrchr(below, '/');
    base = slash ? slash + 1 : below;
    /* the directory holding the name, reached from the root without any symlink */
    dirfd = slash ? xsf_open_beneath(
                p, root->fd, apr_pstrmemdup(p, below, (apr_size_t)(slash - below)), XSF_O_DIR, 0)
                  : root->fd;
    if (dirfd < 0) {
        rv = APR_FROM_OS_ERROR(errno);
    }
    else if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        rv = APR_FROM_OS_ERROR(errno);
    }
    else if ((apr_dev_t)st.st_dev != result->finfo.device
             || (apr_ino_t)st.st_ino != result->finfo.inode) {
        rv = APR_FROM_OS_ERROR(ESTALE); /* the name now refers to another file */
    }
    else if (unlinkat(dirfd, base, 0) != 0) {
        rv = APR_FROM_OS_ERROR(errno);
    }
    if (dirfd >= 0 && dirfd != root->fd) {
        close(dirfd);
    }
    return rv;
}
