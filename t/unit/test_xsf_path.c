/*
 * test_xsf_path.c: SPEC §3 (decoding) and §4 (confinement) of xsf_path.c.
 *
 * Builds its own tree under a mkdtemp() directory:
 *
 *   a/            root A (configured as link-to-a, AllowFileDelete)
 *   b/            root B
 *   a2/x.txt      the "/data" vs "/data2" trap
 *   outside/      files no root contains
 *   link-to-a -> a
 *
 * and looks up a table of header values, each with the status and the file
 * a user would get.  Compiled with -DXSF_NO_OPENAT2 (kernels before 5.6),
 * and with -DXSF_NO_OPENAT2 -DXSF_NO_O_PATH (BSDs), xsf_path.c takes its
 * portable paths, and the same table must give the same answers.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#ifdef __linux__
#include <sys/sysmacros.h> /* makedev */
#endif
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <apr_general.h>
#include <apr_portable.h>
#include <apr_strings.h>

#include "tap.h"
#include "xsf_path.h"

/* Row flags: the defaults are SPEC §1's (Unescape On, FollowSymlinks On, roots A and B). */
#define NO_UNESCAPE  0x01u /* XSendFileUnescape Off */
#define ENCODED      0x02u /* X-SendFile-Encoding: url */
#define NO_FOLLOW    0x04u /* XSendFileFollowSymlinks Off */
#define ONLY_A       0x08u /* root A alone in scope */
#define AS_B64       0x10u /* send the value as one RFC 2047 B word (Django) */
#define AS_PERCENT   0x20u /* send the value percent-encoded, '/' kept */
#define NEEDS_DEVICE 0x40u /* the device node could be created (root) */

typedef struct row {
    const char *value; /* a leading '@' stands for the test directory */
    unsigned flags;
    xsf_status_t want;
    const char *file; /* the file served, relative to the test directory */
} row_t;

