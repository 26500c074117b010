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
#include "ap_mpm.h"
#include "scoreboard.h"
#include "util_filter.h"
#include "mod_cache.h"
#include "mod_status.h"

#include "apr_atomic.h"
#include "apr_buckets.h"
#include "apr_date.h"
#include "apr_dso.h"
#include "apr_lib.h"
#include "apr_shm.h"
#include "apr_strings.h"
#include "apr_tables.h"

#include <unistd.h>

#include "xsf_path.h"
#include "xsf_stream.h"

module AP_MODULE_DECLARE_DATA xsendfile_module;

/* Response headers a backend uses to hand a response over (§2). */
#define XSF_HDR_FILE      "X-SendFile"
#define XSF_HDR_TEMPORARY "X-SendFile-Temporary"
#define XSF_HDR_ENCODING  "X-SendFile-Encoding"
#define XSF_HDR_ACCEL     "X-Accel-Redirect"

/* nginx's companion headers (§10): how to send what a trigger names. */
#define XSF_HDR_LIMIT_RATE "X-Accel-Limit-Rate"
#define XSF_HDR_BUFFERING  "X-Accel-Buffering"
#define XSF_HDR_CHARSET    "X-Accel-Charset"
#define XSF_HDR_EXPIRES    "X-Accel-Expires"

/* r->notes for LogFormat's %{...}n (§11). */
#define XSF_NOTE_FILE     "xsendfile-file"
#define XSF_NOTE_OUTCOME  "xsendfile-outcome"
#define XSF_NOTE_DECODING "xsendfile-decoding"

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
static const char *const xsf_accel_kept_headers[] = { "Content-Disposition", "Set-Cookie",
                                                      "Cache-Control", "Expires", NULL };

/* Set in r->notes while httpd builds its own error response. */
#define XSF_NOTE_ERROR_RESPONSE "xsendfile-error-response"

/* Set in r->notes where that error response is httpd's 412 to a script
 * that named a file (xsf_insert_error_filter); the value is the script's
 * Content-Type, "" for none. */
#define XSF_NOTE_REEVALUATE "xsendfile-reevaluate"

#define XSF_FILTER_EARLY  "XSENDFILE"
#define XSF_FILTER_LATE   "XSENDFILE_LATE"
/* X-Accel-Limit-Rate's pacing, after httpd's byterange filter */
#define XSF_FILTER_RATE   "XSENDFILE_RATE"
/* An X-Accel-Redirect target's charset and X-Accel-Buffering: no */
#define XSF_FILTER_TARGET "XSENDFILE_TARGET"

/* X-Accel-Limit-Rate: a response goes out in slices of this fraction of a
 * second's bytes, each flushed; the first slice is the burst allowance. */
#define XSF_RATE_SLICES_PER_SEC 10

/* Most bytes handed to the chain in one pass while streaming. */
#define XSF_STREAM_PASS_MAX (1024 * 1024)
#define XSF_STREAM_IOV      16

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
#define XSF_DEFAULT_ANNOUNCE             XSF_ANNOUNCE_SENDFILE
#define XSF_DEFAULT_INTERNAL             0
#define XSF_DEFAULT_STREAM_BUFFER_MIB    16
#define XSF_DEFAULT_STREAM_TIMEOUT_SEC   60
#define XSF_MIN_STREAM_BUFFER_KIB        64
#define XSF_MAX_STREAM_TIMEOUT_SEC       86400
#define XSF_DEFAULT_ACCEL_MAPPING        NULL /* no X-Accel-Mapping header */

/* XSendFileAnnounce: the X-Sendfile-Type a handler is told, if any. */
#define XSF_ANNOUNCE_OFF      0
#define XSF_ANNOUNCE_SENDFILE 1 /* On */
#define XSF_ANNOUNCE_ACCEL    2 /* X-Accel-Redirect */

#define XSF_STR_(x)   #x
#define XSF_STR(x)    XSF_STR_(x)
/* "On" or "Off" for a flag's default, at compile time */
#define XSF_ONOFF_0   "Off"
#define XSF_ONOFF_1   "On"
#define XSF_ONOFF_(x) XSF_ONOFF_##x
#define XSF_ONOFF(x)  XSF_ONOFF_(x)

/* A directive not set in a scope: the enclosing scope's value, or the default. */
#define XSF_UNSET       (-1)
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
    int announce;            /* XSF_ANNOUNCE_* */
    int internal;            /* XSendFileInternal */
    apr_off_t stream_buffer; /* bytes */
    apr_interval_time_t stream_timeout;
    int from_htaccess;         /* a limit above was set in .htaccess */
    const char *accel_mapping; /* X-Accel-Mapping's value; NULL: unset */
    apr_array_header_t *roots; /* of xsf_root_t, parents' first */
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
    const char *accel_mapping;
    const apr_array_header_t *roots;
} xsf_settings_t;

static void xsf_settings_get(const request_rec *r, xsf_settings_t *s)
{
    const xsf_dir_conf *conf = ap_get_module_config(r->per_dir_config, &xsendfile_module);

    s->enabled = XSF_OR(conf->enabled, XSF_DEFAULT_ENABLED);
    s->unescape = XSF_OR(conf->unescape, XSF_DEFAULT_UNESCAPE);
    s->ignore_etag = XSF_OR(conf->ignore_etag, XSF_DEFAULT_IGNORE_ETAG);
    s->ignore_last_modified = XSF_OR(conf->ignore_last_modified, XSF_DEFAULT_IGNORE_LAST_MODIFIED);
    s->follow_symlinks = XSF_OR(conf->follow_symlinks, XSF_DEFAULT_FOLLOW_SYMLINKS);
    s->announce = XSF_OR(conf->announce, XSF_DEFAULT_ANNOUNCE);
    s->internal = XSF_OR(conf->internal, XSF_DEFAULT_INTERNAL);
    s->stream_buffer = XSF_OR(conf->stream_buffer, (apr_off_t)XSF_DEFAULT_STREAM_BUFFER_MIB << 20);
    s->stream_timeout =
        XSF_OR(conf->stream_timeout, apr_time_from_sec(XSF_DEFAULT_STREAM_TIMEOUT_SEC));
    s->accel_mapping =
        conf->accel_mapping != NULL ? conf->accel_mapping : XSF_DEFAULT_ACCEL_MAPPING;
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
    (conf->field =                         \
         add->field == XSF_UNSET ? base->field : stricter(XSF_OR(base->field, dflt), add->field))
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
        XSF_TIGHTEN(stream_timeout, apr_time_from_sec(XSF_DEFAULT_STREAM_TIMEOUT_SEC), XSF_MIN);
    }
    else {
        XSF_MERGE(follow_symlinks);
        XSF_MERGE(stream_buffer);
        XSF_MERGE(stream_timeout);
    }
    conf->from_htaccess = base->from_htaccess || add->from_htaccess;
    conf->accel_mapping = add->accel_mapping != NULL ? add->accel_mapping : base->accel_mapping;
    /* Roots accumulate: a scope adds to what encloses it, never replaces. */
    conf->roots = apr_array_append(p, base->roots, add->roots);
    return conf;
}

/* ------------------------------------------------------------------------
 * Directive handlers
 * ------------------------------------------------------------------------ */

