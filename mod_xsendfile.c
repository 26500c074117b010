/*
 * mod_xsendfile: serve the file a backend names in an X-SendFile header.
 *
 * A handler (CGI, mod_proxy, mod_wsgi, PHP ...) decides whether a client may
 * have a file and answers with `X-SendFile: /path`.  This module's output
 * filter then throws the handler's body away and sends the file with the
 * full HTTP semantics of Apache's static file serving: validators,
 * conditional requests, ranges, HEAD, zero-copy.  The behaviour contract is
 * docs/SPEC.md; section numbers (§) below refer to it, and docs/INTERNALS.md
 * walks through a request.
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
#include "apr_date.h"
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

/* Set in r->notes where that error response is httpd's 412 to a script
 * that named a file (xsf_insert_error_filter); the value is the script's
 * Content-Type, "" for none. */
#define XSF_NOTE_REEVALUATE "xsendfile-reevaluate"

#define XSF_FILTER_EARLY "XSENDFILE"
#define XSF_FILTER_LATE  "XSENDFILE_LATE"

/* Most bytes handed to the chain in one pass while streaming. */
#define XSF_STREAM_PASS_MAX (1024 * 1024)
#define XSF_STREAM_IOV 16

/*
 * The defaults of §1, each written here once.  The directive help texts
 * quote them (XSF_STR), xsf_settings_get() applies them, and t/docs.t
 * checks that the README and the man page say the same.
 */
#define XSF_DEFAULT_ENABLED              0
#define XSF_DEFAULT_UNESCAPE             1
#define XSF_DEFAULT_IGNORE_ETAG          0
#define XSF_DEFAULT_IGNORE_LAST_MODIFIED 0
#define XSF_DEFAULT_FOLLOW_SYMLINKS      1
#define XSF_DEFAULT_ANNOUNCE             1
#define XSF_DEFAULT_INTERNAL             0
#define XSF_DEFAULT_STREAM_BUFFER_MIB    16
#define XSF_DEFAULT_STREAM_TIMEOUT_SEC   60
#define XSF_MIN_STREAM_BUFFER_KIB        64
#define XSF_MAX_STREAM_TIMEOUT_SEC       86400

#define XSF_STR_(x) #x
#define XSF_STR(x) XSF_STR_(x)
/* "On" or "Off" for a flag's default, at compile time */
#define XSF_ONOFF_0 "Off"
#define XSF_ONOFF_1 "On"
#define XSF_ONOFF_(x) XSF_ONOFF_##x
#define XSF_ONOFF(x) XSF_ONOFF_(x)

/* A directive not set in a scope: the enclosing scope's value, or the default. */
#define XSF_UNSET (-1)
#define XSF_OR(v, dflt) ((v) == XSF_UNSET ? (dflt) : (v))

/* ------------------------------------------------------------------------
 * Configuration
 * ------------------------------------------------------------------------ */

/*
 * Every directive is per directory: at server and virtual-host level httpd
 * hands the handlers the base directory configuration, so a <Directory>
 * sees its parents' roots plus its own (§1) through the merge below.
 * Fields hold XSF_UNSET until a directive sets them, so that an unset
 * field inherits; xsf_settings_get() fills in the defaults.
 */
typedef struct xsf_dir_conf {
    int enabled;
    int unescape;
    int ignore_etag;
    int ignore_last_modified;
    int follow_symlinks;
    int announce;
    int internal;                       /* XSendFileInternal */
    apr_off_t stream_buffer;            /* bytes */
    apr_interval_time_t stream_timeout;
    int from_htaccess;                  /* a limit above was set in .htaccess */
    apr_array_header_t *roots;          /* of xsf_root_t, parents' first */
} xsf_dir_conf;

/* The configuration of one request, every default applied. */
typedef struct xsf_settings {
    int enabled;
    int unescape;
    int ignore_etag;
    int ignore_last_modified;
    int follow_symlinks;
    int announce;
    int internal;
    apr_off_t stream_buffer;
    apr_interval_time_t stream_timeout;
    const apr_array_header_t *roots;
} xsf_settings_t;

