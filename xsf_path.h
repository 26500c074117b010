/*
 * xsf_path.h: from a trigger header's value to an open, confined file.
 *
 * SPEC §3 (decoding) and §4 (confinement) of docs/SPEC.md.  Pure APR: no
 * request or server structures, so the unit tests and the fuzzer drive it
 * without httpd.
 *
 * Return conventions, one per kind of call:
 *   - configuration (xsf_root_open): NULL, or the message for httpd to
 *     print, as a directive handler returns it;
 *   - a lookup (xsf_lookup): an xsf_status_t, the HTTP outcome's class,
 *     with result->reason for the log;
 *   - a file-system action on a found file (xsf_unlink_opened): an
 *     apr_status_t, the system's own error.
 */
#ifndef XSF_PATH_H
#define XSF_PATH_H

#include <apr_pools.h>
#include <apr_file_io.h>

/*
 * One XSendFilePath root, opened once when Apache reads its configuration
 * (xsf_root_open).  Files are only ever opened beneath `fd`, so the root is
 * the directory that stood at its name then (SPEC §4), whatever is renamed
 * or mounted later.
 */
typedef struct xsf_root {
    const char *path;                  /* canonical absolute path, no trailing '/' (except "/") */
    const char *configured;            /* as written in XSendFilePath: absolute values may use this
                                spelling too (e.g. /var/www when it is a symlink to
                                /srv/www); never used to open anything */
    int allow_delete;                  /* XSendFilePath ... AllowFileDelete */
    int fd;                            /* the directory (O_PATH where available), close-on-exec */
    apr_dev_t device;                  /* its identity when opened: a lookup refuses a root */
    apr_ino_t inode;                   /* whose name now leads elsewhere */
    volatile apr_uint32_t *checked_at; /* the second the identity was last found intact,
                                           shared by every copy of this root in a process */
} xsf_root_t;

/* Options for one lookup, taken from the directory config and the response. */
typedef struct xsf_lookup_opts {
    int unescape;           /* XSendFileUnescape On */
    int value_is_encoded;   /* X-SendFile-Encoding: url: decode, and skip the raw value */
    int follow_symlinks;    /* XSendFileFollowSymlinks */
    apr_int32_t open_flags; /* extra APR open flags, e.g. APR_FOPEN_SENDFILE_ENABLED */
    int want_path;          /* fill result->path (one readlink(2) more): for deleting
                                a temporary file, or for a debug log */
} xsf_lookup_opts_t;

typedef enum xsf_status {
    XSF_FOUND = 0,   /* *file is open, regular file or named pipe */
    XSF_BAD_VALUE,   /* empty, NUL, CR or LF after decoding: backend error (500) */
    XSF_NOT_FOUND,   /* no candidate exists under any root (404) */
    XSF_OUTSIDE,     /* a candidate exists only outside every root (403) */
    XSF_FORBIDDEN,   /* permission denied, or a symlink with FollowSymlinks Off (403) */
    XSF_NOT_REGULAR, /* directory, device, socket (403) */
    XSF_NO_ROOT,     /* no root in scope (403, the log names XSendFilePath) */
    XSF_ERROR,       /* any other failure (EMFILE, EIO, ENOMEM): server error (500) */
    XSF_ROOT_CHANGED /* a root in the way was replaced or removed since start-up (500) */
} xsf_status_t;

typedef struct xsf_lookup_result {
    apr_file_t *file;       /* open for reading, owned by APR: the pool's cleanup closes
                                it, and apr_file_setaside() hands that duty on */
    const char *path;       /* canonical path of the opened file, or NULL unless
                                opts->want_path */
    const char *name;       /* the name as the backend gave it, joined to its root and
                                cleaned lexically (symlinks not resolved): what Apache's
                                own static serving would put in r->filename, so mod_mime
                                sees the backend's extension, not a symlink target's */
    const char *decoding;   /* which SPEC §3 candidate matched, for debug logs:
                                "RFC 2047", "percent-decoded", "raw", "ISO-8859-1", ... */
    const char *decoded;    /* that candidate: the value as decoded */
    const xsf_root_t *root; /* the root whose tree holds the opened file (for a symlink
                                into another root, that other root: xsf_unlink_opened()
                                checks its allow_delete) */
    apr_finfo_t finfo;      /* APR_FINFO_NORM of the opened descriptor */
    int is_fifo;            /* a named pipe (SPEC §8); its descriptor stays O_NONBLOCK (an
                                apr_file_read() then polls per the file's APR timeout) */
    const char *reason; /* for the log when the status is not XSF_FOUND; never sent to clients */
} xsf_lookup_result_t;

/*
 * Open a configured root: resolve its symlinks, open the directory and
 * record its identity; the descriptor is closed by a cleanup of `p`.
 * Returns NULL on success, else an error message for the configuration.
 */
const char *xsf_root_open(apr_pool_t *p, const char *configured, int allow_delete,
                          xsf_root_t *root);

/*
 * Decode `value` into the ordered candidates of SPEC §3 and open the first
 * that exists inside one of `roots` (SPEC §4).  The first candidate (and,
 * for a relative one, the first root in order) that names anything decides:
 * a later one is tried only where this one names nothing (ENOENT, ENOTDIR).
 * All allocations and the open file live in `p`; the descriptor is
 * close-on-exec.
 */
xsf_status_t xsf_lookup(apr_pool_t *p, const char *value, const xsf_root_t *roots, int nroots,
                        const xsf_lookup_opts_t *opts, xsf_lookup_result_t *result);

/*
 * Delete the file a lookup opened (X-SendFile-Temporary), only if
 * result->root has allow_delete (else EACCES) and the name under that root
 * still refers to the file that was opened (else ESTALE).  Call it before
 * the pool of the lookup is destroyed.
 * Returns APR_SUCCESS, or the error (APR_FROM_OS_ERROR(errno)).
 */
apr_status_t xsf_unlink_opened(apr_pool_t *p, const xsf_lookup_result_t *result);

#endif
