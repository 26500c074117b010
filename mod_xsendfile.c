/*
 * mod_xsendfile: serve the file a backend names in an X-SendFile header.
 *
 * A handler (CGI, mod_proxy, mod_wsgi, PHP ...) decides whether a client may
 * have a file and answers with `X-SendFile: /path`.  This module's output
 * filter then throws the handler's body away and sends the file with the
 * full HTTP semantics of Apache's static file serving: validators,
 * conditional requests, ranges, HEAD, zero-copy.  The behaviour contract is
 * docs/SPEC.md of the project; section numbers (§) below refer to it.
 *
 * Only the Apache glue lives here.  Decoding and confinement of the path
 * are in xsf_path.c, which has no request structures so that it can be unit
 * tested and fuzzed without a server.
 *
 * Layout: headers, configuration, directive handlers, the filter, hooks,
 * the module record.
 */

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "ap_mmn.h"
#include "util_filter.h"

#include "apr_buckets.h"
#include "apr_strings.h"
#include "apr_tables.h"

#include "xsf_path.h"
#include "xsf_stream.h"

module AP_MODULE_DECLARE_DATA xsendfile_module;

/* Response headers a backend uses to hand a response over (§2). */
#define XSF_HDR_FILE        "X-SendFile"
#define XSF_HDR_TEMPORARY   "X-SendFile-Temporary"
#define XSF_HDR_ENCODING    "X-SendFile-Encoding"
#define XSF_HDR_ACCEL       "X-Accel-Redirect"

/* Request headers the handler must not act on (see xsf_hide_preconditions). */
static const char *const xsf_precondition_headers[] = {
    "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since",
    "If-Range", NULL
};

/* Set in r->notes of a request that X-Accel-Redirect sends elsewhere. */
#define XSF_NOTE_ACCEL "xsendfile-accel-redirect"

/* The backend's Content-Type, for the X-Accel-Redirect target (r->notes). */
#define XSF_NOTE_ACCEL_TYPE "xsendfile-accel-content-type"

/*
 * Headers of a backend's response that describe the download rather than
 * its body; nginx keeps them across X-Accel-Redirect, and so does this
 * module.  CGI's are in err_headers_out, which httpd carries into the
 * redirected request; mod_proxy's and mod_wsgi's are in headers_out, which
 * it does not.
 */
static const char *const xsf_accel_kept_headers[] = {
    "Content-Disposition", "Set-Cookie", "Cache-Control", "Expires", NULL
};

/* Set in r->notes while httpd builds its own error response. */
#define XSF_NOTE_ERROR_RESPONSE "xsendfile-error-response"

#define XSF_FILTER_EARLY "XSENDFILE"
#define XSF_FILTER_LATE  "XSENDFILE_LATE"

/* §8 defaults: XSendFileStreamBuffer 16M, XSendFileStreamTimeout 60. */
#define XSF_STREAM_BUFFER_DEFAULT (16 * 1024 * 1024)
#define XSF_STREAM_TIMEOUT_DEFAULT apr_time_from_sec(60)
/* Most bytes handed to the chain in one pass while streaming. */
#define XSF_STREAM_PASS_MAX (1024 * 1024)
#define XSF_STREAM_IOV 16

#define XSF_UNSET (-1)
#define XSF_FLAG(v, dflt) ((v) == XSF_UNSET ? (dflt) : (v))

/* ------------------------------------------------------------------------
 * Configuration
 * ------------------------------------------------------------------------ */

/*
 * Every directive is per directory: at server and virtual-host level httpd
 * hands the handlers the base directory configuration, so a <Directory>
 * sees its parents' roots plus its own (§1) through the merge below.
 */
typedef struct xsf_dir_conf {
    int enabled;
    int unescape;
    int ignore_etag;
    int ignore_last_modified;
    int follow_symlinks;
    int announce;
    int internal;                       /* XSendFileInternal */
    apr_off_t stream_buffer;            /* bytes; XSF_UNSET */
    apr_interval_time_t stream_timeout; /* XSF_UNSET */
    apr_array_header_t *roots;   /* of xsf_root_t, parents' first */
} xsf_dir_conf;

static void *xsf_create_dir_conf(apr_pool_t *p, char *dir)
{
    xsf_dir_conf *conf = apr_pcalloc(p, sizeof(*conf));

    (void)dir;
    conf->enabled = XSF_UNSET;
    conf->unescape = XSF_UNSET;
    conf->ignore_etag = XSF_UNSET;
    conf->ignore_last_modified = XSF_UNSET;
    conf->follow_symlinks = XSF_UNSET;
    conf->announce = XSF_UNSET;
    conf->internal = XSF_UNSET;
    conf->stream_buffer = XSF_UNSET;
    conf->stream_timeout = XSF_UNSET;
    conf->roots = apr_array_make(p, 2, sizeof(xsf_root_t));
    return conf;
}

/* A value set in the inner scope wins; XSF_FLAG serves any XSF_UNSET field. */
#define XSF_MERGE(field) (conf->field = XSF_FLAG(add->field, base->field))