static const char *xsf_cmd_path(cmd_parms *cmd, void *dirconf, const char *path, const char *option)
{
    xsf_dir_conf *conf = dirconf;
    xsf_root_t root;
    const char *err;

    if (option != NULL && strcasecmp(option, "AllowFileDelete") != 0) {
        return apr_psprintf(cmd->pool,
                            "XSendFilePath: unknown option '%s' "
                            "(only AllowFileDelete is known)",
                            option);
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
static const char *xsf_cmd_stream_buffer(cmd_parms *cmd, void *dirconf, const char *arg)
{
    xsf_dir_conf *conf = dirconf;
    char *end;
    apr_int64_t n = apr_strtoi64(arg, &end, 10);
    int shift;

    switch (*end) {
    case '\0': shift = 0; break;
    case 'k':
    case 'K': shift = 10; break;
    case 'm':
    case 'M': shift = 20; break;
    case 'g':
    case 'G': shift = 30; break;
    default: shift = -1; break;
    }
    if (end == arg || n <= 0 || shift < 0 || (shift > 0 && end[1] != '\0')
        || n > (APR_INT64_MAX >> shift)) {
        return apr_psprintf(cmd->pool,
                            "XSendFileStreamBuffer: '%s' is not a "
                            "size (bytes, or a number with K, M or G)",
                            arg);
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
static const char *xsf_cmd_stream_timeout(cmd_parms *cmd, void *dirconf, const char *arg)
{
    xsf_dir_conf *conf = dirconf;
    char *end;
    apr_int64_t seconds = apr_strtoi64(arg, &end, 10);

    if (end == arg || *end != '\0' || seconds <= 0 || seconds > XSF_MAX_STREAM_TIMEOUT_SEC) {
        return apr_psprintf(cmd->pool,
                            "XSendFileStreamTimeout: '%s' is not a "
                            "number of seconds from 1 to " XSF_STR(XSF_MAX_STREAM_TIMEOUT_SEC),
                            arg);
    }
    conf->stream_timeout = apr_time_from_sec(seconds);
    xsf_note_htaccess(cmd, conf);
    return NULL;
}

/* XSendFileAnnounce On|Off|X-Accel-Redirect (On: X-Sendfile, as in 1.0) */
static const char *xsf_cmd_announce(cmd_parms *cmd, void *dirconf, const char *arg)
{
    xsf_dir_conf *conf = dirconf;

    if (strcasecmp(arg, "On") == 0 || strcasecmp(arg, "X-Sendfile") == 0) {
        conf->announce = XSF_ANNOUNCE_SENDFILE;
    }
    else if (strcasecmp(arg, "Off") == 0) {
        conf->announce = XSF_ANNOUNCE_OFF;
    }
    else if (strcasecmp(arg, "X-Accel-Redirect") == 0) {
        conf->announce = XSF_ANNOUNCE_ACCEL;
    }
    else {
        return apr_psprintf(cmd->pool,
                            "XSendFileAnnounce: '%s' is not On, Off "
                            "or X-Accel-Redirect",
                            arg);
    }
    return NULL;
}

/*
 * XSendFileAccelMapping <dir>=<uri-prefix> ...: the X-Accel-Mapping request
 * header, as nginx's documentation has it set for Rack and Symfony, which
 * turn a file's path into an X-Accel-Redirect URI with it.  Several pairs
 * are joined as those frameworks read them (comma-separated); an inner
 * scope's list replaces its parent's.
 */
static const char *xsf_cmd_accel_mapping(cmd_parms *cmd, void *dirconf, const char *arg)
{
    xsf_dir_conf *conf = dirconf;
    const char *eq = strchr(arg, '=');

    if (arg[0] != '/' || eq == NULL || eq[1] != '/' || strchr(arg, ',') != NULL
        || strpbrk(arg, " \t") != NULL) {
        return apr_psprintf(cmd->pool,
                            "XSendFileAccelMapping: '%s' is not "
                            "/file/system/path/=/uri/prefix/",
                            arg);
    }
    conf->accel_mapping = conf->accel_mapping == NULL
                              ? arg
                              : apr_pstrcat(cmd->pool, conf->accel_mapping, ", ", arg, NULL);
    return NULL;
}

#define XSF_FLAG_CMD(name, field, scope, help) \
    AP_INIT_FLAG(name, ap_set_flag_slot, (void *)APR_OFFSETOF(xsf_dir_conf, field), scope, help)
#define XSF_ANYWHERE           (RSRC_CONF | ACCESS_CONF | OR_FILEINFO)
#define XSF_DEFAULT_HELP(flag) " (default " XSF_ONOFF(flag) ")"

static const command_rec xsf_cmds[] = {
    XSF_FLAG_CMD("XSendFile", enabled, XSF_ANYWHERE,
                 "On: serve the file named by a response's X-SendFile header" XSF_DEFAULT_HELP(
                     XSF_DEFAULT_ENABLED)),
    AP_INIT_TAKE12("XSendFilePath", xsf_cmd_path, NULL, RSRC_CONF | ACCESS_CONF,
                   "a directory files may be served from; "
                   "optional AllowFileDelete permits X-SendFile-Temporary"),
    XSF_FLAG_CMD("XSendFileUnescape", unescape, XSF_ANYWHERE,
                 "On: percent-decode the header value" XSF_DEFAULT_HELP(XSF_DEFAULT_UNESCAPE)),
    XSF_FLAG_CMD("XSendFileIgnoreEtag", ignore_etag, XSF_ANYWHERE,
                 "On: replace a backend's ETag with the served file's" XSF_DEFAULT_HELP(
                     XSF_DEFAULT_IGNORE_ETAG)),
    XSF_FLAG_CMD("XSendFileIgnoreLastModified", ignore_last_modified, XSF_ANYWHERE,
                 "On: replace a backend's Last-Modified with the file's mtime" XSF_DEFAULT_HELP(
                     XSF_DEFAULT_IGNORE_LAST_MODIFIED)),
    AP_INIT_FLAG("XSendFileFollowSymlinks", xsf_cmd_follow_symlinks, NULL, XSF_ANYWHERE,
                 "On: follow symlinks that stay inside a root; a .htaccess "
                 "can only turn this Off" XSF_DEFAULT_HELP(XSF_DEFAULT_FOLLOW_SYMLINKS)),
    AP_INIT_TAKE1("XSendFileAnnounce", xsf_cmd_announce, NULL, XSF_ANYWHERE,
                  "On: tell the handler X-Sendfile-Type: X-Sendfile; X-Accel-Redirect: "
                  "X-Sendfile-Type: X-Accel-Redirect" XSF_DEFAULT_HELP(XSF_DEFAULT_ANNOUNCE)),
    AP_INIT_ITERATE("XSendFileAccelMapping", xsf_cmd_accel_mapping, NULL, RSRC_CONF | ACCESS_CONF,
                    "/file/system/path/=/uri/prefix/ pairs the handler is told in "
                    "X-Accel-Mapping (default none)"),
    XSF_FLAG_CMD("XSendFileInternal", internal, ACCESS_CONF,
                 "On: 404 to clients; reachable only through X-Accel-Redirect" XSF_DEFAULT_HELP(
                     XSF_DEFAULT_INTERNAL)),
    AP_INIT_TAKE1("XSendFileStreamBuffer", xsf_cmd_stream_buffer, NULL, XSF_ANYWHERE,
                  "bytes a streamed named pipe may buffer (default " XSF_STR(
                      XSF_DEFAULT_STREAM_BUFFER_MIB) "M; a .htaccess can only "
                                                     "lower it)"),
    AP_INIT_TAKE1("XSendFileStreamTimeout", xsf_cmd_stream_timeout, NULL, XSF_ANYWHERE,
                  "seconds a streamed named pipe may stay silent (default " XSF_STR(
                      XSF_DEFAULT_STREAM_TIMEOUT_SEC) "; a .htaccess can only "
                                                      "lower it)"),
    { NULL }
};

/* ------------------------------------------------------------------------
 * What the module did: counters for mod_status, notes for the access log (§11)
 * ------------------------------------------------------------------------ */

/* The highest message id xsf_note_failure() counts. */
#define XSF_LAST_COUNTED_ID 18

/*
 * One slot per scoreboard process slot, in shared memory made once by the
 * parent (xsf_status_init).  A child adds to its own slot only, with
 * atomics (its threads share it), so no request takes a lock; mod_status
 * sums the slots.  A slot outlives its child: a new child in that slot
 * adds to the same totals.  One more slot at the end serves a process
 * that cannot find its own; the atomics keep that correct too.
 */
typedef struct xsf_counters {
    apr_uint64_t files;      /* responses served from a file */
    apr_uint64_t file_bytes; /* their body bytes sent */
    apr_uint64_t accel_redirects;
    apr_uint64_t streams;      /* named pipes streamed (started) */
    apr_uint64_t stream_bytes; /* bytes taken from them */
    apr_uint64_t stream_peak;  /* the most one stream held in memory */
    apr_uint64_t by_id[XSF_LAST_COUNTED_ID + 1];
    apr_uint32_t streams_active;
} xsf_counters_t;

/* Slots a cache line apart: children on different CPUs never share one. */
#define XSF_SLOT_SIZE APR_ALIGN(sizeof(xsf_counters_t), 64)

/* The ids of the messages that end a request unserved, as mod_status lists them. */
static const int xsf_refusal_ids[] = { 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 14, 16, 17, 18 };

static char *xsf_slots;            /* the segment; NULL: no counters */
static int xsf_nslots;             /* process slots (the last one is the spare) */
static volatile void *xsf_my_slot; /* this child's, once found */

static xsf_counters_t *xsf_slot(int i)
{
    return (xsf_counters_t *)(xsf_slots + (apr_size_t)i * XSF_SLOT_SIZE);
}

/*
 * This process's slot: the scoreboard slot holding its pid.  The parent
 * writes that pid right after fork(), so a child looks it up on first use
 * rather than in child_init, and uses the spare slot until it is there.
 */
static xsf_counters_t *xsf_counters(void)
{
    xsf_counters_t *mine = apr_atomic_casptr(&xsf_my_slot, NULL, NULL); /* a read */
    pid_t pid;
    int i;

    if (mine != NULL || xsf_slots == NULL) {
        return mine;
    }
    pid = getpid();
    for (i = 0; i < xsf_nslots - 1; i++) {
        const process_score *ps = ap_get_scoreboard_process(i);

        if (ps != NULL && ps->pid == pid) {
            apr_atomic_casptr(&xsf_my_slot, xsf_slot(i), NULL);
            return xsf_slot(i);
        }
    }
    return xsf_slot(xsf_nslots - 1);
}

#define XSF_COUNT(field, n)                    \
    do {                                       \
        xsf_counters_t *c_ = xsf_counters();   \
        if (c_ != NULL) {                      \
            apr_atomic_add64(&c_->field, (n)); \
        }                                      \
    } while (0)

static void xsf_note_outcome(request_rec *r, const char *outcome)
{
    apr_table_setn(r->notes, XSF_NOTE_OUTCOME, outcome);
}

/* A response refused, or a stream aborted, with the log message `id` ("XSF0003"). */
static void xsf_note_failure(request_rec *r, const char *what, const char *id)
{
    xsf_note_outcome(r, apr_pstrcat(r->pool, what, ":", id, NULL));
    XSF_COUNT(by_id[atoi(id + 3)], 1);
}

static void xsf_count_stream_start(void)
{
    xsf_counters_t *c = xsf_counters();

    if (c != NULL) {
        apr_atomic_inc64(&c->streams);
        apr_atomic_inc32(&c->streams_active);
    }
}

static void xsf_count_stream_end(apr_uint64_t bytes, apr_uint64_t peak)
{
    xsf_counters_t *c = xsf_counters();
    apr_uint64_t seen;

    if (c == NULL) {
        return;
    }
    apr_atomic_dec32(&c->streams_active);
    apr_atomic_add64(&c->stream_bytes, bytes);
    for (seen = apr_atomic_read64(&c->stream_peak); peak > seen;
         seen = apr_atomic_read64(&c->stream_peak)) {
        if (apr_atomic_cas64(&c->stream_peak, peak, seen) == seen) {
            break;
        }
    }
}

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
    /* Rack reads the mapping whenever its app is set up for X-Accel-Redirect,
     * whatever the announcement says (it ignores X-Sendfile-Type). */
    if (s->accel_mapping != NULL) {
        apr_table_setn(r->headers_in, "X-Accel-Mapping", s->accel_mapping);
    }
    if (s->announce == XSF_ANNOUNCE_SENDFILE) {
        apr_table_setn(r->headers_in, "X-Sendfile-Type", "X-Sendfile");
    }
    else if (s->announce == XSF_ANNOUNCE_ACCEL && s->accel_mapping == NULL) {
        /* Symfony would throw on the missing mapping: better no offload. */
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "XSF0020: XSendFileAnnounce X-Accel-Redirect without "
                      "XSendFileAccelMapping in scope for %s: nothing announced; "
                      "add 'XSendFileAccelMapping /dir/=/internal-location/'",
                      r->uri);
    }
    else if (s->announce == XSF_ANNOUNCE_ACCEL) {
        apr_table_setn(r->headers_in, "X-Sendfile-Type", "X-Accel-Redirect");
    }
}

/* ------------------------------------------------------------------------
 * The output filter
 * ------------------------------------------------------------------------ */

typedef enum xsf_state {
    XSF_COLLECT, /* dropping the backend's body until its EOS */
    XSF_PASS,    /* our response is out; pass anything else on */
    XSF_DISCARD  /* our response is out; drop the rest of the backend's */
} xsf_state_t;

/* What the backend's status makes of the response (§5). */
typedef enum xsf_shape {
    XSF_SHAPE_FILE,   /* 200 or 206: the file, with full HTTP semantics */
    XSF_SHAPE_BODY,   /* another status: the file as its body, status kept */
    XSF_SHAPE_NO_BODY /* 204 or 304: the trigger header is only stripped */
} xsf_shape_t;

/* X-Accel-Expires: what mod_cache may do with the response (§10). */
typedef enum xsf_expiry {
    XSF_EXPIRY_BACKEND, /* no X-Accel-Expires: the backend's headers decide (§5) */
    XSF_EXPIRY_NEVER,   /* off, 0 or a time gone by: never stored */
    XSF_EXPIRY_AFTER,   /* stored, fresh for `expires` after its Date */
    XSF_EXPIRY_AT       /* stored, fresh until the time `expires` */
} xsf_expiry_t;

/*
 * What a response's X-Accel-* headers ask for.  Kept in the request's
 * request_config, where an X-Accel-Redirect target (xsf_fixups) and
 * mod_cache's hook (xsf_cache_status) find it.
 */
typedef struct xsf_accel_opts {
    apr_off_t limit_rate; /* bytes per second; 0: unlimited */
    int buffering;        /* 0: X-Accel-Buffering: no */
    const char *charset;  /* NULL: the type stays as it is */
    xsf_expiry_t expiry;
    apr_time_t expires; /* an interval (AFTER) or a time (AT) */
} xsf_accel_opts_t;

typedef struct xsf_ctx {
    xsf_state_t state;
    const char *value;    /* the trigger header's value */
    int temporary;        /* X-SendFile-Temporary */
    int value_is_encoded; /* X-SendFile-Encoding: url */
    int accel;            /* X-Accel-Redirect: value is a URI (§7) */
    xsf_shape_t shape;
    int backend_status;
    int backend_body; /* the backend sent body bytes */
    const char *backend_etag;
    const char *backend_last_modified;
    const xsf_accel_opts_t *opts;
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

/* The headers of §2 and §10, then the validators the filter reads beside them. */
enum {
    XSF_H_FILE,
    XSF_H_TEMPORARY,
    XSF_H_ENCODING,
    XSF_H_ACCEL,
    XSF_H_LIMIT_RATE,
    XSF_H_BUFFERING,
    XSF_H_CHARSET,
    XSF_H_EXPIRES,
    XSF_H_OURS, /* those above never reach a client */
    XSF_H_ETAG = XSF_H_OURS,
    XSF_H_LAST_MODIFIED,
    XSF_H_COUNT
};

static const char *const xsf_header_names[XSF_H_COUNT] = {
    [XSF_H_FILE] = XSF_HDR_FILE,
    [XSF_H_TEMPORARY] = XSF_HDR_TEMPORARY,
    [XSF_H_ENCODING] = XSF_HDR_ENCODING,
    [XSF_H_ACCEL] = XSF_HDR_ACCEL,
    [XSF_H_LIMIT_RATE] = XSF_HDR_LIMIT_RATE,
    [XSF_H_BUFFERING] = XSF_HDR_BUFFERING,
    [XSF_H_CHARSET] = XSF_HDR_CHARSET,
    [XSF_H_EXPIRES] = XSF_HDR_EXPIRES,
    [XSF_H_ETAG] = "ETag",
    [XSF_H_LAST_MODIFIED] = "Last-Modified",
};

#define XSF_H_BIT(h)  (1U << (h))
#define XSF_OURS_MASK (XSF_H_BIT(XSF_H_OURS) - 1)
#define XSF_TRIGGERS  (XSF_H_BIT(XSF_H_FILE) | XSF_H_BIT(XSF_H_TEMPORARY) | XSF_H_BIT(XSF_H_ACCEL))

/*
 * The response headers the filter reads, from one pass over each table
 * instead of one lookup per name and table (bench/PROFILE.md).  A value is
 * the first in headers_out, else the first in err_headers_out, as
 * xsf_get_header() would find it; `out` and `err` have a bit per header
 * each table holds.
 */
typedef struct xsf_headers {
    const char *value[XSF_H_COUNT];
    unsigned out;
    unsigned err;
} xsf_headers_t;

static unsigned xsf_scan_headers(const apr_table_t *t, const char **value)
{
    const apr_array_header_t *elts = apr_table_elts(t);
    const apr_table_entry_t *e = (const apr_table_entry_t *)elts->elts;
    unsigned present = 0;
    int i;

    for (i = 0; i < elts->nelts; i++) {
        int h = 0;
        int end = XSF_H_OURS;

        if (e[i].key == NULL) {
            continue;
        }
        switch (e[i].key[0]) {
        case 'X':
        case 'x': break;
        case 'E':
        case 'e': h = XSF_H_ETAG, end = h + 1; break;
        case 'L':
        case 'l': h = XSF_H_LAST_MODIFIED, end = h + 1; break;
        default: continue;
        }
        for (; h < end; h++) {
            if (strcasecmp(e[i].key, xsf_header_names[h]) == 0) {
                if (value[h] == NULL) {
                    value[h] = e[i].val;
                }
                present |= XSF_H_BIT(h);
                break;
            }
        }
    }
    return present;
}

static void xsf_read_headers(const request_rec *r, xsf_headers_t *h)
{
    memset(h, 0, sizeof(*h));
    h->out = xsf_scan_headers(r->headers_out, h->value);
    h->err = xsf_scan_headers(r->err_headers_out, h->value);
}

/* §2: no trigger header ever reaches the client where XSendFile is On. */
static void xsf_strip_ours(request_rec *r, const xsf_headers_t *h)
{
    int i;

    for (i = 0; i < XSF_H_OURS; i++) {
        if (h->out & XSF_H_BIT(i)) {
            apr_table_unset(r->headers_out, xsf_header_names[i]);
        }
        if (h->err & XSF_H_BIT(i)) {
            apr_table_unset(r->err_headers_out, xsf_header_names[i]);
        }
    }
}

static void xsf_strip_triggers(request_rec *r)
{
    xsf_headers_t h;

    xsf_read_headers(r, &h);
    xsf_strip_ours(r, &h);
}

/* A value the backend got wrong costs it that header, not the download. */
static void xsf_ignore_accel_value(request_rec *r, const char *name, const char *value)
{
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                  "XSF0019: %s '%s' for %s not understood: header ignored", name, value, r->uri);
}

/* Digits only, at most `max`; -1 otherwise (a sign, a space, a unit). */
static apr_int64_t xsf_parse_count(const char *s, apr_int64_t max)
{
    apr_int64_t n = 0;

    if (*s == '\0') {
        return -1;
    }
    for (; *s != '\0'; s++) {
        if (!apr_isdigit(*s) || n > (max - (*s - '0')) / 10) {
            return -1;
        }
        n = n * 10 + (*s - '0');
    }
    return n;
}

/* Beyond any cache lifetime or transfer rate, and far from overflowing apr_time_t. */
#define XSF_ACCEL_MAX APR_INT64_C(100000000000)

/* X-Accel-Expires: <seconds> | @<unix time> | off (nginx; 0 stores nothing). */
static int xsf_parse_expires(const request_rec *r, const char *v, xsf_accel_opts_t *o)
{
    apr_int64_t n = xsf_parse_count(v[0] == '@' ? v + 1 : v, XSF_ACCEL_MAX);

    if (strcasecmp(v, "off") == 0 || n == 0) {
        o->expiry = XSF_EXPIRY_NEVER;
    }
    else if (n < 0) {
        return 0;
    }
    else if (v[0] != '@') {
        o->expiry = XSF_EXPIRY_AFTER;
        o->expires = apr_time_from_sec(n);
    }
    else {
        o->expires = apr_time_from_sec(n);
        o->expiry = o->expires > r->request_time ? XSF_EXPIRY_AT : XSF_EXPIRY_NEVER;
    }
    return 1;
}

/* RFC 9110 §5.6.2: a charset name is a token. */
static int xsf_is_token(const char *s)
{
    static const char tchar[] = "!#$%&'*+-.^_`|~0123456789"
                                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    return *s != '\0' && s[strspn(s, tchar)] == '\0';
}

/* Read the X-Accel-* headers of a response that carries a trigger (§10). */
static const xsf_accel_opts_t *xsf_read_accel_opts(request_rec *r, const xsf_headers_t *h)
{
    xsf_accel_opts_t *o = apr_pcalloc(r->pool, sizeof(*o));
    const char *v;

    o->buffering = 1;
    o->expiry = XSF_EXPIRY_BACKEND;
    if ((v = h->value[XSF_H_LIMIT_RATE]) != NULL
        && (o->limit_rate = xsf_parse_count(v, XSF_ACCEL_MAX)) < 0) {
        o->limit_rate = 0;
        xsf_ignore_accel_value(r, XSF_HDR_LIMIT_RATE, v);
    }
    if ((v = h->value[XSF_H_BUFFERING]) != NULL) {
        if (strcasecmp(v, "no") == 0 || strcasecmp(v, "yes") == 0) {
            o->buffering = strcasecmp(v, "yes") == 0;
        }
        else {
            xsf_ignore_accel_value(r, XSF_HDR_BUFFERING, v);
        }
    }
    if ((v = h->value[XSF_H_CHARSET]) != NULL) {
        if (xsf_is_token(v)) {
            o->charset = v;
        }
        else {
            xsf_ignore_accel_value(r, XSF_HDR_CHARSET, v);
        }
    }
    if ((v = h->value[XSF_H_EXPIRES]) != NULL && !xsf_parse_expires(r, v, o)) {
        xsf_ignore_accel_value(r, XSF_HDR_EXPIRES, v);
    }
    ap_set_module_config(r->request_config, &xsendfile_module, o);
    return o;
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
static int xsf_evaluated_by_httpd(const request_rec *r, const xsf_headers_t *h, int status)
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
    return r->method_number == M_GET && h->value[XSF_H_ETAG] == NULL
           && h->value[XSF_H_LAST_MODIFIED] == NULL;
}

static xsf_shape_t xsf_shape_of(const request_rec *r, const xsf_headers_t *h, int status)
{
    if (status == HTTP_OK || status == HTTP_PARTIAL_CONTENT
        || xsf_evaluated_by_httpd(r, h, status)) {
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
    xsf_headers_t h;
    const char *file;
    const char *temporary;
    const char *encoding;
    xsf_ctx *ctx = NULL;

    xsf_read_headers(r, &h);
    if (((h.out | h.err) & XSF_OURS_MASK) == 0) {
        return NULL; /* most responses: nothing to read or strip */
    }
    file = h.value[XSF_H_FILE];
    temporary = h.value[XSF_H_TEMPORARY];
    encoding = h.value[XSF_H_ENCODING];
    if (((h.out | h.err) & XSF_TRIGGERS) != 0) {
        ctx = apr_pcalloc(r->pool, sizeof(*ctx));
        ctx->state = XSF_COLLECT;
        /* Several at once is a backend bug; the plain file wins, then the
         * one that deletes nothing. */
        ctx->temporary = file == NULL && temporary != NULL;
        ctx->accel = file == NULL && temporary == NULL;
        ctx->value = file != NULL ? file : temporary != NULL ? temporary : h.value[XSF_H_ACCEL];
        ctx->value_is_encoded = encoding != NULL && strcasecmp(encoding, "url") == 0;
        ctx->shape = xsf_shape_of(r, &h, r->status);
        ctx->backend_status = r->status;
        ctx->backend_etag = h.value[XSF_H_ETAG];
        ctx->backend_last_modified = h.value[XSF_H_LAST_MODIFIED];
        ctx->opts = xsf_read_accel_opts(r, &h);
    }
    xsf_strip_ours(r, &h);
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

static void xsf_log_lookup_failure(request_rec *r, xsf_status_t status, const xsf_ctx *ctx,
                                   const xsf_lookup_result_t *res)
{
    static const char *const ids[] = {
        [XSF_BAD_VALUE] = "XSF0002", [XSF_NOT_FOUND] = "XSF0003",    [XSF_OUTSIDE] = "XSF0004",
        [XSF_FORBIDDEN] = "XSF0005", [XSF_NOT_REGULAR] = "XSF0006",  [XSF_NO_ROOT] = "XSF0007",
        [XSF_ERROR] = "XSF0017",     [XSF_ROOT_CHANGED] = "XSF0018",
    };

    xsf_note_failure(r, "refused", ids[status]);
    if (status == XSF_NO_ROOT) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "XSF0007: %s '%s' refused: no XSendFilePath in scope "
                      "for %s; add 'XSendFilePath /dir' for the directory "
                      "the backend names",
                      ctx->temporary ? XSF_HDR_TEMPORARY : XSF_HDR_FILE, ctx->value, r->uri);
        return;
    }
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "%s: %s '%s' for %s: %s", ids[status],
                  ctx->temporary ? XSF_HDR_TEMPORARY : XSF_HDR_FILE, ctx->value, r->uri,
                  res->reason ? res->reason : "refused");
}

static int xsf_http_status(xsf_status_t status)
{
    switch (status) {
    case XSF_BAD_VALUE:
    case XSF_ERROR:
    case XSF_ROOT_CHANGED: return HTTP_INTERNAL_SERVER_ERROR;
    case XSF_NOT_FOUND: return HTTP_NOT_FOUND;
    default: return HTTP_FORBIDDEN;
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
        ap_log_perror(APLOG_MARK, APLOG_ERR, rv, p, "XSF0010: could not delete temporary file %s",
                      res->path);
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
static void xsf_set_validators(request_rec *r, const xsf_settings_t *s, const xsf_ctx *ctx,
                               const xsf_lookup_result_t *res)
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

static int xsf_backend_allows_caching(request_rec *r, const xsf_accel_opts_t *opts)
{
    xsf_cache_scan_t scan;

    /* §10: X-Accel-Expires speaks to the shared cache alone, and decides. */
    if (opts->expiry != XSF_EXPIRY_BACKEND) {
        return opts->expiry != XSF_EXPIRY_NEVER;
    }
    scan.p = r->pool;
    scan.allowed = xsf_get_header(r, "Expires") != NULL;
    apr_table_do(xsf_scan_cache_control, &scan, r->headers_out, "Cache-Control", NULL);
    apr_table_do(xsf_scan_cache_control, &scan, r->err_headers_out, "Cache-Control", NULL);
    return scan.allowed;
}

/* The file's bytes, honouring EnableMMAP and the read buffer size like core. */
static void xsf_insert_file(request_rec *r, apr_bucket_brigade *bb, apr_file_t *file,
                            apr_off_t size)
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
 * §10 X-Accel-Charset: the charset parameter of the response's type,
 * replacing any the type had; its other parameters stay.  A response with
 * no type gets none (a charset alone is no media type).
 */
static void xsf_apply_charset(request_rec *r, const char *charset)
{
    const char *p = r->content_type;
    char *type;

    if (charset == NULL || p == NULL) {
        return;
    }
    type = apr_pstrndup(r->pool, p, strcspn(p, ";"));
    for (p += strcspn(p, ";"); *p == ';';) {
        const char *param = ++p;
        int quoted = 0;

        /* A parameter ends at a ';' outside a quoted string (RFC 9110 §5.6.4). */
        for (; *p != '\0' && (quoted || *p != ';'); p++) {
            if (*p == '\\' && quoted && p[1] != '\0') {
                p++;
            }
            else if (*p == '"') {
                quoted = !quoted;
            }
        }
        param += strspn(param, " \t");
        if (p > param && strncasecmp(param, "charset", 7) != 0) {
            type = apr_pstrcat(r->pool, type, "; ", apr_pstrndup(r->pool, param, p - param), NULL);
        }
    }
    ap_set_content_type(r, apr_pstrcat(r->pool, type, "; charset=", charset, NULL));
}

/*
 * §10 X-Accel-Limit-Rate.  Buckets are cut with apr_bucket_split(), which
 * reads nothing, so a file goes out by sendfile slice by slice.  The filter
 * runs after httpd's byterange filter (AP_FTYPE_TRANSCODE), so ranges are
 * cut first and paced after.  Each slice is a tenth of a second's bytes,
 * passed with a FLUSH so it is on the wire before the next one is due;
 * the first goes at once (the burst allowance), and slice n is due when
 * the rate has earned all bytes before it: the average since the first
 * byte never exceeds the rate by more than one slice, and a slow write is
 * made up, not lost.  Like nginx's limit_rate it counts what goes out, the
 * response head included.  (mod_ratelimit counts in KiB/s, must be
 * loaded, and sleeps a fixed interval per chunk whatever the write took.)
 */
typedef struct xsf_rate_ctx {
    apr_off_t rate;   /* bytes per second */
    apr_off_t slice;  /* bytes per slice, and the burst allowance */
    apr_time_t start; /* when the first slice went; 0 before */
    apr_off_t sent;   /* bytes passed since */
    apr_bucket_brigade *out;
} xsf_rate_ctx;

/* When the bytes after `sent` may go: the time the rate earns them. */
static apr_time_t xsf_rate_due(const xsf_rate_ctx *ctx)
{
    apr_off_t owed = ctx->sent - ctx->slice;

    if (owed <= 0) {
        return ctx->start;
    }
    /* in two steps: owed * APR_USEC_PER_SEC alone could overflow */
    return ctx->start + owed / ctx->rate * APR_USEC_PER_SEC
           + owed % ctx->rate * APR_USEC_PER_SEC / ctx->rate;
}

static apr_status_t xsf_rate_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    xsf_rate_ctx *ctx = f->ctx;
    apr_status_t rv = APR_SUCCESS;

    if (ctx->out == NULL) {
        ctx->out = apr_brigade_create(f->r->pool, f->c->bucket_alloc);
    }
    while (!APR_BRIGADE_EMPTY(bb) && rv == APR_SUCCESS) {
        apr_bucket *e = APR_BRIGADE_FIRST(bb);
        apr_time_t now;

        if (e->length == (apr_size_t)-1) {
            const char *data;
            apr_size_t len;

            /* a pipe or socket (a CGI target): its length once read */
            rv = apr_bucket_read(e, &data, &len, APR_BLOCK_READ);
            continue;
        }
        if (APR_BUCKET_IS_METADATA(e) || e->length == 0) {
            APR_BUCKET_REMOVE(e);
            APR_BRIGADE_INSERT_TAIL(ctx->out, e);
            continue;
        }
        if (e->length > (apr_size_t)ctx->slice) {
            apr_bucket_split(e, (apr_size_t)ctx->slice);
        }
        now = apr_time_now();
        if (ctx->start == 0) {
            ctx->start = now;
        }
        if (xsf_rate_due(ctx) > now) {
            apr_sleep(xsf_rate_due(ctx) - now);
        }
        ctx->sent += (apr_off_t)e->length;
        APR_BUCKET_REMOVE(e);
        APR_BRIGADE_INSERT_TAIL(ctx->out, e);
        APR_BRIGADE_INSERT_TAIL(ctx->out, apr_bucket_flush_create(f->c->bucket_alloc));
        rv = ap_pass_brigade(f->next, ctx->out);
        apr_brigade_cleanup(ctx->out);
    }
    if (rv == APR_SUCCESS && !APR_BRIGADE_EMPTY(ctx->out)) {
        rv = ap_pass_brigade(f->next, ctx->out);
    }
    apr_brigade_cleanup(ctx->out);
    apr_brigade_cleanup(bb);
    return rv;
}

static void xsf_add_rate_filter(request_rec *r, const xsf_accel_opts_t *opts)
{
    xsf_rate_ctx *ctx;

    if (opts->limit_rate == 0) {
        return;
    }
    ctx = apr_pcalloc(r->pool, sizeof(*ctx));
    ctx->rate = opts->limit_rate;
    ctx->slice = opts->limit_rate / XSF_RATE_SLICES_PER_SEC;
    if (ctx->slice == 0) {
        ctx->slice = 1;
    }
    ap_add_output_filter(XSF_FILTER_RATE, ctx, r, r->connection);
}

/*
 * An X-Accel-Redirect target, where the backend's X-Accel-* headers apply
 * to whatever answers it (xsf_take_over_accel carried them over).  First call: the
 * charset, on the type the target's handler chose.  With X-Accel-Buffering:
 * no, every piece goes on at once, so that no filter after this one
 * (mod_deflate, the core's write coalescing) holds it back: each brigade
 * ends with a FLUSH, and a source with nothing ready yet (a CGI's pipe)
 * first has what came before it flushed, as the core's content-length
 * filter does.
 */
typedef struct xsf_target_ctx {
    const xsf_accel_opts_t *opts;
    apr_bucket_brigade *rest; /* what waits while the part before it is flushed */
} xsf_target_ctx;

static apr_status_t xsf_target_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    xsf_target_ctx *ctx = f->ctx;
    apr_bucket *e;

    if (ctx->rest == NULL) {
        xsf_apply_charset(f->r, ctx->opts->charset);
        if (ctx->opts->buffering) {
            ap_remove_output_filter(f);
            return ap_pass_brigade(f->next, bb);
        }
        ctx->rest = apr_brigade_create(f->r->pool, f->c->bucket_alloc);
    }
    for (e = APR_BRIGADE_FIRST(bb); e != APR_BRIGADE_SENTINEL(bb); e = APR_BUCKET_NEXT(e)) {
        const char *data;
        apr_size_t len;
        apr_status_t rv;

        if (e->length != (apr_size_t)-1) {
            continue;
        }
        rv = apr_bucket_read(e, &data, &len, APR_NONBLOCK_READ);
        if (APR_STATUS_IS_EAGAIN(rv)) {
            apr_brigade_split_ex(bb, e, ctx->rest);
            APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_flush_create(f->c->bucket_alloc));
            rv = ap_pass_brigade(f->next, bb);
            apr_brigade_cleanup(bb);
            APR_BRIGADE_CONCAT(bb, ctx->rest);
            if (rv == APR_SUCCESS) {
                rv = apr_bucket_read(e, &data, &len, APR_BLOCK_READ);
            }
        }
        if (rv != APR_SUCCESS) {
            return rv;
        }
    }
    if (!APR_BRIGADE_EMPTY(bb) && !APR_BUCKET_IS_EOS(APR_BRIGADE_LAST(bb))
        && !APR_BUCKET_IS_FLUSH(APR_BRIGADE_LAST(bb))) {
        APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_flush_create(f->c->bucket_alloc));
    }
    return ap_pass_brigade(f->next, bb);
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
    APR_BRIGADE_INSERT_TAIL(bb,
                            ap_bucket_error_create(status, NULL, f->r->pool, f->c->bucket_alloc));
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
    APR_BRIGADE_INSERT_TAIL(
        bb, ap_bucket_error_create(HTTP_BAD_GATEWAY, NULL, f->r->pool, f->c->bucket_alloc));
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(f->c->bucket_alloc));
    return ap_pass_brigade(f->next, bb);
}

