/*
 * test_chunked.c: the chunked encoder and decoder.  Every vector is decoded
 * whole, one byte at a time, and in random pieces, each three ways: into a
 * fifo with tiny segments, into one whose high-water mark of 5 bytes makes
 * the decoder stop and resume, and zero-copy into two iovecs at a time; all
 * nine must agree on status, consumed bytes, output and error.
 */
#include <stdio.h>

#include "chunked.h"
#include "testutil.h"

struct vector {
    const char *name;
    const char *in;
    size_t len; /* 0: strlen(in) */
    int status;
    const char *out; /* decoded data (NULL: not checked) */
    size_t consumed; /* where decoding stopped; ALL: at the end */
};

#define ALL ((size_t)-1)

struct result {
    int status;
    size_t consumed;
    unsigned char *out;
    size_t outlen;
    const char *error;
};

enum sink { INTO_FIFO, INTO_BOUNDED_FIFO, INTO_IOV, SINKS };
static const char *sink_names[] = { "into a fifo", "into a bounded fifo", "zero-copy" };

enum { BOUND = 5 };

/* Decodes in[0..n) with any of the sinks, moving the output to got;
 * returns the decoder's status, the input used in *used.  A stop for want
 * of room (FIFO_EAGAIN) is followed by draining and going on. */
static int decode_piece(fifo_chunked_decoder_t *dec, const unsigned char *in, size_t n,
                        size_t *used, enum sink sink, fifo_t *out, fifo_t *got, int *overflow)
{
    int rc = FIFO_EAGAIN;

    *used = 0;
    while (rc == FIFO_EAGAIN) {
        size_t step = 0;
        if (sink == INTO_IOV) {
            struct iovec iov[2];
            size_t niov = 0, i;
            rc = fifo_chunked_decode_iov(dec, in + *used, n - *used, &step, iov, 2, &niov);
            for (i = 0; i < niov; ++i) {
                const unsigned char *p = iov[i].iov_base;
                *overflow |= p < in + *used || p + iov[i].iov_len > in + *used + step;
                fifo_write(got, iov[i].iov_base, iov[i].iov_len);
            }
        }
        else {
            struct iovec iov[8];
            size_t k, i;
            rc = fifo_chunked_decode(dec, in + *used, n - *used, &step, out);
            *overflow |= sink == INTO_BOUNDED_FIFO && fifo_length(out) > BOUND;
            tu_check(out, "decode");
            while ((k = fifo_peek_iov(out, iov, 8, SIZE_MAX)) > 0) {
                for (i = 0; i < k; ++i) {
                    fifo_write(got, iov[i].iov_base, iov[i].iov_len);
                    fifo_skip(out, iov[i].iov_len);
                }
            }
        }
        *used += step;
    }
    return rc;
}

/* Decodes in, split into pieces of piece bytes (0: random sizes). */
static struct result decode_split(const unsigned char *in, size_t len, size_t piece, uint64_t seed,
                                  const fifo_chunked_limits_t *lim, enum sink sink)
{
    fifo_chunked_decoder_t *dec = fifo_chunked_decoder_create(lim);
    fifo_t *out = fifo_create(3, sink == INTO_BOUNDED_FIFO ? BOUND : 0, 0);
    fifo_t *got = fifo_create(64, 0, 0);
    struct result r;
    size_t pos = 0;
    uint64_t rng = seed | 1;
    int overflow = 0;

    r.status = FIFO_OK;
    while (r.status == FIFO_OK && pos < len) {
        size_t n = piece != 0 ? piece : tu_between(&rng, 1, 17);
        size_t used = 0;
        if (n > len - pos) {
            n = len - pos;
        }
        r.status = decode_piece(dec, in + pos, n, &used, sink, out, got, &overflow);
        pos += used;
        if (r.status == FIFO_OK && used != n) {
            r.status = 999; /* the decoder must take all it can use */
        }
    }
    if (overflow) {
        r.status = 998; /* past the bound, or an iovec outside the input */
    }
    r.consumed = pos;
    r.error = fifo_chunked_decoder_error(dec);
    r.out = tu_drain(got, &r.outlen);
    fifo_chunked_decoder_destroy(dec);
    fifo_destroy(out);
    fifo_destroy(got);
    return r;
}

static int same_result(const struct result *a, const struct result *b)
{
    return a->status == b->status && a->consumed == b->consumed && a->outlen == b->outlen
           && memcmp(a->out, b->out, a->outlen) == 0
           && ((a->error == NULL && b->error == NULL)
               || (a->error != NULL && b->error != NULL && strcmp(a->error, b->error) == 0));
}

