/* fuzz-sources: xsf_path.c */
/* fuzz-libs: */
/*
 * fuzz_path.c: libFuzzer target for decode-and-confine (SPEC §3, §4).
 *
 * Input: one flags byte, then the header value.
 *   bit 0  XSendFileUnescape On       bit 1  X-SendFile-Encoding: url
 *   bit 2  XSendFileFollowSymlinks On bit 5  root r1 alone in scope
 *   bit 6  ask for the canonical path (want_path)
 *   bits 3-4  prefix of the value: none, the tree's top, r1/, r2/
 *             (absolute values need the temporary directory's name,
 *             which no corpus can know)
 *
 * The tree, made once under $TMPDIR:
 *   r1/  file  sub/f  café.txt  100%.txt  fifo
 *        in -> file   chain -> in   dir -> sub   abs-in -> <top>/r1/file
 *        esc -> ../outside/secret   escdir -> ../outside   root -> /
 *        abs-esc -> <top>/outside/secret   cross -> ../r2/g   loop -> loop
 *   r2/  g
 *   r10/ x             (r1 must not contain r10/x)
 *   outside/secret
 *
 * Oracle (abort): a file is served whose real path, read back from
 * /proc/self/fd, is not inside a root in scope; or that is neither a regular
 * file nor a FIFO; or whose file info is not the descriptor's; or through a
 * decoding that added a '..' segment the raw value did not have (SPEC §4);
 * or a failed lookup leaves a file or no reason; or a lookup leaks a
 * descriptor.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <apr_general.h>
#include <apr_portable.h>
#include <apr_strings.h>

#include "xsf_path.h"

static apr_pool_t *fuzz_pool;
static char fuzz_top[PATH_MAX];
static xsf_root_t fuzz_roots[2];

static void fuzz_die(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_path: %s: %s\n", what, detail ? detail : "");
    abort();
}

static const char *fuzz_at(const char *rel)
{
    return apr_pstrcat(fuzz_pool, fuzz_top, "/", rel, NULL);
}

static void fuzz_make(int ok, const char *rel)
{
    if (!ok) {
        fuzz_die(rel, strerror(errno));
    }
}

static void fuzz_file(const char *rel)
{
    FILE *f = fopen(fuzz_at(rel), "w");

    fuzz_make(f != NULL && fputs(rel, f) >= 0 && fclose(f) == 0, rel);
}

static void fuzz_link(const char *target, const char *rel)
{
    fuzz_make(symlink(target, fuzz_at(rel)) == 0, rel);
}

static void fuzz_dir(const char *rel)
{
    fuzz_make(mkdir(fuzz_at(rel), 0755) == 0, rel);
}

static void fuzz_remove_tree(void)
{
    /* the tree lives under the run's own temporary directory (fuzz/run.sh) */
    char *cmd = apr_psprintf(fuzz_pool, "rm -rf '%s'", fuzz_top);

    if (system(cmd) != 0) {
        fprintf(stderr, "fuzz_path: could not remove %s\n", fuzz_top);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *tmp = getenv("TMPDIR");
    char *tmpl;

    (void)argc;
    (void)argv;
    apr_initialize();
    apr_pool_create(&fuzz_pool, NULL);
    tmpl = apr_pstrcat(fuzz_pool, tmp && *tmp ? tmp : "/tmp", "/fuzz-path-XXXXXX", NULL);
    fuzz_make(mkdtemp(tmpl) != NULL && realpath(tmpl, fuzz_top) != NULL, "mkdtemp");
    atexit(fuzz_remove_tree);

    fuzz_dir("r1");
    fuzz_dir("r1/sub");
    fuzz_dir("r2");
    fuzz_dir("r10");
    fuzz_dir("outside");
    fuzz_file("r1/file");
    fuzz_file("r1/sub/f");
    fuzz_file("r1/café.txt");
    fuzz_file("r1/100%.txt");
    fuzz_file("r2/g");
    fuzz_file("r10/x");
    fuzz_file("outside/secret");
    fuzz_make(mkfifo(fuzz_at("r1/fifo"), 0644) == 0, "fifo");
    fuzz_link("file", "r1/in");
    fuzz_link("in", "r1/chain");
    fuzz_link("sub", "r1/dir");
    fuzz_link(fuzz_at("r1/file"), "r1/abs-in");
    fuzz_link("../outside/secret", "r1/esc");
    fuzz_link("../outside", "r1/escdir");
    fuzz_link("/", "r1/root");
    fuzz_link(fuzz_at("outside/secret"), "r1/abs-esc");
    fuzz_link("../r2/g", "r1/cross");
    fuzz_link("loop", "r1/loop");

    if (xsf_root_open(fuzz_pool, fuzz_at("r1"), 1, &fuzz_roots[0]) != NULL
        || xsf_root_open(fuzz_pool, fuzz_at("r2"), 0, &fuzz_roots[1]) != NULL) {
        fuzz_die("xsf_root_open", fuzz_top);
    }
    return 0;
}