/* A stream is over, however it ended: its thread, its pipe, its counts. */
static void xsf_stream_end(xsf_stream_t *stream, xsf_pipe_t *pipe)
{
    xsf_stream_stop(stream);
    xsf_pipe_close(pipe);
    xsf_count_stream_end(xsf_stream_bytes_in(stream), xsf_stream_peak_memory(stream));
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
static apr_status_t xsf_stream_respond(ap_filter_t *f, xsf_ctx *ctx, const xsf_settings_t *s,
                                       const xsf_lookup_result_t *res, xsf_pipe_t *pipe)
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
    xsf_note_outcome(r, "streamed");
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
    /* X-Accel-Buffering: no (§10): nothing read ahead of the client, so
     * the producer runs at its pace, as nginx reads an unbuffered upstream. */
    rv = xsf_stream_start(&stream, r->pool, pipe,
                          ctx->opts->buffering ? (apr_size_t)s->stream_buffer
                                               : (apr_size_t)XSF_MIN_STREAM_BUFFER_KIB << 10,
                          s->stream_timeout);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, "XSF0011: cannot stream %s for %s", name,
                      r->uri);
        xsf_note_failure(r, "refused", "XSF0011");
        return xsf_pass_error(f, ctx, HTTP_INTERNAL_SERVER_ERROR);
    }
    xsf_count_stream_start();
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
            APR_BRIGADE_INSERT_TAIL(
                bb, apr_bucket_transient_create(iov[i].iov_base, iov[i].iov_len, c->bucket_alloc));
            total += iov[i].iov_len;
        }
        APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_flush_create(c->bucket_alloc));
        rv = ap_pass_brigade(f->next, bb);
        apr_brigade_cleanup(bb);
        xsf_stream_consumed(stream, total);
        if (rv != APR_SUCCESS || c->aborted) {
            xsf_stream_end(stream, pipe);
            ap_log_rerror(APLOG_MARK, APLOG_INFO, rv, r,
                          "XSF0012: client went away while streaming %s", name);
            xsf_note_failure(r, "aborted", "XSF0012");
            return rv != APR_SUCCESS ? rv : APR_ECONNABORTED;
        }
        sent = 1;
    }
    xsf_stream_end(stream, pipe);
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
                      "XSF0008: %s sent nothing for %" APR_TIME_T_FMT " seconds; response aborted",
                      name, apr_time_sec(s->stream_timeout));
    }
    else {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "XSF0009: reading %s failed; response aborted",
                      name);
    }
    xsf_note_failure(r, sent ? "aborted" : "refused",
                     st == XSF_STREAM_IDLE ? "XSF0008" : "XSF0009");
    /* Nothing sent yet: a clean error response is still possible. */
    return sent ? xsf_pass_truncation(f)
                : xsf_pass_error(f, ctx,
                                 st == XSF_STREAM_IDLE ? HTTP_GATEWAY_TIME_OUT : HTTP_BAD_GATEWAY);
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