static void xsf_settings_get(const request_rec *r, xsf_settings_t *s)
{
    const xsf_dir_conf *conf = ap_get_module_config(r->per_dir_config, &xsendfile_module);

    s->enabled = XSF_OR(conf->enabled, XSF_DEFAULT_ENABLED);
    s->unescape = XSF_OR(conf->unescape, XSF_DEFAULT_UNESCAPE);
    s->ignore_etag = XSF_OR(conf->ignore_etag, XSF_DEFAULT_IGNORE_ETAG);
    s->ignore_last_modified = XSF_OR(conf->ignore_last_modified,
                                     XSF_DEFAULT_IGNORE_LAST_MODIFIED);
    s->follow_symlinks = XSF_OR(conf->follow_symlinks, XSF_DEFAULT_FOLLOW_SYMLINKS);
    s->announce = XSF_OR(conf->announce, XSF_DEFAULT_ANNOUNCE);
    s->internal = XSF_OR(conf->internal, XSF_DEFAULT_INTERNAL);
    s->stream_buffer = XSF_OR(conf->stream_buffer,
                              (apr_off_t)XSF_DEFAULT_STREAM_BUFFER_MIB << 20);
    s->stream_timeout = XSF_OR(conf->stream_timeout,
                               apr_time_from_sec(XSF_DEFAULT_STREAM_TIMEOUT_SEC));
    s->roots = conf->roots;
}

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

/* A value set in the inner scope wins. */
#define XSF_MERGE(field) (conf->field = XSF_OR(add->field, base->field))

/*
 * The limits an administrator sets for .htaccess authors hold there: a
 * .htaccess may make them stricter, never looser (as AllowOverrideList
 * lets an admin choose which directives .htaccess may use at all).
 */
#define XSF_TIGHTEN(field, dflt, stricter) \
    (conf->field = add->field == XSF_UNSET ? base->field \
                   : stricter(XSF_OR(base->field, dflt), add->field))
#define XSF_MIN(a, b) ((a) < (b) ? (a) : (b))

static void *xsf_merge_dir_conf(apr_pool_t *p, void *basev, void *addv)
{
    const xsf_dir_conf *base = basev;
    const xsf_dir_conf *add = addv;
    xsf_dir_conf *conf = apr_pcalloc(p, sizeof(*conf));

    XSF_MERGE(enabled);
    XSF_MERGE(unescape);
    XSF_MERGE(ignore_etag);
    XSF_MERGE(ignore_last_modified);
    XSF_MERGE(announce);
    XSF_MERGE(internal);
    if (add->from_htaccess) {
        XSF_TIGHTEN(follow_symlinks, XSF_DEFAULT_FOLLOW_SYMLINKS, XSF_MIN);
        XSF_TIGHTEN(stream_buffer, (apr_off_t)XSF_DEFAULT_STREAM_BUFFER_MIB << 20, XSF_MIN);
        XSF_TIGHTEN(stream_timeout, apr_time_from_sec(XSF_DEFAULT_STREAM_TIMEOUT_SEC),
                    XSF_MIN);
    }
    else {
        XSF_MERGE(follow_symlinks);
        XSF_MERGE(stream_buffer);
        XSF_MERGE(stream_timeout);
    }
    conf->from_htaccess = base->from_htaccess || add->from_htaccess;
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
    xsf_root_t root;
    const char *err;

    if (option != NULL && strcasecmp(option, "AllowFileDelete") != 0) {
        return apr_psprintf(cmd->pool, "XSendFilePath: unknown option '%s' "
                            "(only AllowFileDelete is known)", option);
    }
    /* Opened now, while the configuration is read: the root is the
     * directory standing at this name at start-up (§4). */
    err = xsf_root_open(cmd->pool, path, option != NULL, &root);
    if (err != NULL) {
        return apr_psprintf(cmd->pool, "XSendFilePath %s: %s", path, err);
    }
    *(xsf_root_t *)apr_array_push(conf->roots) = root;
    return NULL;
}

