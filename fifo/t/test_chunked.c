/*
 * test_chunked.c: the chunked encoder and decoder.  Every vector is decoded
 * whole, one byte at a time, and in random pieces, with tiny output
 * segments; all three must agree on status, consumed bytes, output and error.
 */
#include <stdio.h>

#include "chunked.h"
#include "testutil.h"

struct vector {
    const char *name;
    const char *in;
    size_t len;             /* 0: strlen(in) */
    int status;
    const char *out;        /* decoded data (NULL: not checked) */
    size_t consumed;        /* where decoding stopped; ALL: at the end */
};

#define ALL ((size_t)-1)

struct result {
    int status;
    size_t consumed;
    unsigned char *out;
    size_t outlen;
    const char *error;
};

/* Decodes in, split into pieces of piece bytes (0: random sizes). */
static struct result decode_split(const unsigned char *in, size_t len, size_t piece,
                                  uint64_t seed, const fifo_chunked_limits_t *lim)
{
    fifo_chunked_decoder_t *dec = fifo_chunked_decoder_create(lim);
    fifo_t *out = fifo_create(3, 0, 0);
    struct result r;
    size_t pos = 0;
    uint64_t rng = seed | 1;

    r.status = FIFO_OK;
    while (r.status == FIFO_OK && pos < len) {
        size_t n = piece != 0 ? piece : tu_between(&rng, 1, 17);
        size_t used = 0;
        if (n > len - pos)
            n = len - pos;
        r.status = fifo_chunked_decode(dec, in + pos, n, &used, out);
        tu_check(out, "decode");
        pos += used;
        if (r.status == FIFO_OK && used != n)
            r.status = 999;     /* the decoder must take all it can use */
    }
    r.consumed = pos;
    r.error = fifo_chunked_decoder_error(dec);
    r.out = tu_drain(out, &r.outlen);
    fifo_chunked_decoder_destroy(dec);
    fifo_destroy(out);
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
    struct result whole = decode_split(in, len, len == 0 ? 1 : len, 0, lim);
    struct result bytes = decode_split(in, len, 1, 0, lim);
    struct result pieces = decode_split(in, len, 0, 42, lim);

    tap_ok(whole.status == v->status && whole.consumed == consumed
           && (v->out == NULL || (whole.outlen == strlen(v->out)
                                  && memcmp(whole.out, v->out, whole.outlen) == 0)),
           "%s", v->name);
    if (whole.status != v->status || whole.consumed != consumed)
        tap_diag("status %d (%s) consumed %zu; want %d consumed %zu", whole.status,
                 whole.error ? whole.error : "-", whole.consumed, v->status, consumed);
    tap_ok(same_result(&whole, &bytes) && same_result(&whole, &pieces),
           "%s: same result byte by byte and in pieces", v->name);
    free(whole.out);
    free(bytes.out);
    free(pieces.out);
}