/* apr_table_do() callback: one entry into the table `rec`. */
static int xsf_copy_entry(void *rec, const char *key, const char *value)
{
    apr_table_addn(rec, key, value);
    return 1;
}

/* See xsf_accel_kept_headers; the Content-Type is applied by xsf_fixups
 * of the target request, where a static handler would guess one. */
static void xsf_keep_accel_headers(request_rec *r)
{
    int i;

    for (i = 0; xsf_accel_kept_headers[i] != NULL; i++) {
        apr_table_do(xsf_copy_entry, r->err_headers_out, r->headers_out, xsf_accel_kept_headers[i],
                     NULL);
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
                      "absolute path, or a NUL or '..' in it",
                      ctx->value, r->uri);
        xsf_note_failure(r, "refused", "XSF0014");
        return xsf_pass_error(f, ctx, HTTP_NOT_FOUND);
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, "XSF0015: X-Accel-Redirect to %s for %s",
                  ctx->value, r->uri);
    /* The target's request takes these over (xsf_fixups), so that the
     * access log line, which is the target's, shows them. */
    xsf_note_outcome(r, "accel-redirect");
    apr_table_setn(r->notes, XSF_NOTE_FILE, ctx->value);
    XSF_COUNT(accel_redirects, 1);
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

    found = xsf_lookup(r->pool, ctx->value, (const xsf_root_t *)s.roots->elts, s.roots->nelts,
                       &opts, res);
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
        apr_pool_cleanup_register(r->pool, res, xsf_delete_temporary, apr_pool_cleanup_null);
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, "XSF0001: serving %s (%s value) for %s",
                  xsf_logged_name(res), res->decoding, r->uri);
    xsf_note_outcome(r, "served");
    apr_table_setn(r->notes, XSF_NOTE_FILE, res->name);
    apr_table_setn(r->notes, XSF_NOTE_DECODING, res->decoding);

    if (!xsf_backend_allows_caching(r, ctx->opts)) {
        r->no_cache = 1;
    }
    xsf_describe_file(r, res);
    xsf_apply_charset(r, ctx->opts->charset);
    xsf_add_rate_filter(r, ctx->opts);
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
            xsf_strip_triggers(r); /* added by `Header always set` */
        }
        if (ctx != NULL && ctx->shape == XSF_SHAPE_NO_BODY) {
            xsf_note_outcome(r, "stripped");
        }
        if (ctx == NULL || ctx->shape == XSF_SHAPE_NO_BODY) {
            ap_remove_output_filter(f);
            return ap_pass_brigade(f->next, bb);
        }
        f->ctx = ctx;
    }

    switch (ctx->state) {
    case XSF_PASS: return ap_pass_brigade(f->next, bb);
    case XSF_DISCARD: (void)xsf_drain(bb, &ctx->backend_body); return APR_SUCCESS;
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

/*
 * An X-Accel-Redirect target takes over what the backend said about the
 * download (§7, §10): its Content-Type, which beats a guess from the
 * target's name as for X-SendFile (a target handler that sets one still
 * wins), its X-Accel-* headers, which xsf_insert_early_filter and
 * xsf_cache_status apply here, and the notes for the access log.
 */
static void xsf_take_over_accel(const request_rec *origin, request_rec *r)
{
    const char *type = apr_table_get(origin->notes, XSF_NOTE_ACCEL_TYPE);
    const xsf_accel_opts_t *opts = ap_get_module_config(origin->request_config, &xsendfile_module);

    if (type != NULL) {
        ap_set_content_type(r, type);
    }
    if (opts != NULL) {
        ap_set_module_config(r->request_config, &xsendfile_module, (void *)opts);
        if (opts->expiry == XSF_EXPIRY_NEVER) {
            r->no_cache = 1;
        }
    }
    apr_table_do(xsf_copy_entry, r->notes, origin->notes, XSF_NOTE_OUTCOME, XSF_NOTE_FILE, NULL);
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
            xsf_note_failure(r, "refused", "XSF0016");
            return HTTP_NOT_FOUND;
        }
    }
    if (origin != NULL && r->main == NULL) {
        xsf_take_over_accel(origin, r);
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
    /* Only an X-Accel-Redirect target has these yet (xsf_take_over_accel). */
    const xsf_accel_opts_t *opts = ap_get_module_config(r->request_config, &xsendfile_module);

    if (opts != NULL && (opts->charset != NULL || !opts->buffering)) {
        xsf_target_ctx *ctx = apr_pcalloc(r->pool, sizeof(*ctx));

        ctx->opts = opts;
        ap_add_output_filter(XSF_FILTER_TARGET, ctx, r, r->connection);
    }
    if (opts != NULL) {
        xsf_add_rate_filter(r, opts);
    }
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
    xsf_headers_t h;

    if (!xsf_enabled(r)) {
        return;
    }
    apr_table_setn(r->notes, XSF_NOTE_ERROR_RESPONSE, "1");
    xsf_read_headers(r, &h);
    if (((h.out | h.err) & XSF_TRIGGERS) != 0 && xsf_evaluated_by_httpd(r, &h, r->status)) {
        apr_table_setn(r->notes, XSF_NOTE_REEVALUATE,
                       r->content_type != NULL ? r->content_type : "");
    }
    else {
        xsf_strip_ours(r, &h);
    }
    ap_add_output_filter(XSF_FILTER_LATE, NULL, r, r->connection);
}