/* httpd parses a .htaccess file with the request's pool for both pools. */
static void xsf_note_htaccess(const cmd_parms *cmd, xsf_dir_conf *conf)
{
    if (cmd->pool == cmd->temp_pool) {
        conf->from_htaccess = 1;
    }
}

/* XSendFileFollowSymlinks On|Off; in .htaccess it can only turn them off. */
static const char *xsf_cmd_follow_symlinks(cmd_parms *cmd, void *dirconf, int on)
{
    xsf_dir_conf *conf = dirconf;

    conf->follow_symlinks = on;
    xsf_note_htaccess(cmd, conf);
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
    if (n < ((apr_int64_t)XSF_MIN_STREAM_BUFFER_KIB << 10)) {
        return "XSendFileStreamBuffer: at least " XSF_STR(XSF_MIN_STREAM_BUFFER_KIB) "K";
    }
    conf->stream_buffer = (apr_off_t)n;
    xsf_note_htaccess(cmd, conf);
    return NULL;
}

/* XSendFileStreamTimeout <seconds> */
static const char *xsf_cmd_stream_timeout(cmd_parms *cmd, void *dirconf,
                                          const char *arg)
{
    xsf_dir_conf *conf = dirconf;
    char *end;
    apr_int64_t seconds = apr_strtoi64(arg, &end, 10);

    if (end == arg || *end != '\0' || seconds <= 0 || seconds > XSF_MAX_STREAM_TIMEOUT_SEC) {
        return apr_psprintf(cmd->pool, "XSendFileStreamTimeout: '%s' is not a "
                            "number of seconds from 1 to "
                            XSF_STR(XSF_MAX_STREAM_TIMEOUT_SEC), arg);
    }
    conf->stream_timeout = apr_time_from_sec(seconds);
    xsf_note_htaccess(cmd, conf);
    return NULL;
}

#define XSF_FLAG_CMD(name, field, scope, help) \
    AP_INIT_FLAG(name, ap_set_flag_slot, \
                 (void *)APR_OFFSETOF(xsf_dir_conf, field), scope, help)
#define XSF_ANYWHERE (RSRC_CONF | ACCESS_CONF | OR_FILEINFO)
#define XSF_DEFAULT_HELP(flag) " (default " XSF_ONOFF(flag) ")"

static const command_rec xsf_cmds[] = {
    XSF_FLAG_CMD("XSendFile", enabled, XSF_ANYWHERE,
                 "On: serve the file named by a response's X-SendFile header"
                 XSF_DEFAULT_HELP(XSF_DEFAULT_ENABLED)),
    AP_INIT_TAKE12("XSendFilePath", xsf_cmd_path, NULL, RSRC_CONF | ACCESS_CONF,
                   "a directory files may be served from; "
                   "optional AllowFileDelete permits X-SendFile-Temporary"),
    XSF_FLAG_CMD("XSendFileUnescape", unescape, XSF_ANYWHERE,
                 "On: percent-decode the header value"
                 XSF_DEFAULT_HELP(XSF_DEFAULT_UNESCAPE)),
    XSF_FLAG_CMD("XSendFileIgnoreEtag", ignore_etag, XSF_ANYWHERE,
                 "On: replace a backend's ETag with the served file's"
                 XSF_DEFAULT_HELP(XSF_DEFAULT_IGNORE_ETAG)),
    XSF_FLAG_CMD("XSendFileIgnoreLastModified", ignore_last_modified, XSF_ANYWHERE,
                 "On: replace a backend's Last-Modified with the file's mtime"
                 XSF_DEFAULT_HELP(XSF_DEFAULT_IGNORE_LAST_MODIFIED)),
    AP_INIT_FLAG("XSendFileFollowSymlinks", xsf_cmd_follow_symlinks, NULL, XSF_ANYWHERE,
                 "On: follow symlinks that stay inside a root; a .htaccess "
                 "can only turn this Off" XSF_DEFAULT_HELP(XSF_DEFAULT_FOLLOW_SYMLINKS)),
    XSF_FLAG_CMD("XSendFileAnnounce", announce, XSF_ANYWHERE,
                 "On: tell the handler X-Sendfile-Type: X-Sendfile"
                 XSF_DEFAULT_HELP(XSF_DEFAULT_ANNOUNCE)),
    XSF_FLAG_CMD("XSendFileInternal", internal, ACCESS_CONF,
                 "On: 404 to clients; reachable only through X-Accel-Redirect"
                 XSF_DEFAULT_HELP(XSF_DEFAULT_INTERNAL)),
    AP_INIT_TAKE1("XSendFileStreamBuffer", xsf_cmd_stream_buffer, NULL, XSF_ANYWHERE,
                  "bytes a streamed named pipe may buffer (default "
                  XSF_STR(XSF_DEFAULT_STREAM_BUFFER_MIB) "M; a .htaccess can only "
                  "lower it)"),
    AP_INIT_TAKE1("XSendFileStreamTimeout", xsf_cmd_stream_timeout, NULL, XSF_ANYWHERE,
                  "seconds a streamed named pipe may stay silent (default "
                  XSF_STR(XSF_DEFAULT_STREAM_TIMEOUT_SEC) "; a .htaccess can only "
                  "lower it)"),
    {NULL}
};