static const row_t rows[] = {
    /* SPEC §3's table: every sender's bytes for the same files */
    { "café €.txt", 0, XSF_FOUND, "a/café €.txt" }, /* PHP, Rack */
    { "@/a/café €.txt", 0, XSF_FOUND, "a/café €.txt" },
    { "€ 東京.txt", 0, XSF_FOUND, "a/€ 東京.txt" },
    { "caf\xe9.txt", 0, XSF_FOUND, "a/café.txt" }, /* WSGI Latin-1 */
    { "@/a/caf\xe9.txt", 0, XSF_FOUND, "a/café.txt" },
    { "caf\xe9.txt", NO_UNESCAPE, XSF_FOUND, "a/café.txt" },
    { "=?utf-8?b?Y2Fmw6kg4oKsLnR4dA==?=", 0, XSF_FOUND, "a/café €.txt" }, /* Django */
    { "=?utf-8?q?caf=C3=A9_=E2=82=AC.txt?=", 0, XSF_FOUND, "a/café €.txt" },
    { "=?UTF-8?B?4oKsIOadseS6rC50eHQ=?=", 0, XSF_FOUND, "a/€ 東京.txt" },
    { "=?Utf-8?Q?=E2=82=AC_=E6=9D=B1=E4=BA=AC.txt?=", 0, XSF_FOUND, "a/€ 東京.txt" },
    { "=?iso-8859-1?q?caf=E9.txt?=", 0, XSF_FOUND, "a/café.txt" },
    { "=?ISO-8859-1?B?Y2Fm6S50eHQ=?=", 0, XSF_FOUND, "a/café.txt" },
    { "@/a/€ 東京.txt", AS_B64, XSF_FOUND, "a/€ 東京.txt" },
    { "=?utf-8?q?caf=C3=A9?= =?utf-8?q?_=E2=82=AC.txt?=", 0, XSF_FOUND, "a/café €.txt" },
    { "=?utf-8?q?caf=C3=A9_=E2=82=AC.txt?=", NO_UNESCAPE | ENCODED, XSF_FOUND, "a/café €.txt" },
    { "caf%C3%A9%20%E2%82%AC.txt", 0, XSF_FOUND, "a/café €.txt" }, /* lighttpd style */
    { "caf%c3%a9%20%e2%82%ac.txt", 0, XSF_FOUND, "a/café €.txt" },
    { "%E2%82%AC%20%E6%9D%B1%E4%BA%AC.txt", 0, XSF_FOUND, "a/€ 東京.txt" },
    { "@/a/café €.txt", AS_PERCENT, XSF_FOUND, "a/café €.txt" },
    { "caf%C3%A9%20%E2%82%AC.txt", NO_UNESCAPE, XSF_NOT_FOUND, NULL },
    { "caf%C3%A9%20%E2%82%AC.txt", NO_UNESCAPE | ENCODED, XSF_FOUND, "a/café €.txt" },
    { "caf%E9.txt", 0, XSF_FOUND, "a/café.txt" }, /* %-encoded Latin-1 */
    { "=?koi8-r?b?Y2Fmw6kg4oKsLnR4dA==?=", 0, XSF_NOT_FOUND, NULL },
    { "=?utf-8?x?Y2Fmw6kudHh0?=", 0, XSF_NOT_FOUND, NULL },
    { "=?utf-8?b?Y2Fmw6kg4oKsLnR4dA=?=", 0, XSF_NOT_FOUND, NULL },
    { "=?utf-8?q?caf=C3=A9_=E2=82=AC.txt", 0, XSF_NOT_FOUND, NULL },

    /* a literal '%' and '+' (the original module answered a stray '%' with 500) */
    { "100%.txt", 0, XSF_FOUND, "a/100%.txt" },
    { "100%.txt", NO_UNESCAPE, XSF_FOUND, "a/100%.txt" },
    { "100%25.txt", 0, XSF_FOUND, "a/100%.txt" },
    { "100%.txt", ENCODED, XSF_FOUND, "a/100%.txt" }, /* no valid escape: as is */
    { "a%41.txt", 0, XSF_FOUND, "a/aA.txt" },         /* decoded before raw */
    { "a%41.txt", NO_UNESCAPE, XSF_FOUND, "a/a%41.txt" },
    { "a%41.txt", NO_UNESCAPE | ENCODED, XSF_FOUND, "a/aA.txt" },
    { "b%41.txt", 0, XSF_FOUND, "a/b%41.txt" },   /* raw after a miss */
    { "b%41.txt", ENCODED, XSF_NOT_FOUND, NULL }, /* raw skipped */
    { "a+b.txt", 0, XSF_FOUND, "a/a+b.txt" },
    { "a%2Bb.txt", 0, XSF_FOUND, "a/a+b.txt" },
    { "a%20b.txt", 0, XSF_FOUND, "a/a b.txt" },
    { "=?utf-8?q?a=2541.txt?=", 0, XSF_FOUND, "a/a%41.txt" }, /* decoded once only */

    /* backend errors (SPEC §3: 500) */
    { "", 0, XSF_BAD_VALUE, NULL },
    { "%00", ENCODED, XSF_BAD_VALUE, NULL }, /* no decoding left to try */
    { "plain.txt%00.jpg", NO_UNESCAPE, XSF_NOT_FOUND, NULL },
    { "plain.txt\r\nX-Injected: 1", 0, XSF_BAD_VALUE, NULL },
    { "plain.txt\n", NO_UNESCAPE, XSF_BAD_VALUE, NULL },
    { "plain.txt%0d%0aX-Injected:%201", 0, XSF_BAD_VALUE, NULL },
    { "plain.txt%0A", ENCODED, XSF_BAD_VALUE, NULL },
    { "=?utf-8?q?"
      "?=",
      0, XSF_BAD_VALUE, NULL }, /* no trigraph */

    /* SPEC §4: a decoding that adds a NUL or a ".." segment is skipped,
     * and the next candidate (the raw value) decides */
    { "%00", 0, XSF_NOT_FOUND, NULL },
    { "plain.txt%00.jpg", 0, XSF_NOT_FOUND, NULL },
    { "=?utf-8?q?plain.txt=00?=", 0, XSF_NOT_FOUND, NULL },
    { "=?utf-8?b?AA==?=", 0, XSF_NOT_FOUND, NULL },
    { "alice/%2e%2e%2fbob%2fsecret.txt", 0, XSF_FOUND, "a/alice/%2e%2e%2fbob%2fsecret.txt" },
    { "alice/%2e%2e%2fbob%2fsecret.txt", ENCODED, XSF_BAD_VALUE, NULL },
    { "alice/%2E%2E/bob/secret.txt", 0, XSF_NOT_FOUND, NULL },
    { "alice/=?utf-8?b?Li4vYm9iL3NlY3JldC50eHQ=?=", 0, XSF_FOUND,
      "a/alice/=?utf-8?b?Li4vYm9iL3NlY3JldC50eHQ=?=" },
    { "alice/=?utf-8?b?Li4vYm9iL3NlY3JldC50eHQ=?=", NO_UNESCAPE, XSF_FOUND,
      "a/alice/=?utf-8?b?Li4vYm9iL3NlY3JldC50eHQ=?=" },
    { "alice/=?utf-8?q?=2E=2E/bob/secret.txt?=", 0, XSF_NOT_FOUND, NULL },
    { "alice/../bob/secret.txt", 0, XSF_FOUND, "a/bob/secret.txt" },   /* raw '..' stays */
    { "alice/../%62ob/secret.txt", 0, XSF_FOUND, "a/bob/secret.txt" }, /* no '..' added */

    /* ".." in every spelling: never above the root */
    { "../outside/secret.txt", 0, XSF_OUTSIDE, NULL },
    { "..", 0, XSF_OUTSIDE, NULL },
    { "%2e%2e/outside/secret.txt", 0, XSF_NOT_FOUND, NULL }, /* decoded '..' skipped */
    { "%2E./outside/secret.txt", 0, XSF_NOT_FOUND, NULL },
    { ".%2E/outside/secret.txt", 0, XSF_NOT_FOUND, NULL },
    { "..%2foutside%2fsecret.txt", 0, XSF_NOT_FOUND, NULL },
    { "../%2e%2e/outside/secret.txt", 0, XSF_OUTSIDE, NULL }, /* raw '..' climbs */
    { "%2e%2e/outside/secret.txt", NO_UNESCAPE, XSF_NOT_FOUND, NULL },
    { "%252e%252e/outside/secret.txt", 0, XSF_NOT_FOUND, NULL },
    { "%c0%ae%c0%ae/outside/secret.txt", 0, XSF_NOT_FOUND, NULL }, /* overlong UTF-8 */
    { "\xc0\xae\xc0\xae/outside/secret.txt", 0, XSF_NOT_FOUND, NULL },
    { "=?utf-8?q?../outside/secret.txt?=", 0, XSF_NOT_FOUND, NULL },
    { "=?utf-8?b?Li4vb3V0c2lkZS9zZWNyZXQudHh0?=", 0, XSF_NOT_FOUND, NULL },
    { "sub/../../outside/secret.txt", 0, XSF_OUTSIDE, NULL },
    { "sub/../../b/only-b.txt", 0, XSF_OUTSIDE, NULL }, /* even into another root */
    { "sub/../plain.txt", 0, XSF_FOUND, "a/plain.txt" },
    { "./plain.txt", 0, XSF_FOUND, "a/plain.txt" },
    { "sub//inner.txt", 0, XSF_FOUND, "a/sub/inner.txt" },
    { "sub/./inner.txt", 0, XSF_FOUND, "a/sub/inner.txt" },

    /* absolute values: inside a root by whole components */
    { "/etc/passwd", 0, XSF_OUTSIDE, NULL },
    { "//etc/passwd", 0, XSF_OUTSIDE, NULL },
    { "/", 0, XSF_OUTSIDE, NULL },
    { "@/outside/secret.txt", 0, XSF_OUTSIDE, NULL },
    { "@/a/../outside/secret.txt", 0, XSF_OUTSIDE, NULL },
    { "@/a2/x.txt", 0, XSF_OUTSIDE, NULL }, /* /data vs /data2 */
    { "@/a2/../a/plain.txt", 0, XSF_OUTSIDE, NULL },
    { "@/a/plain.txt", 0, XSF_FOUND, "a/plain.txt" },
    { "@//a//plain.txt", 0, XSF_FOUND, "a/plain.txt" },
    { "@/./a/./plain.txt", 0, XSF_FOUND, "a/plain.txt" },
    { "@/a/plain.txt", AS_PERCENT, XSF_FOUND, "a/plain.txt" },
    { "@/a", 0, XSF_NOT_REGULAR, NULL },
    { "@/a/", 0, XSF_NOT_REGULAR, NULL },
    { "@/link-to-a/plain.txt", 0, XSF_FOUND, "a/plain.txt" }, /* root as configured */
    { "@/link-to-a/../outside/secret.txt", 0, XSF_OUTSIDE, NULL },
    { "@/b/only-b.txt", 0, XSF_FOUND, "b/only-b.txt" },
    { "@/b/only-b.txt", ONLY_A, XSF_OUTSIDE, NULL },

    /* directories, trailing '/', order of roots */
    { "plain.txt/", 0, XSF_NOT_FOUND, NULL },
    { "plain.txt/.", 0, XSF_NOT_FOUND, NULL },
    { "fifo/./", 0, XSF_NOT_FOUND, NULL },
    { "sub/.", 0, XSF_NOT_REGULAR, NULL },
    { "sub/", 0, XSF_NOT_REGULAR, NULL },
    { "sub", 0, XSF_NOT_REGULAR, NULL },
    { ".", 0, XSF_NOT_REGULAR, NULL },
    { "plain.txt", 0, XSF_FOUND, "a/plain.txt" }, /* A before B */
    { "only-b.txt", 0, XSF_FOUND, "b/only-b.txt" },
    { "only-b.txt", ONLY_A, XSF_NOT_FOUND, NULL },
    { "missing.txt", 0, XSF_NOT_FOUND, NULL },

    /* symlinks (SPEC §4: followed, but the file must lie inside a root) */
    { "link-inner", 0, XSF_FOUND, "a/sub/inner.txt" },
    { "link-inner", NO_FOLLOW, XSF_FORBIDDEN, NULL },
    { "link-abs-inner", 0, XSF_FOUND, "a/plain.txt" },
    { "chain1", 0, XSF_FOUND, "a/plain.txt" },
    { "chain1", NO_FOLLOW, XSF_FORBIDDEN, NULL },
    { "link-dir/inner.txt", 0, XSF_FOUND, "a/sub/inner.txt" },
    { "link-dir/inner.txt", NO_FOLLOW, XSF_FORBIDDEN, NULL },
    { "@/a/link-inner", 0, XSF_FOUND, "a/sub/inner.txt" },
    { "link-root", 0, XSF_OUTSIDE, NULL },
    { "link-root/etc/passwd", 0, XSF_OUTSIDE, NULL },
    { "link-escape", 0, XSF_OUTSIDE, NULL },
    { "link-escape", NO_FOLLOW, XSF_FORBIDDEN, NULL },
    { "link-escape-dir/secret.txt", 0, XSF_OUTSIDE, NULL },
    { "link-devnull", 0, XSF_OUTSIDE, NULL },
    { "link-cross", 0, XSF_FOUND, "b/only-b.txt" }, /* into another root in scope */
    { "link-cross-abs", 0, XSF_FOUND, "b/only-b.txt" },
    { "link-cross", ONLY_A, XSF_OUTSIDE, NULL },
    { "link-cross", NO_FOLLOW, XSF_FORBIDDEN, NULL },
    { "link-dir/../plain.txt", 0, XSF_FOUND, "a/plain.txt" },
    { "link-deep/../inner.txt", 0, XSF_FOUND, "a/sub/inner.txt" }, /* ".." after a link: physical */
    { "link-deep/../inner.txt", NO_FOLLOW, XSF_FORBIDDEN, NULL },
    { "link-escape-dir/../a/plain.txt", 0, XSF_FOUND, "a/plain.txt" }, /* lands inside again */
    { "plain.txt/../plain.txt", 0, XSF_NOT_FOUND, NULL },
    { "missing/../plain.txt", 0, XSF_NOT_FOUND, NULL },
    { "loop1", 0, XSF_NOT_FOUND, NULL },
    { "dangling", 0, XSF_NOT_FOUND, NULL },

    /* only regular files and named pipes */
    { "fifo", 0, XSF_FOUND, "a/fifo" },
    { "sock", 0, XSF_NOT_REGULAR, NULL },
    { "null-device", NEEDS_DEVICE, XSF_NOT_REGULAR, NULL },
};