static void run_vector(const struct vector *v, const fifo_chunked_limits_t *lim)
{
    const unsigned char *in = (const unsigned char *)v->in;
    size_t len = v->len != 0 ? v->len : strlen(v->in);
    size_t consumed = v->consumed != ALL ? v->consumed : len;
    struct result whole = decode_split(in, len, len == 0 ? 1 : len, 0, lim, INTO_FIFO);
    int sink;

    tu_ok(whole.status == v->status && whole.consumed == consumed
              && (v->out == NULL
                  || (whole.outlen == strlen(v->out)
                      && memcmp(whole.out, v->out, whole.outlen) == 0)),
          "%s", v->name);
    if (whole.status != v->status || whole.consumed != consumed) {
        tu_diag("status %d (%s) consumed %zu; want %d consumed %zu", whole.status,
                whole.error ? whole.error : "-", whole.consumed, v->status, consumed);
    }
    for (sink = INTO_FIFO; sink < SINKS; ++sink) {
        struct result other = decode_split(in, len, len == 0 ? 1 : len, 0, lim, sink);
        struct result bytes = decode_split(in, len, 1, 0, lim, sink);
        struct result pieces = decode_split(in, len, 0, 42, lim, sink);

        tu_ok(same_result(&whole, &other) && same_result(&whole, &bytes)
                  && same_result(&whole, &pieces),
              "%s: the same %s, whole, byte by byte and in pieces", v->name, sink_names[sink]);
        free(other.out);
        free(bytes.out);
        free(pieces.out);
    }
    free(whole.out);
}