/*
 * §10 X-Accel-Expires: mod_cache computes a response's lifetime from its
 * Cache-Control and Expires, and stores those headers for every later hit;
 * changing them for mod_cache's sake would change what clients get.  Its
 * cache_status hook instead runs once the entity is set up and before
 * mod_cache_disk writes it ("attempting entity save"), with the cache_info
 * that becomes the stored lifetime: that is set here.  (mod_cache_socache
 * has written its entry by then: there X-Accel-Expires decides only
 * whether the response is stored.)
 */
static int xsf_cache_status(cache_handle_t *h, request_rec *r, apr_table_t *headers,
                            ap_cache_status_e status, const char *reason)
{
    const xsf_accel_opts_t *opts = ap_get_module_config(r->request_config, &xsendfile_module);
    cache_info *info;

    (void)headers;
    (void)reason;
    if (status != AP_CACHE_MISS || h == NULL || h->cache_obj == NULL || opts == NULL
        || (opts->expiry != XSF_EXPIRY_AFTER && opts->expiry != XSF_EXPIRY_AT)) {
        return OK;
    }
    info = &h->cache_obj->info;
    info->expire = opts->expiry == XSF_EXPIRY_AT ? opts->expires : info->date + opts->expires;
    /* The stored max-age, s-maxage and no-cache would otherwise win over
     * the expiry time when mod_cache checks freshness (cache_check_freshness). */
    info->control.max_age_value = -1;
    info->control.s_maxage_value = -1;
    info->control.no_cache = 0;
    return OK;
}