static apr_pool_t *pool;
static char top[PATH_MAX]; /* canonical test directory */
static xsf_root_t roots[2];
static int have_device;

static const char *status_name(xsf_status_t st)
{
    static const char *const names[] = { "FOUND",     "BAD_VALUE",   "NOT_FOUND", "OUTSIDE",
                                         "FORBIDDEN", "NOT_REGULAR", "NO_ROOT",   "ERROR" };

    return (unsigned)st < sizeof(names) / sizeof(names[0]) ? names[st] : "?";
}

static void bail(const char *what)
{
    printf("Bail out! %s: %s\n", what, strerror(errno));
    exit(2);
}

static const char *at(const char *rel)
{
    return apr_pstrcat(pool, top, "/", rel, NULL);
}

static void make_file(const char *rel, const char *content)
{
    FILE *f = fopen(at(rel), "w");

    if (f == NULL || fputs(content, f) < 0 || fclose(f) != 0) {
        bail(rel);
    }
}

static void make_dir(const char *rel)
{
    if (mkdir(at(rel), 0755) != 0) {
        bail(rel);
    }
}

static void make_link(const char *target, const char *rel)
{
    if (symlink(target, at(rel)) != 0) {
        bail(rel);
    }
}

static void make_socket(const char *rel)
{
    struct sockaddr_un sa;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (fd < 0 || strlen(at(rel)) >= sizeof(sa.sun_path)) {
        bail(rel);
    }
    strcpy(sa.sun_path, at(rel));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        bail(rel);
    }
    close(fd);
}

