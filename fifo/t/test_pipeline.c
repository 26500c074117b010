/*
 * test_pipeline.c: bytes -> deflate -> chunked encoder, and back through
 * chunked decoder -> inflate, for empty, 1-byte, segment-boundary and
 * 100 MB inputs; plus the pipeline's error rules and a custom stage.
 */
#include <ctype.h>
#include <stdio.h>

#include "pipeline.h"
#include "testutil.h"

/* Moves every byte of src's output into dst's input, in random pieces, and runs dst. */
static int transfer(fifo_pipeline_t *src, fifo_pipeline_t *dst, uint64_t *rng, int finish)
{
    fifo_t *from = fifo_pipeline_output(src);
    unsigned char buf[70000];
    int rc = FIFO_OK;

    while (rc == FIFO_OK && fifo_length(from) > 0) {
        size_t n = fifo_read(from, buf, tu_between(rng, 1, sizeof(buf)));
        rc = fifo_pipeline_write(dst, buf, n);
    }
    if (rc == FIFO_OK && finish)
        rc = fifo_pipeline_run(dst, FIFO_PIPELINE_FINISH);
    return rc;
}

/*
 * Sends len bytes of data through encode = [deflate?] -> chunked and
 * decode = chunked -> [inflate?], feeding the encoder in random pieces and
 * draining both ends as it goes; returns 1 when the output equals the input.
 */
static int round_trip(const unsigned char *data, size_t len, size_t seg, int format,
                      uint64_t seed, const char *name)
{
    fifo_pipeline_t *enc = fifo_pipeline_create(seg);
    fifo_pipeline_t *dec = fifo_pipeline_create(seg);
    uint64_t rng = seed | 1;
    size_t pos = 0;
    size_t checked = 0;
    size_t max_piece = len / 50 + 2;
    int rc = FIFO_OK;
    int same = 1;

    if (format != 0)
        fifo_pipeline_add_deflate(enc, FIFO_DEFLATE_COMPRESS, format, 1);
    fifo_pipeline_add_chunked_encoder(enc);
    fifo_pipeline_add_chunked_decoder(dec, NULL);
    if (format != 0)
        fifo_pipeline_add_deflate(dec, FIFO_DEFLATE_DECOMPRESS, format, 0);
    while (rc == FIFO_OK && pos <= len) {
        size_t n = tu_between(&rng, 0, max_piece);
        int last = n >= len - pos;
        fifo_t *out;
        struct iovec iov[8];
        size_t i, k;

        n = last ? len - pos : n;
        rc = fifo_pipeline_write(enc, data + pos, n);
        pos += n;
        if (rc == FIFO_OK && (last || tu_rand(&rng) % 8 == 0))
            rc = fifo_pipeline_run(enc, last ? FIFO_PIPELINE_FINISH : FIFO_PIPELINE_FLUSH);
        if (rc == FIFO_OK)
            rc = transfer(enc, dec, &rng, last);
        /* compare what came out so far, zero-copy, then drop it */
        out = fifo_pipeline_output(dec);
        while ((k = fifo_peek_iov(out, iov, 8, SIZE_MAX)) > 0 && same) {
            for (i = 0; i < k && same; ++i) {
                same = checked + iov[i].iov_len <= len
                       && memcmp(iov[i].iov_base, data + checked, iov[i].iov_len) == 0;
                checked += iov[i].iov_len;
                fifo_skip(out, iov[i].iov_len);
            }
        }
        tu_check(out, name);
        tu_check(fifo_pipeline_input(enc), name);
        if (last)
            break;
    }
    if (rc != FIFO_OK)
        tap_diag("%s: status %d (%s)", name, rc, fifo_strerror(rc));
    fifo_pipeline_destroy(enc);
    fifo_pipeline_destroy(dec);
    return rc == FIFO_OK && same && checked == len;
}

static void test_round_trips(void)
{
    enum { SEG = 16 };
    static const size_t sizes[] = { 0, 1, SEG - 1, SEG, SEG + 1, 2 * SEG, 3 * SEG + 5, 10000 };
    static const int formats[] = { 0, FIFO_DEFLATE_GZIP, FIFO_DEFLATE_RAW };
    static const char *names[] = { "identity", "gzip", "raw deflate" };
    unsigned char data[10000];
    size_t s, f;

    tu_fill(data, sizeof(data) / 2, 3);
    memset(data + sizeof(data) / 2, 'q', sizeof(data) / 2);
    for (f = 0; f < 3; ++f)
        for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); ++s)
            tap_ok(round_trip(data, sizes[s], SEG, formats[f], sizes[s] + f, names[f]),
                   "%s -> chunked -> back: %zu bytes with %d-byte segments", names[f], sizes[s],
                   SEG);
}