/*
 * mod_cache's hooks are not optional hooks: a module that calls
 * cache_hook_cache_status() directly cannot be loaded without mod_cache.
 * So the function is looked up where mod_cache is loaded, once per
 * configuration cycle (httpd forgets every hook on a restart).
 */
static void xsf_hook_into_mod_cache(apr_pool_t *pconf, server_rec *s)
{
    typedef void xsf_cache_hook_fn(cache_HOOK_cache_status_t *, const char *const *,
                                   const char *const *, int);
    apr_dso_handle_t *global;
    apr_dso_handle_sym_t sym;

    if (ap_find_linked_module("mod_cache.c") == NULL) {
        return;
    }
    if (apr_dso_load(&global, NULL, pconf) != APR_SUCCESS
        || apr_dso_sym(&sym, global, "cache_hook_cache_status") != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     "XSF0021: mod_cache's cache_status hook not found: "
                     "X-Accel-Expires decides whether a response is stored, "
                     "not for how long");
        return;
    }
    ((xsf_cache_hook_fn *)sym)(xsf_cache_status, NULL, NULL, APR_HOOK_MIDDLE);
}

/*
 * §11: the counters' shared memory, one slot per process slot of the
 * scoreboard plus a spare.  Made once, in the process pool, which outlives
 * restarts: a graceful restart keeps the totals, and makes no new segment.
 */