static void make_tree(void)
{
    char tmpl[] = "/tmp/xsf-path-XXXXXX";

    if (mkdtemp(tmpl) == NULL || realpath(tmpl, top) == NULL) {
        bail("mkdtemp");
    }
    if (chmod(top, 0755) != 0) { /* mkdtemp() made it 0700 */
        bail(top);
    }
    make_dir("a");
    make_dir("a/sub");
    make_dir("a/sub/deeper");
    make_dir("b");
    make_dir("a2");
    make_dir("outside");
    make_file("a/plain.txt", "plain\n");
    make_file("a/café €.txt", "cafe euro\n");
    make_file("a/café.txt", "cafe\n");
    make_file("a/€ 東京.txt", "euro tokyo\n");
    make_file("a/100%.txt", "percent\n");
    make_file("a/a%41.txt", "a-percent-41\n");
    make_file("a/aA.txt", "aA\n");
    make_file("a/b%41.txt", "b-percent-41\n");
    make_file("a/a+b.txt", "plus\n");
    make_file("a/a b.txt", "space\n");
    make_file("a/sub/inner.txt", "inner\n");
    make_dir("a/alice");
    make_dir("a/bob");
    make_file("a/bob/secret.txt", "bob's\n");
    make_file("a/alice/%2e%2e%2fbob%2fsecret.txt", "alice's literal name\n");
    make_file("a/alice/=?utf-8?b?Li4vYm9iL3NlY3JldC50eHQ=?=", "alice's word\n");
    make_file("a/locked.txt", "locked\n");
    if (chmod(at("a/locked.txt"), 0) != 0) {
        bail("chmod");
    }
    make_file("b/plain.txt", "plain b\n");
    make_file("b/only-b.txt", "only b\n");
    make_file("a2/x.txt", "a2\n");
    make_file("outside/secret.txt", "secret\n");
    if (mkfifo(at("a/fifo"), 0644) != 0) {
        bail("mkfifo");
    }
    make_socket("a/sock");
    have_device = mknod(at("a/null-device"), S_IFCHR | 0666, makedev(1, 3)) == 0;
    make_link("a", "link-to-a");
    make_link("sub/inner.txt", "a/link-inner");
    make_link(at("a/plain.txt"), "a/link-abs-inner");
    make_link("chain2", "a/chain1");
    make_link("chain3", "a/chain2");
    make_link("plain.txt", "a/chain3");
    make_link("sub", "a/link-dir");
    make_link("sub/deeper", "a/link-deep");
    make_link("/", "a/link-root");
    make_link("../outside/secret.txt", "a/link-escape");
    make_link("../outside", "a/link-escape-dir");
    make_link("/dev/null", "a/link-devnull");
    make_link("../b/only-b.txt", "a/link-cross");
    make_link(at("b/only-b.txt"), "a/link-cross-abs");
    make_link("loop2", "a/loop1");
    make_link("loop1", "a/loop2");
    make_link("nowhere", "a/dangling");

    if (xsf_root_open(pool, at("link-to-a"), 1, &roots[0]) != NULL
        || xsf_root_open(pool, at("b"), 0, &roots[1]) != NULL) {
        bail("xsf_root_open");
    }
}

static int remove_entry(const char *path, const struct stat *st)
{
    return S_ISDIR(st->st_mode) ? rmdir(path) : unlink(path);
}

/* rm -r without following symlinks; small enough to do by hand */
static void remove_tree(const char *path)
{
    struct stat st;
    apr_dir_t *dir;
    apr_finfo_t fi;

    if (lstat(path, &st) != 0) {
        return;
    }
    if (S_ISDIR(st.st_mode) && apr_dir_open(&dir, path, pool) == APR_SUCCESS) {
        while (apr_dir_read(&fi, APR_FINFO_NAME, dir) == APR_SUCCESS) {
            if (strcmp(fi.name, ".") != 0 && strcmp(fi.name, "..") != 0) {
                remove_tree(apr_pstrcat(pool, path, "/", fi.name, NULL));
            }
        }
        apr_dir_close(dir);
    }
    if (remove_entry(path, &st) != 0) {
        tap_diag("cannot remove %s: %s", path, strerror(errno));
    }
}