/* ------------------------------------------------------------------------
 * The request side: what the handler sees
 * ------------------------------------------------------------------------ */

/*
 * Announce the offload protocol to the handler (Symfony, Laravel and Rack
 * wait for it), and never let a client choose it: a client-sent
 * X-Sendfile-Type or X-Accel-Mapping could make an application hand out
 * any file it can read (the class of Rack CVE-2025-61780).  These two are
 * the only request headers the module touches (§5: every other header,
 * preconditions included, reaches the handler as the client sent it).
 */
static void xsf_set_offload_headers(request_rec *r, const xsf_settings_t *s)
{
    apr_table_unset(r->headers_in, "X-Sendfile-Type");
    apr_table_unset(r->headers_in, "X-Accel-Mapping");
    if (s->announce) {
        apr_table_setn(r->headers_in, "X-Sendfile-Type", "X-Sendfile");
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

/* What the backend's status makes of the response (§5). */
typedef enum xsf_shape {
    XSF_SHAPE_FILE,      /* 200 or 206: the file, with full HTTP semantics */
    XSF_SHAPE_BODY,      /* another status: the file as its body, status kept */
    XSF_SHAPE_NO_BODY    /* 204 or 304: the trigger header is only stripped */
} xsf_shape_t;

typedef struct xsf_ctx {
    xsf_state_t state;
    const char *value;           /* the trigger header's value */
    int temporary;               /* X-SendFile-Temporary */
    int value_is_encoded;        /* X-SendFile-Encoding: url */
    int accel;                   /* X-Accel-Redirect: value is a URI (§7) */
    xsf_shape_t shape;
    int backend_status;
    int backend_body;            /* the backend sent body bytes */
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
    if (!apr_is_empty_table(r->err_headers_out)) {
        apr_table_unset(r->err_headers_out, name);
    }
}

static int xsf_has_trigger(const request_rec *r)
{
    return xsf_get_header(r, XSF_HDR_FILE) != NULL
           || xsf_get_header(r, XSF_HDR_TEMPORARY) != NULL
           || xsf_get_header(r, XSF_HDR_ACCEL) != NULL;
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
 * A 304 or 412 to a GET or HEAD naming a file, from a backend that sent no
 * validator of its own, was not the backend's decision but httpd's:
 * mod_cgi, mod_cgid and mod_proxy_fcgi evaluate the client's preconditions
 * against a script's headers (ap_scan_script_header_err*), and a script
 * that names a file has no ETag or Last-Modified for them to match, so
 * If-Match and If-Unmodified-Since fail and If-None-Match: * "matches".
 * The served file decides instead (§5).  A backend that did validate sends
 * its validators along with its 304 (RFC 9110 §15.4.5), and its answer
 * stands.
 */
static int xsf_evaluated_by_httpd(const request_rec *r, int status)
{
    const apr_table_t *in = r->headers_in;

    if (status == HTTP_NOT_MODIFIED) {
        if (apr_table_get(in, "If-None-Match") == NULL
            && apr_table_get(in, "If-Modified-Since") == NULL) {
            return 0;
        }
    }
    else if (status != HTTP_PRECONDITION_FAILED
             || (apr_table_get(in, "If-Match") == NULL
                 && apr_table_get(in, "If-Unmodified-Since") == NULL)) {
        return 0;
    }
    return r->method_number == M_GET
           && xsf_get_header(r, "ETag") == NULL
           && xsf_get_header(r, "Last-Modified") == NULL;
}

static xsf_shape_t xsf_shape_of(const request_rec *r, int status)
{
    if (status == HTTP_OK || status == HTTP_PARTIAL_CONTENT
        || xsf_evaluated_by_httpd(r, status)) {
        return XSF_SHAPE_FILE;
    }
    if (status == HTTP_NO_CONTENT || status == HTTP_NOT_MODIFIED) {
        return XSF_SHAPE_NO_BODY;
    }
    return XSF_SHAPE_BODY;
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

    if (file == NULL && temporary == NULL && accel == NULL && encoding == NULL) {
        return NULL;
    }
    if (file != NULL || temporary != NULL || accel != NULL) {
        ctx = apr_pcalloc(r->pool, sizeof(*ctx));
        ctx->state = XSF_COLLECT;
        /* Several at once is a backend bug; the plain file wins, then the
         * one that deletes nothing. */
        ctx->temporary = file == NULL && temporary != NULL;
        ctx->accel = file == NULL && temporary == NULL;
        ctx->value = file != NULL ? file : temporary != NULL ? temporary : accel;
        ctx->value_is_encoded = encoding != NULL && strcasecmp(encoding, "url") == 0;
        ctx->shape = xsf_shape_of(r, r->status);
        ctx->backend_status = r->status;
        ctx->backend_etag = xsf_get_header(r, "ETag");
        ctx->backend_last_modified = xsf_get_header(r, "Last-Modified");
    }
    xsf_strip_triggers(r);
    return ctx;
}

/*
 * Drop the buckets of a backend's body.  One whose length is not known yet
 * (a CGI's pipe, a socket) is read first: left unread, it leaves the script
 * blocked on a full pipe (the original module stalled CGI scripts for
 * `Timeout` seconds that way).  The rest (memory, a file such as mod_asis'
 * body) is dropped unread.  *seen is set once a byte was dropped.  Returns
 * 1 once the backend's EOS was seen.
 */
static int xsf_drain(apr_bucket_brigade *bb, int *seen)
{
    int eos = 0;

    while (!APR_BRIGADE_EMPTY(bb)) {
        apr_bucket *e = APR_BRIGADE_FIRST(bb);

        if (APR_BUCKET_IS_EOS(e)) {
            eos = 1;
        }
        else if (e->length != (apr_size_t)-1) {
            *seen = *seen || e->length > 0;
        }
        else {
            const char *data;
            apr_size_t len;

            /* A failed read ends that bucket; the body is dropped anyway. */
            if (apr_bucket_read(e, &data, &len, APR_BLOCK_READ) == APR_SUCCESS && len > 0) {
                *seen = 1;
            }
        }
        apr_bucket_delete(e);
    }
    return eos;
}

/* The file's name for a log line: canonical where it was asked for. */
static const char *xsf_logged_name(const xsf_lookup_result_t *res)
{
    return res->path != NULL ? res->path : res->name;
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
        [XSF_ROOT_CHANGED] = "XSF0018",
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
    case XSF_ROOT_CHANGED:
        return HTTP_INTERNAL_SERVER_ERROR;
    case XSF_NOT_FOUND:
        return HTTP_NOT_FOUND;
    default:
        return HTTP_FORBIDDEN;
    }
}

/*
 * Pool cleanup: X-SendFile-Temporary files go once the request is over.
 * Their space is freed once the descriptor closes too, which happens with
 * the request's pool, or later where httpd set the file bucket aside.
 */
static apr_status_t xsf_delete_temporary(void *data)
{
    const xsf_lookup_result_t *res = data;
    apr_pool_t *p;
    apr_status_t rv;

    /* Without a pool nothing can be done: the cleanup cannot fail louder. */
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
    r->filename = apr_pstrdup(r->pool, res->name);
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
 * that named it.  The conditional result is computed from the validators
 * the response carries, whichever they are.
 */
static void xsf_set_validators(request_rec *r, const xsf_settings_t *s,
                               const xsf_ctx *ctx, const xsf_lookup_result_t *res)
{
    apr_time_t backend_mtime = ctx->backend_last_modified != NULL
                               ? apr_date_parse_http(ctx->backend_last_modified)
                               : APR_DATE_BAD;

    if (backend_mtime != APR_DATE_BAD && !s->ignore_last_modified) {
        r->mtime = backend_mtime;
        apr_table_setn(r->headers_out, "Last-Modified", ctx->backend_last_modified);
    }
    else {
        ap_set_last_modified(r);
    }
    if (ctx->backend_etag != NULL && !s->ignore_etag) {
        apr_table_setn(r->headers_out, "ETag", ctx->backend_etag);
    }
    else {
        ap_set_etag_fd(r, res->file);
    }
    ap_set_accept_ranges(r);
}

/*
 * §5: a served response is stored by a shared cache only where the backend
 * said it may be.  The file's Last-Modified alone would make it
 * heuristically cacheable, and mod_cache would then hand the download one
 * user was allowed to the next client who asks.
 */
typedef struct xsf_cache_scan {
    apr_pool_t *p;
    int allowed;
} xsf_cache_scan_t;

/* apr_table_do() callback: one Cache-Control value; 0 stops the scan. */
static int xsf_scan_cache_control(void *rec, const char *key, const char *value)
{
    xsf_cache_scan_t *scan = rec;
    char *last;
    char *token;

    (void)key;
    for (token = apr_strtok(apr_pstrdup(scan->p, value), ", \t", &last); token != NULL;
         token = apr_strtok(NULL, ", \t", &last)) {
        if (strcasecmp(token, "public") == 0 || strncasecmp(token, "max-age=", 8) == 0
            || strncasecmp(token, "s-maxage=", 9) == 0) {
            scan->allowed = 1;
        }
    }
    return !scan->allowed;
}

static int xsf_backend_allows_caching(request_rec *r)
{
    xsf_cache_scan_t scan;

    scan.p = r->pool;
    scan.allowed = xsf_get_header(r, "Expires") != NULL;
    apr_table_do(xsf_scan_cache_control, &scan, r->headers_out, "Cache-Control", NULL);
    apr_table_do(xsf_scan_cache_control, &scan, r->err_headers_out, "Cache-Control", NULL);
    return scan.allowed;
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
 * frames a body without Content-Length by itself).  Whatever ends the
 * response, the pipe's read end goes back through xsf_pipe_close(), which
 * releases a producer that has not even opened the pipe yet.
 */
static apr_status_t xsf_stream_respond(ap_filter_t *f, xsf_ctx *ctx,
                                       const xsf_settings_t *s,
                                       const xsf_lookup_result_t *res,
                                       xsf_pipe_t *pipe)
{
    request_rec *r = f->r;
    conn_rec *c = f->c;
    const char *name = xsf_logged_name(res);
    apr_bucket_brigade *bb;
    xsf_stream_t *stream;
    xsf_stream_status_t st;
    apr_status_t rv;
    int sent = 0;

    ctx->state = XSF_DISCARD;
    if (ctx->shape == XSF_SHAPE_FILE) {
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
    rv = xsf_stream_start(&stream, r->pool, pipe, (apr_size_t)s->stream_buffer,
                          s->stream_timeout);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r,
                      "XSF0011: cannot stream %s for %s", name, r->uri);
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
            xsf_pipe_close(pipe);
            ap_log_rerror(APLOG_MARK, APLOG_INFO, rv, r,
                          "XSF0012: client went away while streaming %s", name);
            return rv != APR_SUCCESS ? rv : APR_ECONNABORTED;
        }
        sent = 1;
    }
    xsf_stream_stop(stream);
    xsf_pipe_close(pipe);
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                  "XSF0013: streamed %" APR_UINT64_T_FMT " bytes from %s, "
                  "at most %" APR_SIZE_T_FMT " bytes buffered",
                  xsf_stream_bytes_in(stream), name, xsf_stream_peak_memory(stream));
    if (st == XSF_STREAM_END) {
        APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(c->bucket_alloc));
        return ap_pass_brigade(f->next, bb);
    }
    if (st == XSF_STREAM_IDLE) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "XSF0008: %s sent nothing for %" APR_TIME_T_FMT
                      " seconds; response aborted", name, apr_time_sec(s->stream_timeout));
    }
    else {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "XSF0009: reading %s failed; response aborted", name);
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
 * target sees no request body.
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
    /* A backend that never read the request body (mod_asis never does)
     * leaves it on the connection.  Read and drop it before the framing
     * headers go, or httpd would later parse it as the next request. */
    if (ap_discard_request_body(r) != OK) {
        r->connection->keepalive = AP_CONN_CLOSE;
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

/* The client's validators against the response's, for GET and HEAD only. */
static void xsf_evaluate_conditions(request_rec *r)
{
    int cond;

    /* RFC 9110 §13.2.1: for other methods the preconditions were the
     * handler's to evaluate, before it acted. */
    if (r->method_number != M_GET) {
        return;
    }
    cond = ap_meets_conditions(r);
    if (cond != OK) {
        r->status = cond;
    }
}

/*
 * Build the response for the file (or the error) once the backend's body is
 * gone, and pass it on.
 */
static apr_status_t xsf_respond(ap_filter_t *f, xsf_ctx *ctx)
{
    request_rec *r = f->r;
    const core_dir_config *core = ap_get_core_module_config(r->per_dir_config);
    xsf_lookup_result_t *res = apr_pcalloc(r->pool, sizeof(*res));
    const char *script_type = apr_table_get(r->notes, XSF_NOTE_REEVALUATE);
    apr_bucket_brigade *bb;
    xsf_lookup_opts_t opts;
    xsf_settings_t s;
    xsf_status_t found;
    xsf_pipe_t *pipe = NULL;

    if (ctx->accel) {
        return xsf_accel_redirect(f, ctx);
    }
    /* The type of a 412 page (xsf_evaluated_by_httpd) is the page's: mod_cgi's
     * own noted the script's type first; a backend httpd's is derived anew. */
    if (script_type != NULL) {
        r->content_type = *script_type != '\0' ? script_type : NULL;
    }
    else if (ctx->backend_status == HTTP_PRECONDITION_FAILED && ctx->backend_body
             && ctx->shape == XSF_SHAPE_FILE) {
        r->content_type = NULL;
    }
    xsf_settings_get(r, &s);
    opts.unescape = s.unescape;
    opts.value_is_encoded = ctx->value_is_encoded;
    opts.follow_symlinks = s.follow_symlinks;
    opts.open_flags = AP_SENDFILE_ENABLED(core->enable_sendfile);
    opts.want_path = ctx->temporary || APLOGrdebug(r);

    found = xsf_lookup(r->pool, ctx->value, (const xsf_root_t *)s.roots->elts,
                       s.roots->nelts, &opts, res);
    /* From here on a named pipe is released properly however this ends. */
    if (found == XSF_FOUND && res->is_fifo) {
        pipe = xsf_pipe_adopt(r->pool, res->file, s.stream_timeout);
    }
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
                  "XSF0001: serving %s (%s value) for %s", xsf_logged_name(res),
                  res->decoding, r->uri);

    if (!xsf_backend_allows_caching(r)) {
        r->no_cache = 1;
    }
    xsf_describe_file(r, res);
    if (pipe != NULL) {
        return xsf_stream_respond(f, ctx, &s, res, pipe);
    }
    ap_set_content_length(r, res->finfo.size);
    /* §5: 200 and 206 get full HTTP semantics, recomputed here; any other
     * status keeps its code with the file as its body. */
    if (ctx->shape == XSF_SHAPE_FILE) {
        r->status = HTTP_OK;
        r->status_line = NULL;
        xsf_set_validators(r, &s, ctx, res);
        xsf_evaluate_conditions(r);
    }
    bb = apr_brigade_create(r->pool, f->c->bucket_alloc);
    if (r->status == HTTP_OK || ctx->shape != XSF_SHAPE_FILE) {
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
        /* httpd's own error page carries nothing to serve, except where it
         * replaced a file response with its 412 (xsf_insert_error_filter). */
        if (apr_table_get(r->notes, XSF_NOTE_ERROR_RESPONSE) == NULL
            || apr_table_get(r->notes, XSF_NOTE_REEVALUATE) != NULL) {
            ctx = xsf_take_triggers(r);
        }
        else {
            xsf_strip_triggers(r);      /* added by `Header always set` */
        }
        if (ctx == NULL || ctx->shape == XSF_SHAPE_NO_BODY) {
            ap_remove_output_filter(f);
            return ap_pass_brigade(f->next, bb);
        }
        f->ctx = ctx;
    }

    switch (ctx->state) {
    case XSF_PASS:
        return ap_pass_brigade(f->next, bb);
    case XSF_DISCARD:
        (void)xsf_drain(bb, &ctx->backend_body);
        return APR_SUCCESS;
    case XSF_COLLECT:
    default:
        if (xsf_drain(bb, &ctx->backend_body)) {
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
    const request_rec *origin = xsf_accel_origin(r);
    xsf_settings_t s;

    xsf_settings_get(r, &s);
    if (s.internal) {
        /* §7: what an internal location answers is never stored by
         * mod_cache, whose quick handler would hand it to any client
         * asking for this URL, before this hook could refuse. */
        r->no_cache = 1;
        if (origin == NULL) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                          "XSF0016: %s is XSendFileInternal: 404 to a client", r->uri);
            return HTTP_NOT_FOUND;
        }
    }
    /* The backend's Content-Type beats a guess from the target's name, as
     * for X-SendFile (§5); a target handler that sets one still wins. */
    if (origin != NULL && r->main == NULL) {
        const char *type = apr_table_get(origin->notes, XSF_NOTE_ACCEL_TYPE);

        if (type != NULL) {
            ap_set_content_type(r, type);
        }
    }
    if (s.enabled) {
        xsf_set_offload_headers(r, &s);
    }
    return DECLINED;
}

