/*
 * chunked.c: chunked transfer-coding, RFC 9112 section 7.1.
 *
 * The decoder is a byte-at-a-time state machine except inside chunk-data,
 * which it copies in bulk.  Because the state after each byte depends only
 * on the state before it, input split anywhere decodes the same way.
 *
 * Past bugs in other servers this decoder is written against, each with a
 * test vector in t/test_chunked.c:
 *   CVE-2013-2028   a chunk-size that overflows the size type: the value is
 *                   checked against the limit before each digit is added;
 *   CVE-2015-3183, CVE-2016-8743  lax framing (whitespace, bare LF, junk
 *                   after sizes or data) letting front and back ends disagree
 *                   on message boundaries: only the RFC grammar is accepted;
 *   CVE-2023-39326, CVE-2024-22019  unbounded chunk extensions: per-line and
 *                   per-body byte bounds;
 *   CVE-2023-38697, CVE-2025-22871  bare LF ending a size or extension line:
 *                   every line ends in CR LF, a lone LF is an error.
 */
#include <stdlib.h>
#include <string.h>

#include "chunked.h"

#define FIFO_CHUNKED_DEFAULT_LINE      4096
#define FIFO_CHUNKED_DEFAULT_EXT_TOTAL 16384
#define FIFO_CHUNKED_DEFAULT_TRAILER   8192
#define FIFO_CHUNKED_DEFAULT_MAX_SIZE  ((uint64_t)INT64_MAX)

enum fifo_chunked_state {
    ST_SIZE_START,     /* first hex digit of a chunk-size */
    ST_SIZE,           /* more hex digits, extension or CR */
    ST_EXT_SEMI,       /* BWS before ";" */
    ST_EXT_NAME_START, /* BWS after ";", then the name's first tchar */
    ST_EXT_NAME,       /* rest of chunk-ext-name */
    ST_EXT_NAME_BWS,   /* BWS after the name: "=" or ";" */
    ST_EXT_VAL_START,  /* BWS after "=", then token or quoted-string */
    ST_EXT_TOKEN,      /* token value */
    ST_EXT_QSTR,       /* inside a quoted-string */
    ST_EXT_QPAIR,      /* after a backslash in a quoted-string */
    ST_EXT_VAL_END,    /* after a value: ";", BWS ";" or CR */
    ST_SIZE_LF,        /* LF ending the chunk-size line */
    ST_DATA,           /* chunk-data */
    ST_DATA_CR,        /* CR after chunk-data */
    ST_DATA_LF,        /* LF after chunk-data */
    ST_TRAILER_START,  /* a field-line's first byte, or CR ending the body */
    ST_TRAILER_NAME,   /* field-name */
    ST_TRAILER_VALUE,  /* ":" OWS field-value OWS */
    ST_TRAILER_LF,     /* LF ending a field-line */
    ST_FINAL_LF,       /* LF ending the body */
    ST_DONE,
    ST_ERROR
};

struct fifo_chunked_decoder {
    fifo_chunked_limits_t lim;
    enum fifo_chunked_state state;
    int status; /* FIFO_EPROTO/ELIMIT/... once in ST_ERROR */
    const char *error;
    uint64_t size;      /* chunk-size being parsed, then data left */
    size_t line;        /* bytes of the current chunk-size line */
    uint64_t ext_total; /* extension bytes in the whole body */
    size_t trailer;     /* bytes of the trailer section */
    uint64_t offset;    /* input bytes consumed */
};

fifo_chunked_decoder_t *fifo_chunked_decoder_create(const fifo_chunked_limits_t *limits)
{
    fifo_chunked_decoder_t *dec = calloc(1, sizeof(*dec));

    if (dec != NULL) {
        if (limits != NULL) {
            dec->lim = *limits;
        }
        if (dec->lim.max_line == 0) {
            dec->lim.max_line = FIFO_CHUNKED_DEFAULT_LINE;
        }
        if (dec->lim.max_ext_total == 0) {
            dec->lim.max_ext_total = FIFO_CHUNKED_DEFAULT_EXT_TOTAL;
        }
        if (dec->lim.max_trailer == 0) {
            dec->lim.max_trailer = FIFO_CHUNKED_DEFAULT_TRAILER;
        }
        if (dec->lim.max_chunk_size == 0) {
            dec->lim.max_chunk_size = FIFO_CHUNKED_DEFAULT_MAX_SIZE;
        }
        dec->state = ST_SIZE_START;
    }
    return dec;
}