static void *xsf_merge_dir_conf(apr_pool_t *p, void *basev, void *addv)
{
    const xsf_dir_conf *base = basev;
    const xsf_dir_conf *add = addv;
    xsf_dir_conf *conf = apr_pcalloc(p, sizeof(*conf));

    XSF_MERGE(enabled);
    XSF_MERGE(unescape);
    XSF_MERGE(ignore_etag);
    XSF_MERGE(ignore_last_modified);
    XSF_MERGE(follow_symlinks);
    XSF_MERGE(announce);
    XSF_MERGE(internal);
    XSF_MERGE(stream_buffer);
    XSF_MERGE(stream_timeout);
    /* Roots accumulate: a scope adds to what encloses it, never replaces. */
    conf->roots = apr_array_append(p, base->roots, add->roots);
    return conf;
}

/* ------------------------------------------------------------------------
 * Directive handlers
 * ------------------------------------------------------------------------ */

static const char *xsf_cmd_path(cmd_parms *cmd, void *dirconf,
                                const char *path, const char *option)
{
    xsf_dir_conf *conf = dirconf;
    xsf_root_t *root;
    const char *canonical = NULL;
    const char *err;

    if (option != NULL && strcasecmp(option, "AllowFileDelete") != 0) {
        return apr_psprintf(cmd->pool, "XSendFilePath: unknown option '%s' "
                            "(only AllowFileDelete is known)", option);
    }
    err = xsf_root_canonicalise(cmd->pool, path, &canonical);
    if (err != NULL) {
        return apr_psprintf(cmd->pool, "XSendFilePath %s: %s", path, err);
    }
    root = apr_array_push(conf->roots);
    root->path = canonical;
    root->configured = path;
    root->allow_delete = option != NULL;
    return NULL;
}

/* XSendFileStreamBuffer <bytes>[K|M|G] */
static const char *xsf_cmd_stream_buffer(cmd_parms *cmd, void *dirconf,
                                         const char *arg)
{
    xsf_dir_conf *conf = dirconf;
    char *end;
    apr_int64_t n = apr_strtoi64(arg, &end, 10);
    int shift;

    switch (*end) {
    case '\0': shift = 0; break;
    case 'k': case 'K': shift = 10; break;
    case 'm': case 'M': shift = 20; break;
    case 'g': case 'G': shift = 30; break;
    default: shift = -1; break;
    }
    if (end == arg || n <= 0 || shift < 0 || (shift > 0 && end[1] != '\0')
        || n > (APR_INT64_MAX >> shift)) {
        return apr_psprintf(cmd->pool, "XSendFileStreamBuffer: '%s' is not a "
                            "size (bytes, or a number with K, M or G)", arg);
    }
    n <<= shift;
    if (n < 65536) {
        return "XSendFileStreamBuffer: at least 64K";
    }
    conf->stream_buffer = (apr_off_t)n;
    return NULL;
}

/* XSendFileStreamTimeout <seconds> */
static const char *xsf_cmd_stream_timeout(cmd_parms *cmd, void *dirconf,
                                          const char *arg)
{
    xsf_dir_conf *conf = dirconf;
    char *end;
    apr_int64_t seconds = apr_strtoi64(arg, &end, 10);

    if (end == arg || *end != '\0' || seconds <= 0 || seconds > 86400) {
        return apr_psprintf(cmd->pool, "XSendFileStreamTimeout: '%s' is not a "
                            "number of seconds from 1 to 86400", arg);
    }
    conf->stream_timeout = apr_time_from_sec(seconds);
    return NULL;
}

#define XSF_FLAG_CMD(name, field, scope, help) \
    AP_INIT_FLAG(name, ap_set_flag_slot, \
                 (void *)APR_OFFSETOF(xsf_dir_conf, field), scope, help)

static const command_rec xsf_cmds[] = {
    XSF_FLAG_CMD("XSendFile", enabled, RSRC_CONF | ACCESS_CONF | OR_FILEINFO,
                 "On: serve the file named by a response's X-SendFile header"),
    AP_INIT_TAKE12("XSendFilePath", xsf_cmd_path, NULL, RSRC_CONF | ACCESS_CONF,
                   "a directory files may be served from; "
                   "optional AllowFileDelete permits X-SendFile-Temporary"),
    XSF_FLAG_CMD("XSendFileUnescape", unescape, RSRC_CONF | ACCESS_CONF | OR_FILEINFO,
                 "On (default): percent-decode the header value"),
    XSF_FLAG_CMD("XSendFileIgnoreEtag", ignore_etag,
                 RSRC_CONF | ACCESS_CONF | OR_FILEINFO,
                 "On: replace a backend's ETag with the served file's"),
    XSF_FLAG_CMD("XSendFileIgnoreLastModified", ignore_last_modified,
                 RSRC_CONF | ACCESS_CONF | OR_FILEINFO,
                 "On: replace a backend's Last-Modified with the file's mtime"),
    XSF_FLAG_CMD("XSendFileFollowSymlinks", follow_symlinks,
                 RSRC_CONF | ACCESS_CONF | OR_FILEINFO,
                 "On (default): follow symlinks that stay inside a root"),
    XSF_FLAG_CMD("XSendFileAnnounce", announce,
                 RSRC_CONF | ACCESS_CONF | OR_FILEINFO,
                 "On (default): tell the handler X-Sendfile-Type: X-Sendfile"),
    XSF_FLAG_CMD("XSendFileInternal", internal, ACCESS_CONF,
                 "On: 404 to clients; reachable only through X-Accel-Redirect"),
    AP_INIT_TAKE1("XSendFileStreamBuffer", xsf_cmd_stream_buffer, NULL,
                  RSRC_CONF | ACCESS_CONF | OR_FILEINFO,
                  "bytes a streamed named pipe may buffer (default 16M)"),
    AP_INIT_TAKE1("XSendFileStreamTimeout", xsf_cmd_stream_timeout, NULL,
                  RSRC_CONF | ACCESS_CONF | OR_FILEINFO,
                  "seconds a streamed named pipe may stay silent (default 60)"),
    {NULL}
};