/* XSendFile On here?  (The hooks that only need this skip the rest.) */
static int xsf_enabled(const request_rec *r)
{
    const xsf_dir_conf *conf = ap_get_module_config(r->per_dir_config, &xsendfile_module);

    return XSF_OR(conf->enabled, XSF_DEFAULT_ENABLED);
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
 *
 * One exception: mod_cgi and mod_cgid answer a script's GET with 412 from
 * httpd's evaluation of the script's headers, through this error path
 * (mod_proxy_fcgi passes the same 412 as a response, seen by the filter).
 * Where the script named a file, the file decides (xsf_evaluated_by_httpd):
 * its triggers stay, and the late filter replaces httpd's error page with
 * the file's response.  The script's Content-Type, which httpd is about to
 * replace with its page's, is kept in a note for it.
 */
static void xsf_insert_error_filter(request_rec *r)
{
    if (!xsf_enabled(r)) {
        return;
    }
    apr_table_setn(r->notes, XSF_NOTE_ERROR_RESPONSE, "1");
    if (xsf_has_trigger(r) && xsf_evaluated_by_httpd(r, r->status)) {
        apr_table_setn(r->notes, XSF_NOTE_REEVALUATE,
                       r->content_type != NULL ? r->content_type : "");
    }
    else {
        xsf_strip_triggers(r);
    }
    ap_add_output_filter(XSF_FILTER_LATE, NULL, r, r->connection);
}

static void xsf_child_init(apr_pool_t *pchild, server_rec *s)
{
    (void)s;
    xsf_pipe_child_init(pchild);
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
    ap_hook_child_init(xsf_child_init, NULL, NULL, APR_HOOK_MIDDLE);
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