void fifo_chunked_decoder_destroy(fifo_chunked_decoder_t *dec)
{
    free(dec);
}

const char *fifo_chunked_decoder_error(const fifo_chunked_decoder_t *dec)
{
    return dec->state == ST_ERROR ? dec->error : NULL;
}

uint64_t fifo_chunked_decoder_offset(const fifo_chunked_decoder_t *dec)
{
    return dec->offset;
}

/* ---- character classes (RFC 9110 section 5.6) ---- */

static int fifo_chunked_hex(unsigned char c)
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

static int fifo_chunked_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int fifo_chunked_ws(unsigned char c)
{
    return c == ' ' || c == '\t';
}

/* qdtext and the quoted-pair's second byte share HTAB, SP, VCHAR, obs-text;
 * qdtext only excludes '"' and '\\', which the caller handles first. */
static int fifo_chunked_qtext(unsigned char c)
{
    return c == '\t' || c == ' ' || (c >= 0x21 && c != 0x7f);
}

/* field-value bytes: field-vchar or whitespace, no CTLs (so no CR/LF/NUL). */
static int fifo_chunked_fvalue(unsigned char c)
{
    return fifo_chunked_qtext(c);
}

static enum fifo_chunked_state fifo_chunked_fail(fifo_chunked_decoder_t *dec, int status,
                                                 const char *why)
{
    dec->status = status;
    dec->error = why;
    return ST_ERROR;
}

/* The states that end a chunk-ext-val or a chunk-ext-name accept the same
 * bytes: another extension, BWS before one, or the line's CR. */
static enum fifo_chunked_state fifo_chunked_ext_next(fifo_chunked_decoder_t *dec, unsigned char c)
{
    if (c == ';') {
        return ST_EXT_NAME_START;
    }
    if (fifo_chunked_ws(c)) {
        return ST_EXT_SEMI;
    }
    if (c == '\r') {
        return ST_SIZE_LF;
    }
    if (c == '\n') {
        return fifo_chunked_fail(dec, FIFO_EPROTO, "bare LF in chunk extension");
    }
    return fifo_chunked_fail(dec, FIFO_EPROTO, "invalid byte in chunk extension");
}

/* The chunk-size line: digits, then extensions, then CR. */
static enum fifo_chunked_state fifo_chunked_size_line(fifo_chunked_decoder_t *dec, unsigned char c)
{
    enum fifo_chunked_state s = dec->state;
    int d = fifo_chunked_hex(c);