static const struct vector vectors[] = {
    /* valid bodies */
    { "empty body", "0\r\n\r\n", 0, FIFO_EOF, "", ALL },
    { "one chunk", "5\r\nhello\r\n0\r\n\r\n", 0, FIFO_EOF, "hello", ALL },
    { "two chunks, upper and lower case hex", "A\r\n0123456789\r\nb\r\nabcdefghijk\r\n0\r\n\r\n",
      0, FIFO_EOF, "0123456789abcdefghijk", ALL },
    { "leading zeros", "0005\r\nhello\r\n000\r\n\r\n", 0, FIFO_EOF, "hello", ALL },
    { "chunk data holding CR and LF", "4\r\n\r\n\r\n\r\n0\r\n\r\n", 0, FIFO_EOF, "\r\n\r\n", ALL },
    { "extensions: name, token value, quoted value", "5;a=b;c;d=\"x\\\"y;z\"\r\nhello\r\n0;last\r\n\r\n",
      0, FIFO_EOF, "hello", ALL },
    { "extensions with BWS around ';' and '='", "5 ; a = b\t;\tc\r\nhello\r\n0\r\n\r\n",
      0, FIFO_EOF, "hello", ALL },
    { "trailer fields", "5\r\nhello\r\n0\r\nX-Sum: 1 2\r\nEmpty:\r\n\r\n", 0, FIFO_EOF, "hello", ALL },
    { "bytes after the body are not consumed", "1\r\nx\r\n0\r\n\r\nGET / HTTP/1.1", 0, FIFO_EOF,
      "x", 11 },
    { "largest allowed size still needs data", "7fffffffffffffff\r\nab", 0, FIFO_OK, "ab", ALL },
    { "incomplete body is not an error yet", "5\r\nhel", 0, FIFO_OK, "hel", ALL },

    /* CVE-2013-2028: chunk-size overflow */
    { "CVE-2013-2028: 2^64+ size is refused", "10000000000000000\r\n", 0, FIFO_ELIMIT, "", 16 },
    { "CVE-2013-2028: 2^63 is refused (signed overflow)", "8000000000000000\r\n", 0, FIFO_ELIMIT,
      "", 15 },
    { "CVE-2013-2028: many f's are refused", "ffffffffffffffffffffffff\r\n", 0, FIFO_ELIMIT, "", 15 },
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
    { "CVE-2016-8743: LF alone after chunk data", "5\r\nhello\n0\r\n\r\n", 0, FIFO_EPROTO,
      "hello", 8 },
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

/* CVE-2024-22019: one huge extension; CVE-2023-39326: many medium ones. */
static void test_extension_bounds(void)
{
    size_t cap = 64 * 1024;
    char *in = malloc(cap);
    size_t len = 0;
    struct vector v;
    int i;

    len = (size_t)snprintf(in, cap, "1;");
    memset(in + len, 'a', 5000);
    len += 5000;
    memcpy(in + len, "\r\nx\r\n0\r\n\r\n", 10);
    len += 10;
    v.name = "CVE-2024-22019: a 5000-byte extension exceeds the 4096-byte line bound";
    v.in = in;
    v.len = len;
    v.status = FIFO_ELIMIT;
    v.out = "";
    v.consumed = 4096;
    run_vector(&v, NULL);

    /* 6 chunks with 3000-byte extensions: each line fits, the body's total does not */
    len = 0;
    for (i = 0; i < 6; ++i) {
        len += (size_t)snprintf(in + len, cap - len, "1;");
        memset(in + len, 'b', 3000);
        len += 3000;
        len += (size_t)snprintf(in + len, cap - len, "\r\nx\r\n");
    }
    len += (size_t)snprintf(in + len, cap - len, "0\r\n\r\n");
    v.name = "CVE-2023-39326: extension bytes are bounded over the whole body";
    v.len = len;
    v.out = "xxxxx";
    v.consumed = 5 * 3007 + 1 + (16384 - 5 * 3001);
    run_vector(&v, NULL);

    /* the same body passes with a larger total */
    {
        fifo_chunked_limits_t lim = { 0, 1 << 20, 0, 0 };
        v.name = "a raised extension total accepts it";
        v.status = FIFO_EOF;
        v.out = "xxxxxx";
        v.consumed = ALL;
        run_vector(&v, &lim);
    }

    len = (size_t)snprintf(in, cap, "0\r\nX: ");
    memset(in + len, 'c', 9000);
    len += 9000;
    memcpy(in + len, "\r\n\r\n", 4);
    len += 4;
    v.name = "a trailer section over 8192 bytes is refused";
    v.len = len;
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

    tap_ok(fifo_chunked_decoder_error(dec) == NULL, "no error before input");
    tap_is_long(fifo_chunked_decode(dec, "5\nhello", 7, &used, out), FIFO_EPROTO, "bare LF fails");
    tap_is_str(fifo_chunked_decoder_error(dec), "bare LF after chunk-size", "the error says why");
    tap_is_long((long)fifo_chunked_decoder_offset(dec), 1, "and where");
    tap_is_long(fifo_chunked_decode(dec, "0\r\n\r\n", 5, &used, out), FIFO_EPROTO,
                "valid input after an error still fails");
    tap_is_long((long)used, 0, "and is not consumed");
    tap_is_long((long)fifo_length(out), 0, "nothing was output");
    fifo_chunked_decoder_destroy(dec);
    fifo_destroy(out);
}

static void test_encoder(void)
{
    fifo_t *out = fifo_create(3, 0, 0);
    fifo_t *in = fifo_create(2, 0, 0);
    unsigned char *got;
    size_t len;
    char big[300];

    fifo_chunked_encode(out, "hello", 5);
    fifo_chunked_encode(out, "", 0);
    memset(big, 'z', sizeof(big));
    fifo_chunked_encode(out, big, 300);
    fifo_write(in, "abc", 3);
    tap_is_long(fifo_chunked_encode_fifo(out, in, 4), FIFO_EINVAL,
                "encode_fifo refuses more than the fifo holds");
    tap_is_long(fifo_chunked_encode_fifo(out, in, 2), FIFO_OK, "encode_fifo moves part");
    tap_is_long((long)fifo_length(in), 1, "leaving the rest");
    fifo_chunked_encode_end(out);
    tu_check(out, "encode");
    tu_check(in, "encode_fifo");
    got = tu_drain(out, &len);
    tap_ok(len == 3 + 5 + 2 + 5 + 300 + 2 + 3 + 2 + 2 + 5
           && memcmp(got, "5\r\nhello\r\n12c\r\nzz", 17) == 0
           && memcmp(got + len - 12, "2\r\nab\r\n0\r\n\r\n", 12) == 0,
           "encoder output: lowercase hex sizes, empty writes skipped, last-chunk");
    free(got);
    fifo_destroy(in);
    fifo_destroy(out);
}

/* decode(encode(x)) == x for random data, random chunk sizes, random input splits. */
static void test_round_trip(void)
{
    uint64_t rng = 7;
    int round;
    int ok = 1;

    for (round = 0; round < 200 && ok; ++round) {
        size_t len = tu_between(&rng, 0, 5000);
        unsigned char *data = malloc(len + 1);
        fifo_t *enc = fifo_create(tu_between(&rng, 1, 64), 0, 0);
        unsigned char *wire;
        size_t wlen, pos = 0;
        struct result r;

        tu_fill(data, len, rng);
        while (pos < len) {
            size_t n = tu_between(&rng, 1, 700);
            n = n > len - pos ? len - pos : n;
            fifo_chunked_encode(enc, data + pos, n);
            pos += n;
        }
        fifo_chunked_encode_end(enc);
        tu_check(enc, "encode");
        wire = tu_drain(enc, &wlen);
        r = decode_split(wire, wlen, 0, rng, NULL);
        ok = r.status == FIFO_EOF && r.consumed == wlen && r.outlen == len
             && memcmp(r.out, data, len) == 0;
        free(r.out);
        free(wire);
        free(data);
        fifo_destroy(enc);
    }
    tap_ok(ok, "decode(encode(x)) == x for 200 random inputs and splits");
}

int main(void)
{
    size_t i;

    for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); ++i)
        run_vector(&vectors[i], NULL);
    test_extension_bounds();
    test_limits();
    test_error_is_final();
    test_encoder();
    test_round_trip();
    tu_invariants_held("output fifos: invariants held after every decode call");
    return tap_done();
}