/* ------------------------------------------------------------------------
 * The request side: what the handler sees
 * ------------------------------------------------------------------------ */

/*
 * Announce the offload protocol to the handler (Symfony, Laravel and Rack
 * wait for it), and never let a client choose it: a client-sent
 * X-Sendfile-Type or X-Accel-Mapping could make an application hand out
 * any file it can read (the class of Rack CVE-2025-61780).
 */
static void xsf_set_offload_headers(request_rec *r, const xsf_dir_conf *conf)
{
    apr_table_unset(r->headers_in, "X-Sendfile-Type");
    apr_table_unset(r->headers_in, "X-Accel-Mapping");
    if (XSF_FLAG(conf->announce, 1)) {
        apr_table_setn(r->headers_in, "X-Sendfile-Type", "X-Sendfile");
    }
}

/*
 * The handler does not see the client's preconditions: they are evaluated
 * here, against the served file.  Left in place, CGI and FastCGI answer
 * 412 or 304 on the script's own (absent) validators before the module
 * sees the response (mod_cgi runs ap_meets_conditions on script headers),
 * and a framework checks them against validators of its own making.
 * Range stays visible: answering it is harmless, the module recomputes it.
 */
static void xsf_hide_preconditions(request_rec *r)
{
    apr_table_t *saved = apr_table_make(r->pool, 4);
    int i;

    for (i = 0; xsf_precondition_headers[i] != NULL; i++) {
        const char *value = apr_table_get(r->headers_in, xsf_precondition_headers[i]);

        if (value != NULL) {
            apr_table_setn(saved, xsf_precondition_headers[i], value);
            apr_table_unset(r->headers_in, xsf_precondition_headers[i]);
        }
    }
    ap_set_module_config(r->request_config, &xsendfile_module, saved);
}

/* Put the client's preconditions back for httpd's own evaluation. */
static void xsf_restore_preconditions(request_rec *r)
{
    const request_rec *q;

    /* After an internal redirect the stash belongs to an earlier request
     * of the chain; headers_in is shared along it. */
    for (q = r; q != NULL; q = q->prev) {
        apr_table_t *saved = ap_get_module_config(q->request_config,
                                                  &xsendfile_module);
        if (saved != NULL) {
            apr_table_overlap(r->headers_in, saved, APR_OVERLAP_TABLES_SET);
            apr_table_clear(saved);
            return;
        }
    }
}

/* ------------------------------------------------------------------------
 * The output filter
 * ------------------------------------------------------------------------ */

typedef enum xsf_state {
    XSF_COLLECT,     /* dropping the backend's body until its EOS */
    XSF_PASS,        /* our response is out; pass anything else on */
    XSF_DISCARD      /* our response is out; drop the rest of the backend's */
} xsf_state_t;

typedef struct xsf_ctx {
    xsf_state_t state;
    const char *value;           /* the trigger header's value */
    int temporary;               /* X-SendFile-Temporary */
    int value_is_encoded;        /* X-SendFile-Encoding: url */
    int accel;                   /* X-Accel-Redirect: value is a URI (§7) */
    int backend_status;
    const char *backend_etag;
    const char *backend_last_modified;
} xsf_ctx;

/* A header from either table; CGI and FastCGI put theirs in err_headers_out. */
static const char *xsf_get_header(const request_rec *r, const char *name)
{
    const char *value = apr_table_get(r->headers_out, name);

    return value != NULL ? value : apr_table_get(r->err_headers_out, name);
}

static void xsf_unset_header(request_rec *r, const char *name)
{
    apr_table_unset(r->headers_out, name);
    apr_table_unset(r->err_headers_out, name);
}

/* §2: no trigger header ever reaches the client where XSendFile is On. */
static void xsf_strip_triggers(request_rec *r)
{
    xsf_unset_header(r, XSF_HDR_FILE);
    xsf_unset_header(r, XSF_HDR_TEMPORARY);
    xsf_unset_header(r, XSF_HDR_ENCODING);
    xsf_unset_header(r, XSF_HDR_ACCEL);
}

/*
 * Read the trigger headers into a new context, then strip them.  Returns
 * NULL when the response carries none.
 */