    if (c != '\r' && c != '\n') {
        /* Bound the line before anything else, so no state spins unbounded. */
        if (++dec->line > dec->lim.max_line) {
            return fifo_chunked_fail(dec, FIFO_ELIMIT, "chunk-size line too long");
        }
        if (s != ST_SIZE_START && !(s == ST_SIZE && d >= 0)
            && ++dec->ext_total > dec->lim.max_ext_total) {
            return fifo_chunked_fail(dec, FIFO_ELIMIT, "too many chunk extension bytes");
        }
    }
    switch (s) {
    case ST_SIZE_START:
    case ST_SIZE:
        if (d >= 0) {
            /* size * 16 + d <= max, tested without computing it (CVE-2013-2028) */
            if ((uint64_t)d > dec->lim.max_chunk_size
                || dec->size > (dec->lim.max_chunk_size - (uint64_t)d) / 16) {
                return fifo_chunked_fail(dec, FIFO_ELIMIT, "chunk-size too large");
            }
            dec->size = dec->size * 16 + (uint64_t)d;
            return ST_SIZE;
        }
        if (s == ST_SIZE_START) {
            return fifo_chunked_fail(dec, FIFO_EPROTO,
                                     "chunk-size does not start with a hex digit");
        }
        if (c == '\n') {
            return fifo_chunked_fail(dec, FIFO_EPROTO, "bare LF after chunk-size");
        }
        if (c == '\r') {
            return ST_SIZE_LF;
        }
        if (c == ';') {
            return ST_EXT_NAME_START;
        }
        if (fifo_chunked_ws(c)) {
            return ST_EXT_SEMI;
        }
        return fifo_chunked_fail(dec, FIFO_EPROTO, "invalid byte after chunk-size");
    case ST_EXT_SEMI:
        if (fifo_chunked_ws(c)) {
            return s;
        }
        if (c == ';') {
            return ST_EXT_NAME_START;
        }
        return fifo_chunked_fail(dec, FIFO_EPROTO,
                                 "whitespace not followed by ';' in chunk-size line");
    case ST_EXT_NAME_START:
        if (fifo_chunked_ws(c)) {
            return s;
        }
        if (fifo_chunked_tchar(c)) {
            return ST_EXT_NAME;
        }
        return fifo_chunked_fail(dec, FIFO_EPROTO, "missing chunk extension name");
    case ST_EXT_NAME:
        if (fifo_chunked_tchar(c)) {
            return s;
        }
        if (c == '=') {
            return ST_EXT_VAL_START;
        }
        if (fifo_chunked_ws(c)) {
            return ST_EXT_NAME_BWS;
        }
        return fifo_chunked_ext_next(dec, c);
    case ST_EXT_NAME_BWS:
        if (fifo_chunked_ws(c)) {
            return s;
        }
        if (c == '=') {
            return ST_EXT_VAL_START;
        }
        if (c == ';') {
            return ST_EXT_NAME_START;
        }
        return fifo_chunked_fail(dec, FIFO_EPROTO, "invalid byte after chunk extension name");
    case ST_EXT_VAL_START:
        if (fifo_chunked_ws(c)) {
            return s;
        }
        if (c == '"') {
            return ST_EXT_QSTR;
        }
        if (fifo_chunked_tchar(c)) {
            return ST_EXT_TOKEN;
        }
        return fifo_chunked_fail(dec, FIFO_EPROTO, "missing chunk extension value");
    case ST_EXT_TOKEN:
        if (fifo_chunked_tchar(c)) {
            return s;
        }
        return fifo_chunked_ext_next(dec, c);
    case ST_EXT_QSTR:
        if (c == '"') {
            return ST_EXT_VAL_END;
        }
        if (c == '\\') {
            return ST_EXT_QPAIR;
        }
        if (fifo_chunked_qtext(c)) {
            return s;
        }
        return fifo_chunked_fail(dec, FIFO_EPROTO, "invalid byte in quoted chunk extension");
    case ST_EXT_QPAIR:
        if (fifo_chunked_qtext(c)) {
            return ST_EXT_QSTR;
        }
        return fifo_chunked_fail(dec, FIFO_EPROTO, "invalid quoted-pair in chunk extension");
    case ST_EXT_VAL_END: return fifo_chunked_ext_next(dec, c);
    default: return fifo_chunked_fail(dec, FIFO_EINVAL, "internal: not a chunk-size line state");
    }
}

/* The trailer section and the final CRLF, bounded as a whole. */
static enum fifo_chunked_state fifo_chunked_trailer(fifo_chunked_decoder_t *dec, unsigned char c)
{
    enum fifo_chunked_state s = dec->state;

    if (++dec->trailer > dec->lim.max_trailer) {
        return fifo_chunked_fail(dec, FIFO_ELIMIT, "trailer section too long");
    }
    switch (s) {
    case ST_TRAILER_START:
        if (c == '\r') {
            return ST_FINAL_LF;
        }
        if (fifo_chunked_tchar(c)) {
            return ST_TRAILER_NAME;
        }
        if (c == '\n') {
            return fifo_chunked_fail(dec, FIFO_EPROTO, "bare LF ending the chunked body");
        }
        /* includes obs-fold (a line starting with whitespace), removed by RFC 9112 */
        return fifo_chunked_fail(dec, FIFO_EPROTO, "invalid trailer field name");
    case ST_TRAILER_NAME:
        if (fifo_chunked_tchar(c)) {
            return s;
        }
        if (c == ':') {
            return ST_TRAILER_VALUE;
        }
        return fifo_chunked_fail(dec, FIFO_EPROTO, "invalid byte in trailer field name");
    case ST_TRAILER_VALUE:
        if (c == '\r') {
            return ST_TRAILER_LF;
        }
        if (fifo_chunked_fvalue(c)) {
            return s;
        }
        if (c == '\n') {
            return fifo_chunked_fail(dec, FIFO_EPROTO, "bare LF in trailer field");
        }
        return fifo_chunked_fail(dec, FIFO_EPROTO, "control byte in trailer field");
    case ST_TRAILER_LF:
        if (c == '\n') {
            return ST_TRAILER_START;
        }
        return fifo_chunked_fail(dec, FIFO_EPROTO, "CR without LF in trailer field");
    case ST_FINAL_LF:
        if (c == '\n') {
            return ST_DONE;
        }
        return fifo_chunked_fail(dec, FIFO_EPROTO, "CR without LF ending the chunked body");
    default: return fifo_chunked_fail(dec, FIFO_EINVAL, "internal: not a trailer state");
    }
}