static void xsf_status_init(server_rec *s)
{
    static const char key[] = "xsendfile-counters";
    apr_pool_t *pool = s->process->pool;
    apr_shm_t *shm = NULL;
    int limit = 0;

    apr_pool_userdata_get((void **)&shm, key, pool);
    if (shm == NULL) {
        apr_status_t rv;

        ap_mpm_query(AP_MPMQ_HARD_LIMIT_DAEMONS, &limit);
        rv = apr_shm_create(&shm, (apr_size_t)(limit + 1) * XSF_SLOT_SIZE, NULL, pool);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_ERR, rv, s,
                         "XSF0022: no shared memory for the counters: "
                         "mod_status shows none");
            return;
        }
        memset(apr_shm_baseaddr_get(shm), 0, apr_shm_size_get(shm));
        apr_pool_userdata_set(shm, key, apr_pool_cleanup_null, pool);
    }
    xsf_slots = apr_shm_baseaddr_get(shm);
    xsf_nslots = (int)(apr_shm_size_get(shm) / XSF_SLOT_SIZE);
}

static int xsf_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    (void)plog;
    (void)ptemp;
    xsf_status_init(s);
    xsf_hook_into_mod_cache(pconf, s);
    return OK;
}

/* Parent: a new child in a slot; one that died mid-stream left its gauge up. */
static void xsf_child_status(server_rec *s, pid_t pid, ap_generation_t gen, int slot,
                             mpm_child_status status)
{
    (void)s;
    (void)pid;
    (void)gen;
    if (status == MPM_CHILD_STARTED && slot >= 0 && slot < xsf_nslots - 1) {
        apr_atomic_set32(&xsf_slot(slot)->streams_active, 0);
    }
}