/* 100 MB of text-like bytes: words drawn from a small vocabulary. */
static void test_100mb(void)
{
    static const char *words[] = { "stream ", "fifo ", "chunk ", "segment ", "apache ",
                                   "deflate ", "pipe\n", "42 ", "x-sendfile ", "zero-copy " };
    size_t len = 100 * 1000 * 1000;
    unsigned char *data = malloc(len);
    uint64_t rng = 99;
    size_t pos = 0;
    double t0;

    while (pos < len) {
        const char *w = words[tu_rand(&rng) % 10];
        size_t n = strlen(w);
        n = n > len - pos ? len - pos : n;
        memcpy(data + pos, w, n);
        pos += n;
    }
    t0 = tu_now();
    tap_ok(round_trip(data, len, 1 << 20, FIFO_DEFLATE_GZIP, 5, "100 MB gzip"),
           "gzip -> chunked -> back: 100 MB with 1 MiB segments");
    tap_diag("100 MB gzip round trip: %.2f s", tu_now() - t0);
    t0 = tu_now();
    tap_ok(round_trip(data, len, 65536, 0, 6, "100 MB identity"),
           "chunked -> back: 100 MB with 64 KiB segments");
    tap_diag("100 MB chunked round trip: %.2f s", tu_now() - t0);
    free(data);
}

static void test_errors(void)
{
    fifo_pipeline_t *p = fifo_pipeline_create(8);

    fifo_pipeline_add_chunked_decoder(p, NULL);
    tap_is_long(fifo_pipeline_write(p, "1\r\nx\r\n0\r\n\r\nX", 12), FIFO_EPROTO,
                "bytes after the end of a chunked body are an error");
    tap_is_long(fifo_pipeline_write(p, "", 0), FIFO_EPROTO, "the pipeline's error is final");
    fifo_pipeline_destroy(p);

    p = fifo_pipeline_create(8);
    fifo_pipeline_add_chunked_decoder(p, NULL);
    tap_is_long(fifo_pipeline_write(p, "5\r\nhel", 7), FIFO_OK, "a partial body is fine so far");
    tap_is_long(fifo_pipeline_run(p, FIFO_PIPELINE_FINISH), FIFO_EPROTO,
                "but finishing inside it is an error (truncation)");
    fifo_pipeline_destroy(p);

    p = fifo_pipeline_create(8);
    tap_is_long(fifo_pipeline_add(p, NULL, NULL, p), FIFO_EINVAL, "a stage needs a function");
    tap_ok(fifo_pipeline_input(p) == fifo_pipeline_output(p), "no stages: input is output");
    fifo_pipeline_destroy(p);
}

/* A custom stage: upper-cases ASCII, showing the stage contract. */
static int upper_run(void *ctx, fifo_t *in, fifo_t *out, int flush)
{
    unsigned char buf[64];
    size_t n;
    int rc = FIFO_OK;

    (void)ctx;
    while (rc == FIFO_OK && (n = fifo_read(in, buf, sizeof(buf))) > 0) {
        size_t i;
        for (i = 0; i < n; ++i)
            buf[i] = (unsigned char)toupper(buf[i]);
        rc = fifo_write(out, buf, n);
    }
    return rc == FIFO_OK && flush == FIFO_PIPELINE_FINISH ? FIFO_EOF : rc;
}

static void test_custom_stage(void)
{
    fifo_pipeline_t *p = fifo_pipeline_create(4);
    static int ctx;
    unsigned char buf[64];
    size_t n;

    fifo_pipeline_add(p, upper_run, NULL, &ctx);
    fifo_pipeline_add_chunked_encoder(p);
    fifo_pipeline_write(p, "hello", 5);
    tap_is_long(fifo_pipeline_run(p, FIFO_PIPELINE_FINISH), FIFO_OK, "custom stage then encoder");
    n = fifo_read(fifo_pipeline_output(p), buf, sizeof(buf));
    buf[n] = '\0';
    tap_is_str((const char *)buf, "5\r\nHELLO\r\n0\r\n\r\n",
               "a segment's worth or more makes a chunk at once; finish adds the last-chunk");
    fifo_pipeline_destroy(p);
}

int main(void)
{
    test_round_trips();
    test_errors();
    test_custom_stage();
    test_100mb();
    tu_invariants_held("pipeline fifos: invariants held after every step");
    return tap_done();
}