/* Whole-component containment of a canonical path. */
static int fuzz_inside(const char *root, const char *path)
{
    size_t len = strlen(root);

    return strncmp(root, path, len) == 0 && (path[len] == '/' || path[len] == '\0');
}

static int fuzz_next_fd(void)
{
    int fd = dup(0);

    if (fd >= 0) {
        close(fd);
    }
    return fd;
}

/* '..' segments of a '/'-separated name. */
static int fuzz_dotdots(const char *s)
{
    int n = 0;

    for (; *s; s += strcspn(s, "/"), s += *s == '/') {
        if (s[0] == '.' && s[1] == '.' && (s[2] == '/' || s[2] == '\0')) {
            ++n;
        }
    }
    return n;
}

/* SPEC §4 from the outside: what does the descriptor really refer to? */
static void fuzz_check_found(const xsf_lookup_result_t *res, const char *value, int nroots,
                             int want_path)
{
    char proc[64], real[PATH_MAX];
    apr_os_file_t fd = -1;
    struct stat st;
    ssize_t len;

    if (res->file == NULL || apr_os_file_get(&fd, res->file) != APR_SUCCESS || fd < 0) {
        fuzz_die("XSF_FOUND without an open file", NULL);
    }
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    len = readlink(proc, real, sizeof(real) - 1);
    if (len < 0) {
        fuzz_die("readlink /proc/self/fd", strerror(errno));
    }
    real[len] = '\0';
    if (!fuzz_inside(fuzz_roots[0].path, real)
        && !(nroots == 2 && fuzz_inside(fuzz_roots[1].path, real))) {
        fuzz_die("served a file outside the roots", real);
    }
    if (fstat(fd, &st) != 0 || !(S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode))) {
        fuzz_die("served neither a regular file nor a FIFO", real);
    }
    if (res->finfo.inode != st.st_ino || res->finfo.device != st.st_dev) {
        fuzz_die("finfo is not the descriptor's", real);
    }
    if (want_path ? res->path == NULL || strcmp(res->path, real) != 0 : res->path != NULL) {
        fuzz_die("path is not the descriptor's real path", res->path);
    }
    if (res->decoded == NULL || fuzz_dotdots(res->decoded) > fuzz_dotdots(value)) {
        fuzz_die("a decoding added a '..' segment", res->decoded);
    }
    if (res->is_fifo != S_ISFIFO(st.st_mode)) {
        fuzz_die("is_fifo wrong", real);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const prefixes[] = { "", "", "r1/", "r2/" };
    xsf_lookup_opts_t opts;
    xsf_lookup_result_t res;
    apr_pool_t *p;
    const char *value;
    int fd_before, nroots;
    unsigned flags;
    xsf_status_t st;

    if (size == 0) {
        return 0;
    }
    flags = data[0];
    apr_pool_create(&p, fuzz_pool);
    value = apr_pstrmemdup(p, (const char *)data + 1, size - 1);
    if ((flags >> 3 & 3) != 0) {
        value = apr_pstrcat(p, fuzz_top, "/", prefixes[flags >> 3 & 3], value, NULL);
    }
    memset(&opts, 0, sizeof(opts));
    opts.unescape = flags & 1;
    opts.value_is_encoded = (flags & 2) != 0;
    opts.follow_symlinks = (flags & 4) != 0;
    opts.want_path = (flags & 64) != 0;
    nroots = flags & 32 ? 1 : 2;

    fd_before = fuzz_next_fd();
    st = xsf_lookup(p, value, fuzz_roots, nroots, &opts, &res);
    if (st == XSF_FOUND) {
        fuzz_check_found(&res, value, nroots, opts.want_path);
    }
    else if (st > XSF_ROOT_CHANGED || res.file != NULL || res.reason == NULL) {
        fuzz_die("failed lookup with a file or without a reason", res.reason);
    }
    apr_pool_destroy(p);
    if (fuzz_next_fd() != fd_before) {
        fuzz_die("descriptor leaked", value);
    }
    return 0;
}