/* One byte outside chunk-data. */
static enum fifo_chunked_state fifo_chunked_step(fifo_chunked_decoder_t *dec, unsigned char c)
{
    switch (dec->state) {
    case ST_SIZE_LF:
        if (c != '\n') {
            return fifo_chunked_fail(dec, FIFO_EPROTO, "CR without LF after chunk-size");
        }
        dec->line = 0;
        return dec->size == 0 ? ST_TRAILER_START : ST_DATA;
    case ST_DATA_CR:
        if (c != '\r') {
            return fifo_chunked_fail(dec, FIFO_EPROTO, "chunk-data not followed by CRLF");
        }
        return ST_DATA_LF;
    case ST_DATA_LF:
        if (c != '\n') {
            return fifo_chunked_fail(dec, FIFO_EPROTO, "CR without LF after chunk-data");
        }
        dec->size = 0;
        return ST_SIZE_START;
    case ST_TRAILER_START:
    case ST_TRAILER_NAME:
    case ST_TRAILER_VALUE:
    case ST_TRAILER_LF:
    case ST_FINAL_LF: return fifo_chunked_trailer(dec, c);
    default: return fifo_chunked_size_line(dec, c);
    }
}

/* Where chunk-data goes: appended to a fifo, or described by iovecs. */
struct fifo_chunked_sink {
    fifo_t *out; /* NULL: fill iov */
    struct iovec *iov;
    size_t iovcnt;
    size_t niov;
};

/* Takes up to len bytes of chunk-data at p; returns how many, 0 when the
 * sink is full or on out's error (then *rc). */
static size_t fifo_chunked_emit(struct fifo_chunked_sink *sink, const unsigned char *p, size_t len,
                                int *rc)
{
    size_t take = 0;

    if (sink->out == NULL) {
        if (sink->niov < sink->iovcnt) {
            sink->iov[sink->niov].iov_base = (void *)p;
            sink->iov[sink->niov].iov_len = len;
            ++sink->niov;
            take = len;
        }
    }
    else {
        size_t space = fifo_space(sink->out);
        take = len < space ? len : space;
        if (take > 0) {
            *rc = fifo_write(sink->out, p, take);
            take = *rc == FIFO_OK ? take : 0;
        }
    }
    return take;
}

static int fifo_chunked_run(fifo_chunked_decoder_t *dec, const unsigned char *p, size_t len,
                            size_t *consumed, struct fifo_chunked_sink *sink)
{
    size_t i = 0;
    int full = 0;

    while (i < len && !full && dec->state != ST_DONE && dec->state != ST_ERROR) {
        if (dec->state == ST_DATA) {
            int rc = FIFO_OK;
            size_t want = (uint64_t)(len - i) < dec->size ? len - i : (size_t)dec->size;
            size_t took = fifo_chunked_emit(sink, p + i, want, &rc);

            if (rc != FIFO_OK) {
                dec->state = fifo_chunked_fail(dec, rc, "cannot store chunk-data");
            }
            full = took == 0;
            i += took;
            dec->size -= took;
            if (dec->size == 0) {
                dec->state = ST_DATA_CR;
            }
        }
        else {
            dec->state = fifo_chunked_step(dec, p[i]);
            if (dec->state != ST_ERROR) {
                ++i;
            }
        }
    }
    dec->offset += i;
    *consumed = i;
    if (dec->state == ST_ERROR) {
        return dec->status;
    }
    if (dec->state == ST_DONE) {
        return FIFO_EOF;
    }
    return full ? FIFO_EAGAIN : FIFO_OK;
}