static const char *base64(const char *in)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    apr_size_t len = strlen(in), i, o = 0;
    char *out = apr_palloc(pool, (len + 2) / 3 * 4 + 1);
    const unsigned char *s = (const unsigned char *)in;

    for (i = 0; i < len; i += 3) {
        unsigned v = s[i] << 16 | (i + 1 < len ? s[i + 1] << 8 : 0) | (i + 2 < len ? s[i + 2] : 0);

        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = i + 1 < len ? alphabet[v >> 6 & 63] : '=';
        out[o++] = i + 2 < len ? alphabet[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

/*
 * Percent-encode all but unreserved characters (RFC 3986), and '/' unless
 * `keep`: Python's urllib.parse.quote() keeps '/', PHP's rawurlencode() and
 * Ruby's ERB::Util.url_encode() encode it.
 */
static const char *percent_keeping(const char *in, const char *keep)
{
    char *out = apr_palloc(pool, 3 * strlen(in) + 1), *o = out;

    for (; *in; ++in) {
        unsigned char c = (unsigned char)*in;

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
            || (c != '\0' && strchr(keep, c))) {
            *o++ = (char)c;
        }
        else {
            o += sprintf(o, "%%%02X", c);
        }
    }
    *o = '\0';
    return out;
}

/* A row's value as the backend sends it. */
static const char *row_value(const row_t *row)
{
    const char *v =
        row->value[0] == '@' ? apr_pstrcat(pool, top, row->value + 1, NULL) : row->value;

    if (row->flags & AS_B64) {
        return apr_pstrcat(pool, "=?utf-8?b?", base64(v), "?=", NULL);
    }
    if (row->flags & AS_PERCENT) {
        return percent_keeping(v, "-._~/");
    }
    return v;
}

static xsf_lookup_opts_t row_opts(unsigned flags)
{
    xsf_lookup_opts_t opts;

    memset(&opts, 0, sizeof(opts));
    opts.unescape = !(flags & NO_UNESCAPE);
    opts.value_is_encoded = (flags & ENCODED) != 0;
    opts.follow_symlinks = !(flags & NO_FOLLOW);
    opts.want_path = 1;
    return opts;
}

/* printable for test names: the bytes of hostile values escaped */
static const char *printable(const char *s, apr_size_t max)
{
    char *out = apr_palloc(pool, 4 * max + 4), *o = out;
    apr_size_t i;

    for (i = 0; i < max && s[i]; ++i) {
        unsigned char c = (unsigned char)s[i];

        if (c < 0x20 || c == 0x7f || c == '#') {
            o += sprintf(o, "\\x%02x", c);
        }
        else {
            *o++ = (char)c;
        }
    }
    strcpy(o, s[i] ? "..." : "");
    return out;
}

static void skip(const char *name, const char *why)
{
    tap_ok(1, "%s # SKIP %s", name, why);
}

/* Look a value up and check the status and the file a user would get. */
static void check(const char *label, const char *value, unsigned flags, xsf_status_t want,
                  const char *file)
{
    xsf_lookup_opts_t opts = row_opts(flags);
    xsf_lookup_result_t res;
    xsf_status_t got;
    apr_pool_t *p;
    const char *name =
        apr_psprintf(pool, "%s [%s%s%s%s]", label, flags & NO_UNESCAPE ? "unescape off " : "",
                     flags & ENCODED ? "encoded " : "", flags & NO_FOLLOW ? "follow off " : "",
                     flags & ONLY_A ? "root A" : "roots A B");

    apr_pool_create(&p, pool);
    got = xsf_lookup(p, value, roots, flags & ONLY_A ? 1 : 2, &opts, &res);
    if (!tap_ok(got == want, "%s: %s", name, status_name(want))) {
        tap_diag("got %s (%s)", status_name(got), res.reason ? res.reason : "no reason");
    }
    if (want == XSF_FOUND) {
        tap_is_str(got == XSF_FOUND ? res.path : NULL, at(file),
                   apr_psprintf(pool, "%s: serves %s", name, file));
    }
    else {
        tap_ok(res.file == NULL && res.reason != NULL, "%s: no file, a reason for the log", name);
    }
    apr_pool_destroy(p);
}

static void test_table(void)
{
    apr_size_t i;

    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); ++i) {
        const row_t *row = &rows[i];
        const char *label = printable(row->value, 60);

        if ((row->flags & NEEDS_DEVICE) && !have_device) {
            skip(label, "cannot create a device node here (needs CAP_MKNOD)");
            skip(label, "cannot create a device node here (needs CAP_MKNOD)");
            continue;
        }
        check(label, row_value(row), row->flags, row->want, row->file);
    }
}

/* Values far beyond PATH_MAX, up to 64 KiB: refused or missed, never slow or fatal. */
static void test_long_values(void)
{
    static const struct {
        const char *unit;
        const char *tail;
        apr_size_t size;
        xsf_status_t want;
    } longs[] = {
        { "x", "", PATH_MAX + 10, XSF_NOT_FOUND },
        { "x/", "", 65536, XSF_NOT_FOUND },
        { "../", "outside/secret.txt", 65536, XSF_OUTSIDE },
        { "%2e%2e/", "outside/secret.txt", 65536, XSF_NOT_FOUND },
        { "%41", "", 65536, XSF_NOT_FOUND },
        { "./", "plain.txt", 65536, XSF_NOT_FOUND }, /* ENAMETOOLONG, as the kernel says */
        { "=?", "", 65536, XSF_NOT_FOUND },
        { "=?utf-8?q?a?= ", "", 65536, XSF_NOT_FOUND },
        { "\xe9", "", 65536, XSF_NOT_FOUND },
    };
    apr_size_t i;

    for (i = 0; i < sizeof(longs) / sizeof(longs[0]); ++i) {
        apr_size_t ulen = strlen(longs[i].unit), n = longs[i].size / ulen, k;
        char *v = apr_palloc(pool, n * ulen + strlen(longs[i].tail) + 1), *o = v;

        for (k = 0; k < n; ++k, o += ulen) {
            memcpy(o, longs[i].unit, ulen);
        }
        strcpy(o, longs[i].tail);
        check(apr_psprintf(pool, "%lu bytes of '%s'", (unsigned long)strlen(v),
                           printable(longs[i].unit, 20)),
              v, 0, longs[i].want, NULL);
    }
}

static void test_no_root(void)
{
    xsf_lookup_opts_t opts = row_opts(0);
    xsf_lookup_result_t res;

    tap_is_long(xsf_lookup(pool, "plain.txt", roots, 0, &opts, &res), XSF_NO_ROOT,
                "no root in scope: XSF_NO_ROOT");
    tap_ok(res.reason && strstr(res.reason, "XSendFilePath"),
           "no root in scope: the log names XSendFilePath");
    tap_is_long(xsf_lookup(pool, NULL, roots, 2, &opts, &res), XSF_BAD_VALUE,
                "no value at all: XSF_BAD_VALUE");
}