static xsf_ctx *xsf_take_triggers(request_rec *r)
{
    const char *file = xsf_get_header(r, XSF_HDR_FILE);
    const char *temporary = xsf_get_header(r, XSF_HDR_TEMPORARY);
    const char *encoding = xsf_get_header(r, XSF_HDR_ENCODING);
    const char *accel = xsf_get_header(r, XSF_HDR_ACCEL);
    xsf_ctx *ctx = NULL;

    if (file != NULL || temporary != NULL || accel != NULL) {
        ctx = apr_pcalloc(r->pool, sizeof(*ctx));
        ctx->state = XSF_COLLECT;
        /* Several at once is a backend bug; the plain file wins, then the
         * one that deletes nothing. */
        ctx->temporary = file == NULL && temporary != NULL;
        ctx->accel = file == NULL && temporary == NULL;
        ctx->value = file != NULL ? file : temporary != NULL ? temporary : accel;
        ctx->value_is_encoded = encoding != NULL && strcasecmp(encoding, "url") == 0;
        ctx->backend_status = r->status;
        ctx->backend_etag = xsf_get_header(r, "ETag");
        ctx->backend_last_modified = xsf_get_header(r, "Last-Modified");
    }
    xsf_strip_triggers(r);
    return ctx;
}

/*
 * Drop the buckets of a backend's body, reading each one first: a CGI or
 * pipe bucket that is never read leaves the script blocked on a full pipe
 * (the original module stalled CGI scripts for `Timeout` seconds that way).
 * Returns 1 once the backend's EOS was seen.
 */
static int xsf_drain(apr_bucket_brigade *bb)
{
    int eos = 0;

    while (!APR_BRIGADE_EMPTY(bb)) {
        apr_bucket *e = APR_BRIGADE_FIRST(bb);

        if (APR_BUCKET_IS_EOS(e)) {
            eos = 1;
        }
        else if (!APR_BUCKET_IS_METADATA(e)) {
            const char *data;
            apr_size_t len;

            /* A failed read ends that bucket; the body is dropped anyway. */
            (void)apr_bucket_read(e, &data, &len, APR_BLOCK_READ);
        }
        apr_bucket_delete(e);
    }
    return eos;
}

static void xsf_log_lookup_failure(request_rec *r, xsf_status_t status,
                                   const xsf_ctx *ctx,
                                   const xsf_lookup_result_t *res)
{
    static const char *const ids[] = {
        [XSF_BAD_VALUE] = "XSF0002",
        [XSF_NOT_FOUND] = "XSF0003",
        [XSF_OUTSIDE] = "XSF0004",
        [XSF_FORBIDDEN] = "XSF0005",
        [XSF_NOT_REGULAR] = "XSF0006",
        [XSF_NO_ROOT] = "XSF0007",
        [XSF_ERROR] = "XSF0017",
    };

    if (status == XSF_NO_ROOT) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "XSF0007: %s '%s' refused: no XSendFilePath in scope "
                      "for %s; add 'XSendFilePath /dir' for the directory "
                      "the backend names", ctx->temporary ? XSF_HDR_TEMPORARY
                      : XSF_HDR_FILE, ctx->value, r->uri);
        return;
    }
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "%s: %s '%s' for %s: %s", ids[status],
                  ctx->temporary ? XSF_HDR_TEMPORARY : XSF_HDR_FILE,
                  ctx->value, r->uri, res->reason ? res->reason : "refused");
}

static int xsf_http_status(xsf_status_t status)
{
    switch (status) {
    case XSF_BAD_VALUE:
    case XSF_ERROR:
        return HTTP_INTERNAL_SERVER_ERROR;
    case XSF_NOT_FOUND:
        return HTTP_NOT_FOUND;
    default:
        return HTTP_FORBIDDEN;
    }
}

/* Pool cleanup: X-SendFile-Temporary files go once the request is over. */
static apr_status_t xsf_delete_temporary(void *data)
{
    const xsf_lookup_result_t *res = data;
    apr_pool_t *p;
    apr_status_t rv;

    if (apr_pool_create(&p, NULL) != APR_SUCCESS) {
        return APR_SUCCESS;
    }
    rv = xsf_unlink_opened(p, res);
    if (rv != APR_SUCCESS && !APR_STATUS_IS_ENOENT(rv)) {
        ap_log_perror(APLOG_MARK, APLOG_ERR, rv, p,
                      "XSF0010: could not delete temporary file %s", res->path);
    }
    apr_pool_destroy(p);
    return APR_SUCCESS;
}

/*
 * Content-Type from the file's name through mod_mime's configuration, for a
 * backend that set none.  The type checker also guesses an encoding
 * (`.tar.gz` -> gzip) and a handler; neither applies to a file sent as is.
 */
static void xsf_derive_content_type(request_rec *r)
{
    const char *handler = r->handler;

    ap_run_type_checker(r);
    r->handler = handler;
    r->content_encoding = NULL;
    r->content_languages = NULL;
}

/*
 * Make the request describe the opened file, so that httpd computes the
 * validators and the conditional result from it, exactly as its own
 * default handler does for a static file (§5).
 */