int fifo_chunked_decode(fifo_chunked_decoder_t *dec, const void *in, size_t len, size_t *consumed,
                        fifo_t *out)
{
    struct fifo_chunked_sink sink = { out, NULL, 0, 0 };

    return fifo_chunked_run(dec, in, len, consumed, &sink);
}

int fifo_chunked_decode_iov(fifo_chunked_decoder_t *dec, const void *in, size_t len,
                            size_t *consumed, struct iovec *iov, size_t iovcnt, size_t *niov)
{
    struct fifo_chunked_sink sink = { NULL, iov, iovcnt, 0 };
    int rc = fifo_chunked_run(dec, in, len, consumed, &sink);

    *niov = sink.niov;
    return rc;
}

/* ---- encoder ---- */

/* Writes "<hex>" for n > 0 into line (room for 2 * sizeof(size_t) bytes);
 * returns its length. */
static size_t fifo_chunked_hex_size(char *line, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    size_t len = 0;
    size_t i;

    for (i = n; i > 0; i >>= 4) {
        ++len;
    }
    for (i = len; i > 0; --i, n >>= 4) {
        line[i - 1] = digits[n & 15];
    }
    return len;
}

/* How many of len bytes fit in out as one chunk: "<hex>\r\n" + data +
 * "\r\n" within out's space.  The largest n with n + hexlen(n) <= room is
 * at most a step or two above room - hexlen(room). */
static size_t fifo_chunked_fit(fifo_t *out, size_t len)
{
    char hex[2 * sizeof(size_t)];
    size_t space = fifo_space(out);
    size_t room, n;

    if (space < 6) { /* "1\r\nX\r\n", the smallest chunk */
        return 0;
    }
    room = space - 4;
    n = room - fifo_chunked_hex_size(hex, room);
    while (n < len && n + 1 + fifo_chunked_hex_size(hex, n + 1) <= room) {
        ++n;
    }
    return n < len ? n : len;
}

/* Writes one chunk of n > 0 bytes whose data the caller writes in between
 * the two calls: the size line first, then the CRLF after the data. */
static int fifo_chunked_open(fifo_t *out, size_t n)
{
    char line[2 * sizeof(size_t) + 2];
    size_t len = fifo_chunked_hex_size(line, n);

    line[len++] = '\r';
    line[len++] = '\n';
    return fifo_write(out, line, len);
}

int fifo_chunked_encode(fifo_t *out, const void *data, size_t len, size_t *consumed)
{
    size_t n = len > 0 ? fifo_chunked_fit(out, len) : 0;
    int rc = FIFO_OK;

    if (n > 0) {
        rc = fifo_chunked_open(out, n);
    }
    if (n > 0 && rc == FIFO_OK) {
        rc = fifo_write(out, data, n);
    }
    if (n > 0 && rc == FIFO_OK) {
        rc = fifo_write(out, "\r\n", 2);
    }
    *consumed = rc == FIFO_OK ? n : 0;
    return rc == FIFO_OK && n < len ? FIFO_EAGAIN : rc;
}

int fifo_chunked_encode_fifo(fifo_t *out, fifo_t *in, size_t len, size_t *moved)
{
    size_t n = 0;
    size_t done = 0;
    int rc = FIFO_OK;

    if (len > fifo_length(in)) {
        rc = FIFO_EINVAL;
    }
    else if (len > 0) {
        n = fifo_chunked_fit(out, len);
    }
    if (n > 0) {
        rc = fifo_chunked_open(out, n);
    }
    while (done < n && rc == FIFO_OK) {
        struct iovec iov[16];
        size_t k = fifo_peek_iov(in, iov, 16, n - done);
        size_t i;

        for (i = 0; i < k && rc == FIFO_OK; ++i) {
            rc = fifo_write(out, iov[i].iov_base, iov[i].iov_len);
            if (rc == FIFO_OK) {
                fifo_skip(in, iov[i].iov_len);
                done += iov[i].iov_len;
            }
        }
    }
    if (n > 0 && rc == FIFO_OK) {
        rc = fifo_write(out, "\r\n", 2);
    }
    *moved = done;
    return rc == FIFO_OK && n < len ? FIFO_EAGAIN : rc;
}

int fifo_chunked_encode_end(fifo_t *out)
{
    return fifo_space(out) < 5 ? FIFO_EAGAIN : fifo_write(out, "0\r\n\r\n", 5);
}