static const struct vector vectors[] = {
    /* valid bodies */
    { "empty body", "0\r\n\r\n", 0, FIFO_EOF, "", ALL },
    { "one chunk", "5\r\nhello\r\n0\r\n\r\n", 0, FIFO_EOF, "hello", ALL },
    { "two chunks, upper and lower case hex", "A\r\n0123456789\r\nb\r\nabcdefghijk\r\n0\r\n\r\n", 0,
      FIFO_EOF, "0123456789abcdefghijk", ALL },
    { "leading zeros", "0005\r\nhello\r\n000\r\n\r\n", 0, FIFO_EOF, "hello", ALL },
    { "chunk data holding CR and LF", "4\r\n\r\n\r\n\r\n0\r\n\r\n", 0, FIFO_EOF, "\r\n\r\n", ALL },
    { "extensions: name, token value, quoted value",
      "5;a=b;c;d=\"x\\\"y;z\"\r\nhello\r\n0;last\r\n\r\n", 0, FIFO_EOF, "hello", ALL },
    { "extensions with BWS around ';' and '='", "5 ; a = b\t;\tc\r\nhello\r\n0\r\n\r\n", 0,
      FIFO_EOF, "hello", ALL },
    { "trailer fields", "5\r\nhello\r\n0\r\nX-Sum: 1 2\r\nEmpty:\r\n\r\n", 0, FIFO_EOF, "hello",
      ALL },
    { "bytes after the body are not consumed", "1\r\nx\r\n0\r\n\r\nGET / HTTP/1.1", 0, FIFO_EOF,
      "x", 11 },
    { "largest allowed size still needs data", "7fffffffffffffff\r\nab", 0, FIFO_OK, "ab", ALL },
    { "incomplete body is not an error yet", "5\r\nhel", 0, FIFO_OK, "hel", ALL },

    /* CVE-2013-2028: chunk-size overflow */
    { "CVE-2013-2028: 2^64+ size is refused", "10000000000000000\r\n", 0, FIFO_ELIMIT, "", 16 },
    { "CVE-2013-2028: 2^63 is refused (signed overflow)", "8000000000000000\r\n", 0, FIFO_ELIMIT,
      "", 15 },
    { "CVE-2013-2028: many f's are refused", "ffffffffffffffffffffffff\r\n", 0, FIFO_ELIMIT, "",
      15 },
    { "CVE-2013-2028: a negative size is malformed", "-1\r\n", 0, FIFO_EPROTO, "", 0 },

    /* CVE-2015-3183 / CVE-2016-8743: lax framing, request smuggling */
    { "CVE-2015-3183: whitespace before the size", " 5\r\nhello\r\n0\r\n\r\n", 0, FIFO_EPROTO, "",
      0 },
    { "CVE-2015-3183: whitespace after the size without ';'", "5 \r\nhello\r\n0\r\n\r\n", 0,
      FIFO_EPROTO, "", 2 },
    { "CVE-2015-3183: 0x prefix", "0x5\r\nhello\r\n0\r\n\r\n", 0, FIFO_EPROTO, "", 1 },
    { "CVE-2015-3183: empty chunk-size line", "\r\nhello\r\n0\r\n\r\n", 0, FIFO_EPROTO, "", 0 },
    { "CVE-2015-3183: data longer than its size", "5\r\nhelloXX\r\n0\r\n\r\n", 0, FIFO_EPROTO,
      "hello", 8 },
    { "CVE-2015-3183: data shorter than its size", "5\r\nhell\r\n0\r\n\r\n", 0, FIFO_EPROTO,
      "hell\r", 8 },
    { "CVE-2015-3183: junk in an extension", "5;a=\"b\"c\r\nhello\r\n0\r\n\r\n", 0, FIFO_EPROTO, "",
      7 },
    { "CVE-2016-8743: LF alone after chunk data", "5\r\nhello\n0\r\n\r\n", 0, FIFO_EPROTO, "hello",
      8 },
    { "CVE-2016-8743: CR alone after the size", "5\rhello\r\n", 0, FIFO_EPROTO, "", 2 },
    { "CVE-2016-8743: LF alone ending the body", "0\r\n\n", 0, FIFO_EPROTO, "", 3 },
    { "CVE-2016-8743: obs-fold in a trailer", "0\r\nX: a\r\n b\r\n\r\n", 0, FIFO_EPROTO, "", 9 },
    { "CVE-2016-8743: space before a trailer's colon", "0\r\nX : a\r\n\r\n", 0, FIFO_EPROTO, "",
      4 },
    { "CVE-2016-8743: NUL in a trailer value", "0\r\nX: a\0b\r\n\r\n", 13, FIFO_EPROTO, "", 7 },
    { "CVE-2016-8743: CR inside a quoted extension", "1;a=\"x\ry\"\r\nz\r\n0\r\n\r\n", 0,
      FIFO_EPROTO, "", 6 },

    /* CVE-2023-38697 / CVE-2025-22871: bare LF in sizes or extensions */
    { "CVE-2023-38697: bare LF after the size", "5\nhello\r\n0\r\n\r\n", 0, FIFO_EPROTO, "", 1 },
    { "CVE-2023-38697: bare LF after the last-chunk", "0\n\r\n", 0, FIFO_EPROTO, "", 1 },
    { "CVE-2025-22871: bare LF after ';'", "5;\nhello\r\n0\r\n\r\n", 0, FIFO_EPROTO, "", 2 },
    { "CVE-2025-22871: bare LF after an extension name", "5;ext\nhello\r\n0\r\n\r\n", 0,
      FIFO_EPROTO, "", 5 },
    { "CVE-2025-22871: bare LF after an extension value", "5;a=b\nhello\r\n0\r\n\r\n", 0,
      FIFO_EPROTO, "", 5 },
    { "CVE-2025-22871: bare LF in a trailer", "0\r\nX: y\n\r\n", 0, FIFO_EPROTO, "", 7 },
};

/* Appends prefix, n bytes of fill and suffix at in + len; returns the new length. */
static size_t append(char *in, size_t len, const char *prefix, char fill, size_t n,
                     const char *suffix)
{
    len += (size_t)sprintf(in + len, "%s", prefix);
    memset(in + len, fill, n);
    len += n;
    return len + (size_t)sprintf(in + len, "%s", suffix);
}

/* CVE-2024-22019: one huge extension; CVE-2023-39326: many medium ones. */
static void test_extension_bounds(void)
{
    char *in = malloc(64 * 1024);
    fifo_chunked_limits_t raised = { 0, 1 << 20, 0, 0 };
    size_t len = append(in, 0, "1;", 'a', 5000, "\r\nx\r\n0\r\n\r\n");
    struct vector v = { "CVE-2024-22019: a 5000-byte extension exceeds the 4096-byte line bound",
                        in,
                        len,
                        FIFO_ELIMIT,
                        "",
                        4096 };
    int i;

    run_vector(&v, NULL);

    /* 6 chunks with 3000-byte extensions: each line fits, the body's total does not */
    for (len = 0, i = 0; i < 6; ++i) {
        len = append(in, len, "1;", 'b', 3000, "\r\nx\r\n");
    }
    len += (size_t)sprintf(in + len, "0\r\n\r\n");
    v.name = "CVE-2023-39326: extension bytes are bounded over the whole body";
    v.len = len;
    v.out = "xxxxx";
    v.consumed = 5 * 3007 + 1 + (16384 - 5 * 3001);
    run_vector(&v, NULL);

    v.name = "a raised extension total accepts the same body";
    v.status = FIFO_EOF;
    v.out = "xxxxxx";
    v.consumed = ALL;
    run_vector(&v, &raised);

    v.name = "a trailer section over 8192 bytes is refused";
    v.len = append(in, 0, "0\r\nX: ", 'c', 9000, "\r\n\r\n");
    v.status = FIFO_ELIMIT;
    v.out = "";
    v.consumed = 3 + 8192;
    run_vector(&v, NULL);
    free(in);
}