static void xsf_describe_file(request_rec *r, const xsf_lookup_result_t *res)
{
    /* The name the backend gave, as static serving would have it: mod_mime
     * types a symlink by its own name, not by its target's. */
    r->filename = apr_pstrdup(r->pool, res->name != NULL ? res->name : res->path);
    r->finfo = res->finfo;
    r->finfo.fname = r->filename;

    /* The backend's framing and coding describe its body, not the file. */
    xsf_unset_header(r, "Content-Length");
    xsf_unset_header(r, "Content-Range");
    xsf_unset_header(r, "Content-Encoding");
    xsf_unset_header(r, "Accept-Ranges");
    xsf_unset_header(r, "Transfer-Encoding");
    r->content_encoding = NULL;

    if (r->content_type == NULL) {
        xsf_derive_content_type(r);
    }
    xsf_unset_header(r, "ETag");
    xsf_unset_header(r, "Last-Modified");
    r->mtime = res->finfo.mtime;
}

/*
 * Validators for a 200 response, as core's default handler sets them for a
 * static file.  A backend's own ETag and Last-Modified stay unless the
 * Ignore switches say otherwise; ours describe the file, never the script
 * that named it.
 */
static void xsf_set_validators(request_rec *r, const xsf_dir_conf *conf,
                               const xsf_ctx *ctx, const xsf_lookup_result_t *res)
{
    if (ctx->backend_last_modified != NULL
        && !XSF_FLAG(conf->ignore_last_modified, 0)) {
        apr_table_setn(r->headers_out, "Last-Modified", ctx->backend_last_modified);
    }
    else {
        ap_set_last_modified(r);
    }
    if (ctx->backend_etag != NULL && !XSF_FLAG(conf->ignore_etag, 0)) {
        apr_table_setn(r->headers_out, "ETag", ctx->backend_etag);
    }
    else {
        ap_set_etag_fd(r, res->file);
    }
    ap_set_accept_ranges(r);
}

/* The file's bytes, honouring EnableMMAP and the read buffer size like core. */
static void xsf_insert_file(request_rec *r, apr_bucket_brigade *bb,
                            apr_file_t *file, apr_off_t size)
{
    apr_bucket *e = apr_brigade_insert_file(bb, file, 0, size, r->pool);

#if APR_HAS_MMAP
    {
        const core_dir_config *core = ap_get_core_module_config(r->per_dir_config);

        if (core->enable_mmap == ENABLE_MMAP_OFF) {
            (void)apr_bucket_file_enable_mmap(e, 0);
        }
    }
#endif
    (void)apr_bucket_file_set_buf_size(e, ap_get_read_buf_size(r));
}

/*
 * Hand httpd an error status for this response: the header filter turns it
 * into httpd's error page (or the ErrorDocument), which passes through this
 * filter again and must be let through.
 */
static apr_status_t xsf_pass_error(ap_filter_t *f, xsf_ctx *ctx, int status)
{
    apr_bucket_brigade *bb = apr_brigade_create(f->r->pool, f->c->bucket_alloc);

    ctx->state = XSF_PASS;
    APR_BRIGADE_INSERT_TAIL(bb, ap_bucket_error_create(status, NULL, f->r->pool,
                                                       f->c->bucket_alloc));
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(f->c->bucket_alloc));
    return ap_pass_brigade(f->next, bb);
}

/*
 * End a streamed response that the producer did not finish.  As mod_proxy
 * does for a backend that broke mid-body: the chunk filter then leaves out
 * the terminating zero-length chunk, and the connection is closed, so the
 * client sees a truncated body rather than a short file.
 */
static apr_status_t xsf_pass_truncation(ap_filter_t *f)
{
    apr_bucket_brigade *bb = apr_brigade_create(f->r->pool, f->c->bucket_alloc);

    f->r->no_cache = 1;
    f->c->keepalive = AP_CONN_CLOSE;
    APR_BRIGADE_INSERT_TAIL(bb, ap_bucket_error_create(HTTP_BAD_GATEWAY, NULL,
                                                       f->r->pool, f->c->bucket_alloc));
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(f->c->bucket_alloc));
    return ap_pass_brigade(f->next, bb);
}

/*
 * §8: a named pipe of unknown length.  The reader thread of xsf_stream.c
 * buffers the producer's bytes; this loop passes them on as they come,
 * each pass flushed, so the client sees them at once (chunked over
 * HTTP/1.1, close-delimited over HTTP/1.0, DATA frames over HTTP/2: httpd
 * frames a body without Content-Length by itself).
 */