static apr_os_file_t os_fd(apr_file_t *f)
{
    apr_os_file_t fd = -1;

    apr_os_file_get(&fd, f);
    return fd;
}

/* What the lead's handler uses: bytes, file info, names, and the pool cleanup. */
static void test_result_fields(void)
{
    xsf_lookup_opts_t opts = row_opts(0);
    xsf_lookup_result_t res;
    apr_pool_t *p;
    char buf[32];
    apr_size_t len = sizeof(buf);
    struct stat st;
    int fd;

    apr_pool_create(&p, pool);
    tap_is_long(xsf_lookup(p, "link-inner", roots, 2, &opts, &res), XSF_FOUND, "link-inner: found");
    tap_ok(apr_file_read(res.file, buf, &len) == APR_SUCCESS && len == 6
               && memcmp(buf, "inner\n", 6) == 0,
           "link-inner: reads the target's bytes");
    tap_is_str(res.path, at("a/sub/inner.txt"), "path: canonical, for logs");
    tap_is_str(res.name, at("a/link-inner"), "name: as the backend named it, for mod_mime");
    tap_is_str(res.finfo.fname, res.path, "finfo.fname is the canonical path");
    tap_ok(stat(at("a/sub/inner.txt"), &st) == 0 && res.finfo.inode == st.st_ino
               && res.finfo.size == 6 && res.finfo.filetype == APR_REG
               && (res.finfo.valid & APR_FINFO_MTIME),
           "finfo: the opened file's inode, size, type and mtime");
    tap_ok(res.root == &roots[0] && res.is_fifo == 0, "root A, not a FIFO");
    tap_is_str(res.decoding, "raw", "decoding: raw");
    fd = os_fd(res.file);
    tap_ok((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0, "descriptor is close-on-exec");
    apr_pool_destroy(p);
    tap_ok(fcntl(fd, F_GETFD) == -1 && errno == EBADF, "pool cleanup closes the descriptor");

    apr_pool_create(&p, pool);
    tap_is_long(xsf_lookup(p, "link-cross", roots, 2, &opts, &res), XSF_FOUND, "link-cross: found");
    tap_ok(res.root == &roots[1], "link-cross: the root holding the file is B");
    tap_is_long(xsf_lookup(p, "caf%C3%A9%20%E2%82%AC.txt", roots, 2, &opts, &res), XSF_FOUND,
                "percent-encoded name: found");
    tap_is_str(res.decoding, "percent-decoded", "decoding: percent-decoded");
    apr_pool_destroy(p);
}

static void on_alarm(int sig)
{
    static const char msg[] = "Bail out! opening a FIFO blocked\n";

    (void)sig;
    if (write(STDOUT_FILENO, msg, sizeof(msg) - 1) < 0) {
        _exit(3);
    }
    _exit(2);
}

/* SPEC §8: a FIFO with no writer opens at once, non-blocking. */
static void test_fifo(void)
{
    xsf_lookup_opts_t opts = row_opts(0);
    xsf_lookup_result_t res;
    apr_pool_t *p;
    int fd;

    apr_pool_create(&p, pool);
    signal(SIGALRM, on_alarm);
    alarm(10);
    tap_is_long(xsf_lookup(p, "fifo", roots, 2, &opts, &res), XSF_FOUND,
                "FIFO with no writer: found without blocking");
    alarm(0);
    fd = res.file ? os_fd(res.file) : -1;
    tap_ok(res.is_fifo == 1 && res.finfo.filetype == APR_PIPE, "FIFO: is_fifo, APR_PIPE");
    tap_ok((fcntl(fd, F_GETFL) & O_NONBLOCK) != 0, "FIFO: descriptor left non-blocking");
    tap_ok((fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDONLY, "FIFO: open for reading");
    apr_pool_destroy(p);
}

/*
 * EACCES gives XSF_FORBIDDEN.  Root reads everything, so as root the lookup
 * runs in a child that has dropped to nobody (65534).
 */
static void test_permission_denied(void)
{
    xsf_lookup_opts_t opts = row_opts(0);
    xsf_lookup_result_t res;
    const char *name = "locked.txt (mode 000): XSF_FORBIDDEN";
    pid_t pid;
    int status;

    if (geteuid() != 0) {
        tap_is_long(xsf_lookup(pool, "locked.txt", roots, 2, &opts, &res), XSF_FORBIDDEN, name);
        return;
    }
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        if (setgid(65534) != 0 || setuid(65534) != 0) {
            _exit(100);
        }
        _exit((int)xsf_lookup(pool, "locked.txt", roots, 2, &opts, &res));
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) {
        tap_ok(0, "%s (child failed)", name);
    }
    else if (WEXITSTATUS(status) == 100) {
        skip(name, "running as root and cannot drop to uid 65534");
    }
    else {
        tap_is_long(WEXITSTATUS(status), XSF_FORBIDDEN,
                    apr_psprintf(pool, "%s (as uid 65534)", name));
    }
}

/*
 * What web frameworks send with X-SendFile-Encoding: url (the README's
 * Flask recipe, PHP, Ruby): every shape must reach the file, ASCII names
 * without a single escape included, whatever XSendFileUnescape says.
 */
static void test_encoder_shapes(void)
{
    static const char *const names[] = {
        "plain.txt", "café €.txt",    "€ 東京.txt",     "a+b.txt",        "a b.txt",
        "100%.txt",  "sub/inner.txt", "@/a/café €.txt", "@/b/only-b.txt",
    };
    static const struct {
        const char *name;
        const char *keep;
    } encoders[] = {
        { "urllib.parse.quote", "-._~/" },
        { "rawurlencode/ERB::Util.url_encode", "-._~" },
    };
    static const unsigned flags[] = { ENCODED, NO_UNESCAPE | ENCODED, 0 };
    apr_size_t i, e, f;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); ++i) {
        const char *name =
            names[i][0] == '@' ? apr_pstrcat(pool, top, names[i] + 1, NULL) : names[i];
        const char *file =
            names[i][0] == '@' ? names[i] + 2 : apr_pstrcat(pool, "a/", names[i], NULL);

        for (e = 0; e < sizeof(encoders) / sizeof(encoders[0]); ++e) {
            const char *value = percent_keeping(name, encoders[e].keep);

            for (f = 0; f < sizeof(flags) / sizeof(flags[0]); ++f) {
                check(apr_psprintf(pool, "%s(%s)", encoders[e].name, names[i]), value, flags[f],
                      XSF_FOUND, file);
            }
        }
    }
}