static void test_limits(void)
{
    fifo_chunked_limits_t lim = { 8, 0, 0, 0x100 };
    struct vector v = { "max_chunk_size 0x100 accepts 100", "100\r\n", 0, FIFO_OK, "", ALL };

    run_vector(&v, &lim);
    v.name = "max_chunk_size 0x100 refuses 101";
    v.in = "101\r\n";
    v.status = FIFO_ELIMIT;
    v.consumed = 2;
    run_vector(&v, &lim);
    v.name = "max_line 8 refuses a 9-byte size line";
    v.in = "1;abcdefg\r\n";
    v.consumed = 8;
    run_vector(&v, &lim);
}

static void test_error_is_final(void)
{
    fifo_chunked_decoder_t *dec = fifo_chunked_decoder_create(NULL);
    fifo_t *out = fifo_create(16, 0, 0);
    size_t used = 99;

    tu_ok(fifo_chunked_decoder_error(dec) == NULL, "no error before input");
    tu_is_long(fifo_chunked_decode(dec, "5\nhello", 7, &used, out), FIFO_EPROTO, "bare LF fails");
    tu_is_str(fifo_chunked_decoder_error(dec), "bare LF after chunk-size", "the error says why");
    tu_is_long((long)fifo_chunked_decoder_offset(dec), 1, "and where");
    tu_is_long(fifo_chunked_decode(dec, "0\r\n\r\n", 5, &used, out), FIFO_EPROTO,
               "valid input after an error still fails");
    tu_is_long((long)used, 0, "and is not consumed");
    tu_is_long((long)fifo_length(out), 0, "nothing was output");
    fifo_chunked_decoder_destroy(dec);
    fifo_destroy(out);
}

static void test_encoder(void)
{
    fifo_t *out = fifo_create(3, 0, 0);
    fifo_t *in = fifo_create(2, 0, 0);
    unsigned char *got;
    size_t len;
    size_t used = 99;
    char big[300];

    tu_is_long(fifo_chunked_encode(out, "hello", 5, &used), FIFO_OK, "encode a chunk");
    tu_is_long((long)used, 5, "all of it");
    tu_is_long(fifo_chunked_encode(out, "", 0, &used), FIFO_OK, "encode nothing");
    tu_is_long((long)used, 0, "consuming nothing");
    memset(big, 'z', sizeof(big));
    fifo_chunked_encode(out, big, 300, &used);
    fifo_write(in, "abc", 3);
    tu_is_long(fifo_chunked_encode_fifo(out, in, 4, &used), FIFO_EINVAL,
               "encode_fifo refuses more than the fifo holds");
    tu_is_long((long)used, 0, "moving nothing");
    tu_is_long(fifo_chunked_encode_fifo(out, in, 2, &used), FIFO_OK, "encode_fifo moves part");
    tu_ok(used == 2 && fifo_length(in) == 1, "two bytes, leaving the rest");
    fifo_chunked_encode_end(out);
    tu_check(out, "encode");
    tu_check(in, "encode_fifo");
    got = tu_drain(out, &len);
    tu_ok(len == 3 + 5 + 2 + 5 + 300 + 2 + 3 + 2 + 2 + 5
              && memcmp(got, "5\r\nhello\r\n12c\r\nzz", 17) == 0
              && memcmp(got + len - 12, "2\r\nab\r\n0\r\n\r\n", 12) == 0,
          "encoder output: lowercase hex sizes, empty writes skipped, last-chunk");
    free(got);
    fifo_destroy(in);
    fifo_destroy(out);
}