static apr_status_t xsf_stream_respond(ap_filter_t *f, xsf_ctx *ctx,
                                       const xsf_dir_conf *conf,
                                       const xsf_lookup_result_t *res,
                                       int full_semantics)
{
    request_rec *r = f->r;
    conn_rec *c = f->c;
    apr_off_t buffer = XSF_FLAG(conf->stream_buffer, XSF_STREAM_BUFFER_DEFAULT);
    apr_interval_time_t idle = XSF_FLAG(conf->stream_timeout, XSF_STREAM_TIMEOUT_DEFAULT);
    apr_bucket_brigade *bb;
    xsf_stream_t *stream;
    xsf_stream_status_t st;
    apr_status_t rv;
    int sent = 0;

    ctx->state = XSF_DISCARD;
    if (full_semantics) {
        r->status = HTTP_OK;
        r->status_line = NULL;
    }
    /* No length, no ranges, no validators: the bytes do not exist yet. */
    apr_table_setn(r->headers_out, "Accept-Ranges", "none");
    if (r->header_only) {
        bb = apr_brigade_create(r->pool, c->bucket_alloc);
        APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(c->bucket_alloc));
        return ap_pass_brigade(f->next, bb);
    }
    rv = xsf_stream_start(&stream, r->pool, res->file, (apr_size_t)buffer, idle);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r,
                      "XSF0011: cannot stream %s for %s", res->path, r->uri);
        return xsf_pass_error(f, ctx, HTTP_INTERNAL_SERVER_ERROR);
    }
    bb = apr_brigade_create(r->pool, c->bucket_alloc);
    for (;;) {
        struct iovec iov[XSF_STREAM_IOV];
        apr_size_t n = XSF_STREAM_IOV, i, total = 0;

        st = xsf_stream_next(stream, iov, &n, XSF_STREAM_PASS_MAX);
        if (st != XSF_STREAM_DATA) {
            break;
        }
        /* Transient buckets point into the fifo: a FLUSH makes the chain
         * write (or copy) them before ap_pass_brigade returns, and only
         * then is the fifo told they are consumed. */
        for (i = 0; i < n; i++) {
            APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_transient_create(
                iov[i].iov_base, iov[i].iov_len, c->bucket_alloc));
            total += iov[i].iov_len;
        }
        APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_flush_create(c->bucket_alloc));
        rv = ap_pass_brigade(f->next, bb);
        apr_brigade_cleanup(bb);
        xsf_stream_consumed(stream, total);
        if (rv != APR_SUCCESS || c->aborted) {
            xsf_stream_stop(stream);
            ap_log_rerror(APLOG_MARK, APLOG_INFO, rv, r,
                          "XSF0012: client went away while streaming %s", res->path);
            return rv != APR_SUCCESS ? rv : APR_ECONNABORTED;
        }
        sent = 1;
    }
    xsf_stream_stop(stream);
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                  "XSF0013: streamed %" APR_UINT64_T_FMT " bytes from %s, "
                  "at most %" APR_SIZE_T_FMT " bytes buffered",
                  xsf_stream_bytes_in(stream), res->path,
                  xsf_stream_peak_memory(stream));
    if (st == XSF_STREAM_END) {
        APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(c->bucket_alloc));
        return ap_pass_brigade(f->next, bb);
    }
    if (st == XSF_STREAM_IDLE) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "XSF0008: %s sent nothing for %" APR_TIME_T_FMT
                      " seconds; response aborted", res->path, apr_time_sec(idle));
    }
    else {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "XSF0009: reading %s failed; response aborted", res->path);
    }
    /* Nothing sent yet: a clean error response is still possible. */
    return sent ? xsf_pass_truncation(f)
                : xsf_pass_error(f, ctx, st == XSF_STREAM_IDLE ? HTTP_GATEWAY_TIME_OUT
                                                               : HTTP_BAD_GATEWAY);
}

/*
 * §7: is `uri` an acceptable X-Accel-Redirect target?  An absolute path,
 * optionally with a query; once percent-decoded no NUL and no `..` segment
 * (httpd would fold it, letting a backend climb out of the location it
 * meant).  The path is handed to httpd still encoded: httpd decodes it.
 */
static int xsf_accel_uri_ok(apr_pool_t *p, const char *uri)
{
    char *path;
    const char *seg;
    apr_size_t len;

    if (uri[0] != '/') {
        return 0;
    }
    path = apr_pstrndup(p, uri, strcspn(uri, "?"));
    if (ap_unescape_url_keep2f(path, 1) == HTTP_BAD_REQUEST) {
        return 0;
    }
    for (seg = path; *seg != '\0'; seg += len) {
        seg += strspn(seg, "/");
        len = strcspn(seg, "/");
        if (len == 2 && seg[0] == '.' && seg[1] == '.') {
            return 0;
        }
    }
    return 1;
}

static int xsf_copy_to_err_headers(void *rec, const char *key, const char *value)
{
    request_rec *r = rec;

    apr_table_addn(r->err_headers_out, key, value);
    return 1;
}

/* See xsf_accel_kept_headers; the Content-Type is applied by xsf_fixups
 * of the target request, where a static handler would guess one. */
static void xsf_keep_accel_headers(request_rec *r)
{
    int i;

    for (i = 0; xsf_accel_kept_headers[i] != NULL; i++) {
        apr_table_do(xsf_copy_to_err_headers, r, r->headers_out,
                     xsf_accel_kept_headers[i], NULL);
        apr_table_unset(r->headers_out, xsf_accel_kept_headers[i]);
    }
    if (r->content_type != NULL) {
        apr_table_setn(r->notes, XSF_NOTE_ACCEL_TYPE, r->content_type);
    }
}