static void xsf_child_init(apr_pool_t *pchild, server_rec *s)
{
    (void)s;
    xsf_my_slot = NULL; /* a fork()ed copy of the parent's, found anew */
    xsf_pipe_child_init(pchild);
}

/* Served files are counted once their bytes are out. */
static int xsf_log_transaction(request_rec *r)
{
    const char *outcome = apr_table_get(r->notes, XSF_NOTE_OUTCOME);

    if (outcome != NULL && strcmp(outcome, "served") == 0) {
        XSF_COUNT(files, 1);
        XSF_COUNT(file_bytes, (apr_uint64_t)r->bytes_sent);
    }
    return DECLINED;
}

/* The summed counters, as mod_status's ?auto lines or as its HTML page. */
static void xsf_status_print(request_rec *r, int short_form, const xsf_counters_t *sum,
                             apr_uint64_t active)
{
    /* Each counter once: its ?auto key and its label on the page. */
    const struct {
        const char *key;
        const char *label;
        apr_uint64_t value;
    } rows[] = {
        { "Files", "files served", sum->files },
        { "FileBytes", "bytes of files sent", sum->file_bytes },
        { "AccelRedirects", "X-Accel-Redirects", sum->accel_redirects },
        { "Streams", "streams", sum->streams },
        { "StreamsActive", "streams active", active },
        { "StreamBytes", "bytes streamed", sum->stream_bytes },
        { "StreamBufferMax", "largest stream buffer (bytes)", sum->stream_peak },
    };
    apr_size_t i;

    if (!short_form) {
        ap_rputs("<hr />\n<h2>mod_xsendfile</h2>\n<table>\n", r);
    }
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        ap_rprintf(r,
                   short_form ? "XSendFile%s: %" APR_UINT64_T_FMT "\n"
                              : "<tr><td>%s</td><td>%" APR_UINT64_T_FMT "</td></tr>\n",
                   short_form ? rows[i].key : rows[i].label, rows[i].value);
    }
    for (i = 0; i < sizeof(xsf_refusal_ids) / sizeof(xsf_refusal_ids[0]); i++) {
        ap_rprintf(r,
                   short_form ? "XSendFileRefusedXSF%04d: %" APR_UINT64_T_FMT "\n"
                              : "<tr><td>refused or aborted, XSF%04d</td><td>%" APR_UINT64_T_FMT
                                "</td></tr>\n",
                   xsf_refusal_ids[i], sum->by_id[xsf_refusal_ids[i]]);
    }
    if (!short_form) {
        ap_rputs("</table>\n", r);
    }
}

/*
 * §11: mod_status's page, with ExtendedStatus On: the slots summed (a
 * read of each, no lock: totals a request or two apart are fine).
 */
static int xsf_status_hook(request_rec *r, int flags)
{
    xsf_counters_t sum;
    apr_uint64_t active = 0;
    apr_size_t i;
    int n;

    if (!(flags & AP_STATUS_EXTENDED) || xsf_slots == NULL) {
        return OK;
    }
    memset(&sum, 0, sizeof(sum));
    for (n = 0; n < xsf_nslots; n++) {
        xsf_counters_t *c = xsf_slot(n);
        apr_uint64_t peak = apr_atomic_read64(&c->stream_peak);

        sum.files += apr_atomic_read64(&c->files);
        sum.file_bytes += apr_atomic_read64(&c->file_bytes);
        sum.accel_redirects += apr_atomic_read64(&c->accel_redirects);
        sum.streams += apr_atomic_read64(&c->streams);
        sum.stream_bytes += apr_atomic_read64(&c->stream_bytes);
        sum.stream_peak = peak > sum.stream_peak ? peak : sum.stream_peak;
        active += apr_atomic_read32(&c->streams_active);
        for (i = 0; i < sizeof(xsf_refusal_ids) / sizeof(xsf_refusal_ids[0]); i++) {
            sum.by_id[xsf_refusal_ids[i]] += apr_atomic_read64(&c->by_id[xsf_refusal_ids[i]]);
        }
    }
    xsf_status_print(r, (flags & AP_STATUS_SHORT) != 0, &sum, active);
    return OK;
}

static void xsf_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_register_output_filter(XSF_FILTER_EARLY, xsf_output_filter, NULL, AP_FTYPE_RESOURCE);
    ap_register_output_filter(XSF_FILTER_LATE, xsf_output_filter, NULL, AP_FTYPE_CONTENT_SET);
    ap_hook_insert_filter(xsf_insert_early_filter, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_insert_filter(xsf_insert_late_filter, NULL, NULL, APR_HOOK_REALLY_LAST);
    ap_hook_insert_error_filter(xsf_insert_error_filter, NULL, NULL, APR_HOOK_REALLY_LAST);
    ap_hook_fixups(xsf_fixups, NULL, NULL, APR_HOOK_REALLY_LAST);
    ap_hook_child_init(xsf_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_register_output_filter(XSF_FILTER_RATE, xsf_rate_filter, NULL, AP_FTYPE_TRANSCODE);
    ap_register_output_filter(XSF_FILTER_TARGET, xsf_target_filter, NULL, AP_FTYPE_RESOURCE);
    ap_hook_post_config(xsf_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_status(xsf_child_status, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_log_transaction(xsf_log_transaction, NULL, NULL, APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(ap, status_hook, xsf_status_hook, NULL, NULL, APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(xsendfile) = { STANDARD20_MODULE_STUFF,
                                 xsf_create_dir_conf,
                                 xsf_merge_dir_conf,
                                 NULL,
                                 NULL,
                                 xsf_cmds,
                                 xsf_register_hooks
#ifdef AP_MODULE_FLAG_NONE
                                 ,
                                 AP_MODULE_FLAG_NONE
#endif
};