static void test_root_open(void)
{
    xsf_root_t root;
    struct stat st;
    apr_pool_t *p;
    int fd;

    tap_ok(xsf_root_open(pool, "relative/dir", 0, &root) != NULL && root.fd == -1,
           "root: a relative path is refused");
    tap_ok(xsf_root_open(pool, at("missing"), 0, &root) != NULL && root.fd == -1,
           "root: a missing directory is refused");
    tap_ok(xsf_root_open(pool, at("a/plain.txt"), 0, &root) != NULL && root.fd == -1,
           "root: a file is refused");
    apr_pool_create(&p, pool);
    tap_ok(xsf_root_open(p, apr_pstrcat(p, top, "//link-to-a/./", NULL), 1, &root) == NULL,
           "root: a symlink to a directory is accepted");
    tap_is_str(root.path, at("a"), "root: symlink resolved, no trailing '/'");
    tap_ok(stat(at("a"), &st) == 0 && root.inode == st.st_ino && root.device == st.st_dev
               && root.allow_delete == 1,
           "root: identity and AllowFileDelete recorded");
    fd = root.fd;
    tap_ok(fd >= 0 && (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0,
           "root: an open directory descriptor, close-on-exec");
    apr_pool_destroy(p);
    tap_ok(fcntl(fd, F_GETFD) == -1 && errno == EBADF,
           "root: its descriptor is closed with the configuration's pool");
    apr_pool_create(&p, pool);
    tap_ok(xsf_root_open(p, "/", 0, &root) == NULL, "root: / is accepted");
    tap_is_str(root.path, "/", "root: / stays /");
    apr_pool_destroy(p);
}

/*
 * SPEC §4: a root is the directory configured at start-up.  Renamed away
 * and replaced by a symlink to elsewhere, by another directory, or removed:
 * nothing is served from what stands at its name now, and the log says why.
 */
static void test_root_replaced(void)
{
    static const char *const how[] = { "a symlink to elsewhere", "another directory", "nothing" };
    xsf_lookup_opts_t opts = row_opts(0);
    struct stat original, now;
    int i;

    make_dir("swap-root");
    make_file("swap-root/doc.txt", "original\n");
    if (stat(at("swap-root/doc.txt"), &original) != 0) {
        bail("stat swap-root/doc.txt");
    }
    make_dir("elsewhere");
    make_file("elsewhere/doc.txt", "elsewhere\n");
    for (i = 0; i < 3; ++i) {
        xsf_lookup_result_t res;
        xsf_root_t root;
        xsf_status_t st;
        apr_pool_t *p;

        apr_pool_create(&p, pool);
        if (xsf_root_open(p, at("swap-root"), 1, &root) != NULL) {
            bail("xsf_root_open swap-root");
        }
        tap_is_long(xsf_lookup(p, "doc.txt", &root, 1, &opts, &res), XSF_FOUND,
                    apr_psprintf(pool, "root before it is replaced by %s: served", how[i]));
        if (rename(at("swap-root"), at("swap-root.orig")) != 0) {
            bail("rename");
        }
        if ((i == 0 && symlink(at("elsewhere"), at("swap-root")) != 0)
            || (i == 1
                && (mkdir(at("swap-root"), 0755) != 0
                    || symlink(at("elsewhere/doc.txt"), at("swap-root/doc.txt")) != 0))) {
            bail("replace swap-root");
        }
        /* A root found intact is trusted for the rest of that second, but
         * even then only the original directory can be served from. */
        st = xsf_lookup(p, "doc.txt", &root, 1, &opts, &res);
        tap_ok(st == XSF_ROOT_CHANGED
                   || (st == XSF_FOUND && fstat(os_fd(res.file), &now) == 0
                       && now.st_ino == original.st_ino),
               "root replaced by %s, within the second: the original file or nothing", how[i]);
        usleep(1100 * 1000);
        tap_is_long(xsf_lookup(p, "doc.txt", &root, 1, &opts, &res), XSF_ROOT_CHANGED,
                    apr_psprintf(pool, "root replaced by %s: XSF_ROOT_CHANGED", how[i]));
        tap_ok(res.file == NULL && res.reason != NULL && strstr(res.reason, "swap-root"),
               "... no file, and the log names the root");
        tap_is_long(
            xsf_lookup(p, apr_pstrcat(p, top, "/swap-root/doc.txt", NULL), &root, 1, &opts, &res),
            XSF_ROOT_CHANGED, "... also for an absolute value");
        if (i < 2) {
            remove_tree(at("swap-root"));
        }
        if (rename(at("swap-root.orig"), at("swap-root")) != 0) {
            bail("rename back");
        }
        apr_pool_destroy(p);
    }
}

static int exists(const char *rel)
{
    struct stat st;

    return lstat(at(rel), &st) == 0;
}

/* X-SendFile-Temporary: delete only what was opened, only where allowed. */
static void test_unlink(void)
{
    xsf_lookup_opts_t opts = row_opts(0);
    xsf_lookup_result_t res;
    apr_pool_t *p;

    apr_pool_create(&p, pool);
    make_file("a/tmp1.txt", "t\n");
    xsf_lookup(p, "tmp1.txt", roots, 2, &opts, &res);
    tap_is_long(xsf_unlink_opened(p, &res), APR_SUCCESS, "unlink: AllowFileDelete root");
    tap_ok(!exists("a/tmp1.txt"), "unlink: the file is gone");

    make_file("b/tmp2.txt", "t\n");
    xsf_lookup(p, "tmp2.txt", roots, 2, &opts, &res);
    tap_ok(xsf_unlink_opened(p, &res) != APR_SUCCESS && exists("b/tmp2.txt"),
           "unlink: refused under a root without AllowFileDelete");

    make_file("b/tmp3.txt", "t\n");
    make_link("../b/tmp3.txt", "a/link-tmp3");
    xsf_lookup(p, "link-tmp3", roots, 2, &opts, &res);
    tap_ok(xsf_unlink_opened(p, &res) != APR_SUCCESS && exists("b/tmp3.txt")
               && exists("a/link-tmp3"),
           "unlink: refused for a link from an AllowFileDelete root into another");

    make_file("a/tmp4.txt", "t\n");
    make_file("a/tmp4-new.txt", "other\n");
    xsf_lookup(p, "tmp4.txt", roots, 2, &opts, &res);
    if (rename(at("a/tmp4-new.txt"), at("a/tmp4.txt")) != 0) {
        bail("rename");
    }
    tap_ok(xsf_unlink_opened(p, &res) == APR_FROM_OS_ERROR(ESTALE) && exists("a/tmp4.txt"),
           "unlink: refused when the name now refers to another file");

    xsf_lookup(p, "missing.txt", roots, 2, &opts, &res);
    tap_is_long(xsf_unlink_opened(p, &res), APR_EINVAL, "unlink: nothing opened, nothing done");
    apr_pool_destroy(p);
}

/*
 * SPEC §4: the file opened is the file checked.  A thread keeps exchanging
 * (renameat2 RENAME_EXCHANGE, atomic) a/swap, a file inside, with a symlink
 * to outside/secret.txt, and a/swapdir, a directory holding a secret.txt
 * of its own, with a symlink to outside/.  No lookup may ever open the
 * outside secret, whichever state it sees.
 */
#ifdef RENAME_EXCHANGE
static volatile int racing;
static long swaps; /* exchanges made; -errno if one failed */

static void *swapper(void *arg)
{
    const char *swap = at("a/swap"), *swap_alt = at("a/swap-alt");
    const char *dir = at("a/swapdir"), *dir_alt = at("a/swapdir-alt");

    (void)arg;
    while (racing) {
        if (renameat2(AT_FDCWD, swap, AT_FDCWD, swap_alt, RENAME_EXCHANGE) != 0
            || renameat2(AT_FDCWD, dir, AT_FDCWD, dir_alt, RENAME_EXCHANGE) != 0) {
            swaps = -errno;
            break;
        }
        ++swaps;
    }
    return NULL;
}

static void test_race(void)
{
    static const char *const values[] = { "swap", "swapdir/secret.txt" };
    struct stat secret, st;
    pthread_t thread;
    apr_pool_t *p;
    int i, escaped = 0, found = 0, refused = 0;

    make_file("a/swap", "inside\n");
    make_link("../outside/secret.txt", "a/swap-alt");
    make_dir("a/swapdir");
    make_file("a/swapdir/secret.txt", "inside\n");
    make_link("../outside", "a/swapdir-alt");
    if (stat(at("outside/secret.txt"), &secret) != 0) {
        bail("stat");
    }
    racing = 1;
    if (pthread_create(&thread, NULL, swapper, NULL) != 0) {
        bail("pthread_create");
    }
    apr_pool_create(&p, pool);
    for (i = 0; i < 20000; ++i) {
        xsf_lookup_opts_t opts = row_opts(i & 2 ? NO_FOLLOW : 0);
        xsf_lookup_result_t res;

        if (xsf_lookup(p, values[i & 1], roots, 2, &opts, &res) == XSF_FOUND) {
            ++found;
            if (fstat(os_fd(res.file), &st) != 0
                || (st.st_ino == secret.st_ino && st.st_dev == secret.st_dev)) {
                ++escaped;
            }
        }
        else {
            ++refused;
        }
        apr_pool_clear(p);
    }
    racing = 0;
    pthread_join(thread, NULL);
    apr_pool_destroy(p);
    tap_diag("race: %ld exchanges, %d served inside, %d refused", swaps, found, refused);
    tap_ok(swaps > 1000, "race: the swapper kept exchanging (%ld times)", swaps);
    tap_ok(found > 0 && refused > 0, "race: lookups saw both states");
    tap_is_long(escaped, 0, "race with symlink swaps: the outside file is never opened");
}
#else
static void test_race(void)
{
    skip("race with symlink swaps", "no renameat2(RENAME_EXCHANGE) here");
}
#endif

/* Every descriptor a lookup opens is closed with its pool or before it returns. */
static int next_fd(void)
{
    int fd = dup(0);

    if (fd >= 0) {
        close(fd);
    }
    return fd;
}

int main(void)
{
    int fd_before;

    apr_initialize();
    apr_pool_create(&pool, NULL);
    umask(022); /* the tree must be searchable by test_permission_denied()'s child */
    make_tree();

    fd_before = next_fd();
    test_table();
    test_long_values();
    test_no_root();
    test_result_fields();
    test_fifo();
    test_permission_denied();
    test_encoder_shapes();
    test_root_open();
    test_root_replaced();
    test_unlink();
    test_race();
    tap_is_long(next_fd(), fd_before, "no descriptor leaked");

    remove_tree(top);
    tap_ok(access(top, F_OK) != 0, "test directory removed");
    apr_pool_destroy(pool);
    apr_terminate();
    return tap_done();
}