/*
 * X-Accel-Redirect: an internal redirect, as nginx makes it.  The new
 * request is served (and its response sent) before this returns.  As for
 * a CGI's local Location: the method becomes GET (HEAD stays HEAD) and the
 * request body, already read by the backend, is gone.
 */
static apr_status_t xsf_accel_redirect(ap_filter_t *f, xsf_ctx *ctx)
{
    request_rec *r = f->r;

    if (!xsf_accel_uri_ok(r->pool, ctx->value)) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "XSF0014: X-Accel-Redirect '%s' for %s refused: not an "
                      "absolute path, or a NUL or '..' in it", ctx->value, r->uri);
        return xsf_pass_error(f, ctx, HTTP_NOT_FOUND);
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                  "XSF0015: X-Accel-Redirect to %s for %s", ctx->value, r->uri);
    if (r->method_number != M_GET && !r->header_only) {
        r->method = "GET";
        r->method_number = M_GET;
    }
    apr_table_unset(r->headers_in, "Content-Length");
    apr_table_unset(r->headers_in, "Transfer-Encoding");
    xsf_keep_accel_headers(r);
    apr_table_setn(r->notes, XSF_NOTE_ACCEL, "1");
    /* Whatever the handler or httpd still sends for this request stops here. */
    ctx->state = XSF_DISCARD;
    ap_internal_redirect(ctx->value, r);
    return APR_SUCCESS;
}

/*
 * Build the response for the file (or the error) once the backend's body is
 * gone, and pass it on.
 */
static apr_status_t xsf_respond(ap_filter_t *f, xsf_ctx *ctx)
{
    request_rec *r = f->r;
    const xsf_dir_conf *conf = ap_get_module_config(r->per_dir_config,
                                                    &xsendfile_module);
    core_dir_config *core = ap_get_core_module_config(r->per_dir_config);
    xsf_lookup_result_t *res = apr_pcalloc(r->pool, sizeof(*res));
    apr_bucket_brigade *bb;
    xsf_lookup_opts_t opts;
    xsf_status_t found;
    int full_semantics;

    if (ctx->accel) {
        return xsf_accel_redirect(f, ctx);
    }
    opts.unescape = XSF_FLAG(conf->unescape, 1);
    opts.value_is_encoded = ctx->value_is_encoded;
    opts.follow_symlinks = XSF_FLAG(conf->follow_symlinks, 1);
    opts.open_flags = AP_SENDFILE_ENABLED(core->enable_sendfile);

    found = xsf_lookup(r->pool, ctx->value, (const xsf_root_t *)conf->roots->elts,
                       conf->roots->nelts, &opts, res);
    if (found == XSF_FOUND && ctx->temporary && !res->root->allow_delete) {
        res->reason = "X-SendFile-Temporary outside every AllowFileDelete root";
        found = XSF_FORBIDDEN;
    }
    if (found != XSF_FOUND) {
        xsf_log_lookup_failure(r, found, ctx, res);
        return xsf_pass_error(f, ctx, xsf_http_status(found));
    }
    if (ctx->temporary) {
        apr_pool_cleanup_register(r->pool, res, xsf_delete_temporary,
                                  apr_pool_cleanup_null);
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                  "XSF0001: serving %s (%s value) for %s", res->path,
                  res->decoding != NULL ? res->decoding : "?", r->uri);

    /* §5: 200 and 206 get full HTTP semantics, recomputed here; any other
     * status keeps its code with the file as its body. */
    full_semantics = ctx->backend_status == HTTP_OK
                     || ctx->backend_status == HTTP_PARTIAL_CONTENT;
    xsf_describe_file(r, res);
    if (res->is_fifo) {
        return xsf_stream_respond(f, ctx, conf, res, full_semantics);
    }
    ap_set_content_length(r, res->finfo.size);
    if (full_semantics) {
        int cond;

        r->status = HTTP_OK;
        r->status_line = NULL;
        xsf_set_validators(r, conf, ctx, res);
        cond = ap_meets_conditions(r);
        if (cond != OK) {
            r->status = cond;
        }
    }
    bb = apr_brigade_create(r->pool, f->c->bucket_alloc);
    if (r->status == HTTP_OK || !full_semantics) {
        xsf_insert_file(r, bb, res->file, res->finfo.size);
    }
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(f->c->bucket_alloc));
    ctx->state = XSF_DISCARD;
    return ap_pass_brigade(f->next, bb);
}

static apr_status_t xsf_output_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    request_rec *r = f->r;
    xsf_ctx *ctx = f->ctx;

    if (ctx == NULL) {
        int status = r->status;

        xsf_restore_preconditions(r);
        ctx = xsf_take_triggers(r);
        /* Nothing to do: no trigger, httpd's own error page, or a status
         * without a body (§5: 204 and 304 only lose the header). */
        if (ctx == NULL || apr_table_get(r->notes, XSF_NOTE_ERROR_RESPONSE)
            || status == HTTP_NO_CONTENT || status == HTTP_NOT_MODIFIED) {
            ap_remove_output_filter(f);
            return ap_pass_brigade(f->next, bb);
        }
        f->ctx = ctx;
    }

    switch (ctx->state) {
    case XSF_PASS:
        return ap_pass_brigade(f->next, bb);
    case XSF_DISCARD:
        (void)xsf_drain(bb);
        return APR_SUCCESS;
    case XSF_COLLECT:
    default:
        if (xsf_drain(bb)) {
            apr_status_t rv = xsf_respond(f, ctx);

            /* AP_FILTER_ERROR: httpd already sent an error response (416,
             * or ours).  The handler has nothing left to do; told of an
             * error, some (mod_wsgi) append a 500 page of their own. */
            return rv == AP_FILTER_ERROR ? APR_SUCCESS : rv;
        }
        return APR_SUCCESS;
    }
}