/* The encoder cuts its chunks to what an output's high-water mark leaves. */
static void test_encoder_bound(void)
{
    fifo_t *out = fifo_create(4, 20, 0);
    fifo_t *in = fifo_create(4, 0, 0);
    unsigned char buf[64];
    size_t used = 0;

    tu_is_long(fifo_chunked_encode(out, "0123456789abcdefghij", 20, &used), FIFO_EAGAIN,
               "20 bytes do not fit under a mark of 20 with their framing");
    tu_is_long((long)used, 15, "15 do: \"f\\r\\n\" + 15 + \"\\r\\n\" is 20 bytes");
    tu_is_long((long)fifo_length(out), 20, "the output is exactly at its mark");
    tu_is_long(fifo_chunked_encode(out, "klmnopqrst", 10, &used), FIFO_EAGAIN,
               "a full output takes nothing");
    tu_is_long((long)used, 0, "and says so");
    tu_is_long(fifo_chunked_encode_end(out), FIFO_EAGAIN, "nor the last-chunk");
    tu_is_long((long)fifo_read(out, buf, 15), 15, "drain 15");
    tu_is_long(fifo_chunked_encode(out, "klmnopqrst", 10, &used), FIFO_OK,
               "15 bytes of room hold a chunk of 10 with its 5 bytes of framing");
    tu_is_long((long)used, 10, "all 10 bytes went in");
    fifo_read(out, buf, sizeof(buf));
    fifo_write(in, "ABCDEFGHIJKLMNOPQRSTUVWXYZ", 26);
    tu_is_long(fifo_chunked_encode_fifo(out, in, 26, &used), FIFO_EAGAIN,
               "encode_fifo stops at the mark too");
    tu_ok(used == 15 && fifo_length(in) == 11 && fifo_length(out) == 20,
          "having moved 15 bytes, left 11, filled the output to its mark");
    fifo_read(out, buf, 2);
    tu_is_long(fifo_chunked_encode(out, "x", 1, &used), FIFO_EAGAIN,
               "room for less than the smallest chunk takes nothing");
    tu_ok(used == 0 && fifo_length(out) == 18, "and writes nothing");
    tu_check(out, "bounded encoder");
    tu_check(in, "bounded encoder input");
    fifo_destroy(in);
    fifo_destroy(out);
}

/*
 * decode(encode(x)) == x for random data, random chunk sizes, random input
 * splits, the three decoder sinks in turn, and an encoder output bounded at
 * random (drained whenever the encoder stops): the output never passes its
 * mark.
 */
static void test_round_trip(void)
{
    uint64_t rng = 7;
    int round;
    int ok = 1;
    int bounded = 1;

    for (round = 0; round < 200 && ok; ++round) {
        size_t len = tu_between(&rng, 0, 5000);
        size_t mark = round % 2 ? tu_between(&rng, 6, 900) : 0;
        unsigned char *data = malloc(len + 1);
        fifo_t *enc = fifo_create(tu_between(&rng, 1, 64), mark, 0);
        fifo_t *wire = fifo_create(512, 0, 0);
        unsigned char *bytes;
        size_t wlen, pos = 0;
        struct result r;

        tu_fill(data, len, rng);
        for (;;) {
            size_t n = tu_between(&rng, 1, 700);
            size_t used = 0;
            unsigned char buf[1024];
            int rc;

            n = n > len - pos ? len - pos : n;
            rc = pos < len ? fifo_chunked_encode(enc, data + pos, n, &used)
                           : fifo_chunked_encode_end(enc);
            bounded = bounded && (mark == 0 || fifo_length(enc) <= mark);
            while ((n = fifo_read(enc, buf, sizeof(buf))) > 0) {
                fifo_write(wire, buf, n);
            }
            if ((pos == len && rc == FIFO_OK) || (rc != FIFO_OK && rc != FIFO_EAGAIN)) {
                break; /* the last-chunk went out, or an error */
            }
            pos += used;
        }
        tu_check(enc, "encode");
        bytes = tu_drain(wire, &wlen);
        r = decode_split(bytes, wlen, 0, rng, NULL, (enum sink)(round % SINKS));
        ok = r.status == FIFO_EOF && r.consumed == wlen && r.outlen == len
             && memcmp(r.out, data, len) == 0;
        free(r.out);
        free(bytes);
        free(data);
        fifo_destroy(enc);
        fifo_destroy(wire);
    }
    tu_ok(ok, "decode(encode(x)) == x for 200 random inputs, splits and sinks");
    tu_ok(bounded, "the encoder never wrote past its output's mark");
}

int main(void)
{
    size_t i;

    for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); ++i) {
        run_vector(&vectors[i], NULL);
    }
    test_extension_bounds();
    test_limits();
    test_error_is_final();
    test_encoder();
    test_encoder_bound();
    test_round_trip();
    tu_invariants_held("output fifos: invariants held after every decode call");
    return tu_done();
}