/* ------------------------------------------------------------------------
 * Hooks
 * ------------------------------------------------------------------------ */

/*
 * The request whose X-Accel-Redirect led here (to this request, or to the
 * one it is a subrequest of), or NULL.
 */
static const request_rec *xsf_accel_origin(const request_rec *r)
{
    for (; r != NULL; r = r->main) {
        if (r->prev != NULL && apr_table_get(r->prev->notes, XSF_NOTE_ACCEL)) {
            return r->prev;
        }
    }
    return NULL;
}

static int xsf_fixups(request_rec *r)
{
    const xsf_dir_conf *conf = ap_get_module_config(r->per_dir_config,
                                                    &xsendfile_module);
    const request_rec *origin = xsf_accel_origin(r);

    /* §7: an XSendFileInternal location does not exist for clients. */
    if (XSF_FLAG(conf->internal, 0) && origin == NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                      "XSF0016: %s is XSendFileInternal: 404 to a client", r->uri);
        return HTTP_NOT_FOUND;
    }
    /* The backend's Content-Type beats a guess from the target's name, as
     * for X-SendFile (§5); a target handler that sets one still wins. */
    if (origin != NULL && r->main == NULL) {
        const char *type = apr_table_get(origin->notes, XSF_NOTE_ACCEL_TYPE);

        if (type != NULL) {
            ap_set_content_type(r, type);
        }
    }
    if (XSF_FLAG(conf->enabled, 0)) {
        xsf_set_offload_headers(r, conf);
        xsf_hide_preconditions(r);
    }
    return DECLINED;
}

static int xsf_enabled(const request_rec *r)
{
    const xsf_dir_conf *conf = ap_get_module_config(r->per_dir_config,
                                                    &xsendfile_module);

    return XSF_FLAG(conf->enabled, 0);
}

/*
 * Two places in the chain.  The early filter (AP_FTYPE_RESOURCE) comes
 * before every content filter, so mod_deflate compresses the file and
 * mod_headers' `Header unset ETag` still acts on our validators.  The late
 * filter, after mod_headers' fix-ups, sees a trigger header added by
 * `Header set X-SendFile ...`; whichever instance sees a trigger first
 * serves it, the other finds none and steps aside.
 */
static void xsf_insert_early_filter(request_rec *r)
{
    if (xsf_enabled(r)) {
        ap_add_output_filter(XSF_FILTER_EARLY, NULL, r, r->connection);
    }
}

/* After mod_headers, which inserts its filter at APR_HOOK_LAST. */
static void xsf_insert_late_filter(request_rec *r)
{
    if (xsf_enabled(r)) {
        ap_add_output_filter(XSF_FILTER_LATE, NULL, r, r->connection);
    }
}

/*
 * httpd is about to send its own error page (the handler failed, or the
 * filter itself asked for 404/403/500).  Trigger headers in
 * err_headers_out survive into it, so they must go, but no file may be
 * served as the body of httpd's error.  `Header always set` adds its
 * headers in a filter inserted now, at APR_HOOK_LAST: a late instance of
 * ours inserted after it strips those too.
 */
static void xsf_insert_error_filter(request_rec *r)
{
    if (xsf_enabled(r)) {
        apr_table_setn(r->notes, XSF_NOTE_ERROR_RESPONSE, "1");
        xsf_strip_triggers(r);
        ap_add_output_filter(XSF_FILTER_LATE, NULL, r, r->connection);
    }
}

static void xsf_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_register_output_filter(XSF_FILTER_EARLY, xsf_output_filter, NULL,
                              AP_FTYPE_RESOURCE);
    ap_register_output_filter(XSF_FILTER_LATE, xsf_output_filter, NULL,
                              AP_FTYPE_CONTENT_SET);
    ap_hook_insert_filter(xsf_insert_early_filter, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_insert_filter(xsf_insert_late_filter, NULL, NULL, APR_HOOK_REALLY_LAST);
    ap_hook_insert_error_filter(xsf_insert_error_filter, NULL, NULL,
                                APR_HOOK_REALLY_LAST);
    ap_hook_fixups(xsf_fixups, NULL, NULL, APR_HOOK_REALLY_LAST);
}

AP_DECLARE_MODULE(xsendfile) = {
    STANDARD20_MODULE_STUFF,
    xsf_create_dir_conf,
    xsf_merge_dir_conf,
    NULL,
    NULL,
    xsf_cmds,
    xsf_register_hooks
#ifdef AP_MODULE_FLAG_NONE
    , AP_MODULE_FLAG_NONE
#endif
};
