/*
 * test_pipeline.c: bytes -> deflate -> chunked encoder, and back through
 * chunked decoder -> inflate, for empty, 1-byte, segment-boundary and
 * 100 MB inputs, unbounded and with every fifo bounded; plus the
 * pipeline's error rules and a custom stage.
 */
#include <ctype.h>
#include <stdio.h>

#include "pipeline.h"
#include "testutil.h"

/*
 * A pass-through stage that watches the bound: it records the most bytes
 * it ever found in the fifo it reads (the previous stage's output) and in
 * the fifo it writes, and respects the latter's mark as a stage must.
 */
struct probe {
    size_t most;
};

static int probe_run(void *ctx, fifo_t *in, fifo_t *out, int flush)
{
    struct probe *pr = ctx;
    struct iovec iov;
    int rc = FIFO_OK;

    pr->most = fifo_length(in) > pr->most ? fifo_length(in) : pr->most;
    while (rc == FIFO_OK && fifo_peek_iov(in, &iov, 1, fifo_space(out)) == 1) {
        rc = fifo_write(out, iov.iov_base, iov.iov_len);
        fifo_skip(in, iov.iov_len);
    }
    pr->most = fifo_length(out) > pr->most ? fifo_length(out) : pr->most;
    if (rc == FIFO_OK && fifo_length(in) > 0) {
        rc = FIFO_EAGAIN;
    }
    return rc == FIFO_OK && flush == FIFO_PIPELINE_FINISH ? FIFO_EOF : rc;
}

/* The pipelines of one round trip and what the test watches in them. */
struct trip {
    fifo_pipeline_t *enc;
    fifo_pipeline_t *dec;
    struct probe enc_probe;
    struct probe dec_probe;
    size_t mark;
    size_t edge_most; /* the most seen in an input or output fifo */
    const unsigned char *data;
    size_t len;
    size_t checked; /* bytes of data compared with the output */
    int same;
};

static void note_edges(struct trip *t)
{
    fifo_t *edges[4];
    size_t i;

    edges[0] = fifo_pipeline_input(t->enc);
    edges[1] = fifo_pipeline_output(t->enc);
    edges[2] = fifo_pipeline_input(t->dec);
    edges[3] = fifo_pipeline_output(t->dec);
    for (i = 0; i < 4; ++i) {
        size_t n = fifo_length(edges[i]);
        t->edge_most = n > t->edge_most ? n : t->edge_most;
        tu_check(edges[i], "a pipeline's edge");
    }
}

/* Compares what came out of the decoder so far, zero-copy, then drops it. */
static void check_output(struct trip *t)
{
    fifo_t *out = fifo_pipeline_output(t->dec);
    struct iovec iov[8];
    size_t i, k;

    note_edges(t);
    while ((k = fifo_peek_iov(out, iov, 8, SIZE_MAX)) > 0 && t->same) {
        for (i = 0; i < k && t->same; ++i) {
            t->same = t->checked + iov[i].iov_len <= t->len
                      && memcmp(iov[i].iov_base, t->data + t->checked, iov[i].iov_len) == 0;
            t->checked += iov[i].iov_len;
            fifo_skip(out, iov[i].iov_len);
        }
    }
}

static int feed(struct trip *t, fifo_pipeline_t *p, const unsigned char *data, size_t n,
                uint64_t *rng);

/* Empties a pipeline's output: the encoder's into the decoder in random
 * pieces, the decoder's into the comparison. */
static int drain(struct trip *t, const fifo_pipeline_t *p, uint64_t *rng)
{
    fifo_t *from = fifo_pipeline_output(t->enc);
    unsigned char buf[70000];
    int rc = FIFO_OK;

    while (p == t->enc && rc == FIFO_OK && fifo_length(from) > 0) {
        size_t n = fifo_read(from, buf, tu_between(rng, 1, sizeof(buf)));
        rc = feed(t, t->dec, buf, n, rng);
    }
    check_output(t);
    return rc;
}

/* Writes n bytes into a pipeline, draining it whenever its output fills. */
static int feed(struct trip *t, fifo_pipeline_t *p, const unsigned char *data, size_t n,
                uint64_t *rng)
{
    size_t done = 0;
    int rc = FIFO_OK;

    while (rc == FIFO_OK && done < n) {
        size_t w = 0;
        rc = fifo_pipeline_write(p, data + done, n - done, &w);
        done += w;
        note_edges(t);
        if (rc == FIFO_OK || rc == FIFO_EAGAIN) {
            rc = drain(t, p, rng);
        }
    }
    return rc;
}

/* Runs a pipeline with a flush until it is through, draining it. */
static int run_through(struct trip *t, fifo_pipeline_t *p, int flush, uint64_t *rng)
{
    int rc = FIFO_EAGAIN;

    while (rc == FIFO_EAGAIN) {
        rc = fifo_pipeline_run(p, flush);
        note_edges(t);
        if (rc == FIFO_OK || rc == FIFO_EAGAIN) {
            int drained = drain(t, p, rng);
            rc = drained != FIFO_OK ? drained : rc;
        }
    }
    return rc;
}

/*
 * Sends len bytes of data through encode = [deflate?] -> probe -> chunked
 * and decode = chunked -> probe -> [inflate?], every fifo bounded by mark
 * (0: none), feeding the encoder in random pieces with random flushes and
 * draining both ends as it goes; returns 1 when the output equals the input
 * and no fifo held more than the mark.
 */
static int round_trip(const unsigned char *data, size_t len, size_t seg, size_t mark, int format,
                      uint64_t seed, const char *name)
{
    struct trip t;
    uint64_t rng = seed | 1;
    size_t pos = 0;
    size_t max_piece = len / 50 + 2;
    int rc = FIFO_OK;

    memset(&t, 0, sizeof(t));
    t.enc = fifo_pipeline_create(seg, mark);
    t.dec = fifo_pipeline_create(seg, mark);
    t.mark = mark;
    t.data = data;
    t.len = len;
    t.same = 1;
    if (format != 0) {
        fifo_pipeline_add_deflate(t.enc, FIFO_DEFLATE_COMPRESS, format, 1);
    }
    fifo_pipeline_add(t.enc, probe_run, NULL, &t.enc_probe);
    fifo_pipeline_add_chunked_encoder(t.enc);
    fifo_pipeline_add_chunked_decoder(t.dec, NULL);
    fifo_pipeline_add(t.dec, probe_run, NULL, &t.dec_probe);
    if (format != 0) {
        fifo_pipeline_add_deflate(t.dec, FIFO_DEFLATE_DECOMPRESS, format, 0);
    }
    while (rc == FIFO_OK && pos < len) {
        size_t n = tu_between(&rng, 0, max_piece);
        n = n > len - pos ? len - pos : n;
        rc = feed(&t, t.enc, data + pos, n, &rng);
        pos += n;
        if (rc == FIFO_OK && tu_rand(&rng) % 8 == 0) {
            rc = run_through(&t, t.enc, FIFO_PIPELINE_FLUSH, &rng);
        }
    }
    if (rc == FIFO_OK) {
        rc = run_through(&t, t.enc, FIFO_PIPELINE_FINISH, &rng);
    }
    if (rc == FIFO_OK) {
        rc = run_through(&t, t.dec, FIFO_PIPELINE_FINISH, &rng);
    }
    if (rc != FIFO_OK) {
        tu_diag("%s: status %d (%s)", name, rc, fifo_strerror(rc));
    }
    if (mark != 0 && (t.edge_most > mark || t.enc_probe.most > mark || t.dec_probe.most > mark)) {
        tu_diag("%s: a fifo held more than %zu bytes: %zu at the edges, %zu and %zu inside", name,
                mark, t.edge_most, t.enc_probe.most, t.dec_probe.most);
        t.same = 0;
    }
    fifo_pipeline_destroy(t.enc);
    fifo_pipeline_destroy(t.dec);
    return rc == FIFO_OK && t.same && t.checked == len;
}

static void test_round_trips(void)
{
    enum { SEG = 16 };
    static const size_t sizes[] = { 0, 1, SEG - 1, SEG, SEG + 1, 2 * SEG, 3 * SEG + 5, 10000 };
    static const size_t marks[] = { 0, 40 };
    static const int formats[] = { 0, FIFO_DEFLATE_GZIP, FIFO_DEFLATE_RAW };
    static const char *names[] = { "identity", "gzip", "raw deflate" };
    unsigned char data[10000];
    size_t s, f, m;

    tu_fill(data, sizeof(data) / 2, 3);
    memset(data + sizeof(data) / 2, 'q', sizeof(data) / 2);
    for (m = 0; m < 2; ++m) {
        for (f = 0; f < 3; ++f) {
            for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); ++s) {
                tu_ok(round_trip(data, sizes[s], SEG, marks[m], formats[f], sizes[s] + f, names[f]),
                      "%s -> chunked -> back: %zu bytes, %d-byte segments, high water %zu%s",
                      names[f], sizes[s], SEG, marks[m],
                      marks[m] != 0 ? ", never passed" : " (none)");
            }
        }
    }
}

/* 100 MB of text-like bytes: words drawn from a small vocabulary. */
static void test_100mb(void)
{
    static const char *words[] = { "stream ",  "fifo ",  "chunk ", "segment ",    "apache ",
                                   "deflate ", "pipe\n", "42 ",    "x-sendfile ", "zero-copy " };
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
    tu_ok(round_trip(data, len, 1 << 20, 0, FIFO_DEFLATE_GZIP, 5, "100 MB gzip"),
          "gzip -> chunked -> back: 100 MB with 1 MiB segments");
    tu_diag("100 MB gzip round trip: %.2f s", tu_now() - t0);
    t0 = tu_now();
    tu_ok(round_trip(data, len, 65536, 0, 0, 6, "100 MB identity"),
          "chunked -> back: 100 MB with 64 KiB segments");
    tu_diag("100 MB chunked round trip: %.2f s", tu_now() - t0);
    t0 = tu_now();
    tu_ok(round_trip(data, len / 10, 65536, 256 * 1024, FIFO_DEFLATE_GZIP, 7, "10 MB bounded"),
          "gzip -> chunked -> back: 10 MB with 64 KiB segments, every fifo within 256 KiB");
    tu_diag("10 MB bounded gzip round trip: %.2f s", tu_now() - t0);
    free(data);
}

static void test_errors(void)
{
    fifo_pipeline_t *p = fifo_pipeline_create(8, 0);
    size_t written = 99;

    fifo_pipeline_add_chunked_decoder(p, NULL);
    tu_is_long(fifo_pipeline_write(p, "1\r\nx\r\n0\r\n\r\nX", 12, &written), FIFO_EPROTO,
               "bytes after the end of a chunked body are an error");
    tu_is_long(fifo_pipeline_write(p, "", 0, &written), FIFO_EPROTO,
               "the pipeline's error is final");
    tu_is_long((long)written, 0, "and takes nothing");
    fifo_pipeline_destroy(p);

    p = fifo_pipeline_create(8, 0);
    fifo_pipeline_add_chunked_decoder(p, NULL);
    tu_is_long(fifo_pipeline_write(p, "5\r\nhel", 7, &written), FIFO_OK,
               "a partial body is fine so far");
    tu_is_long(fifo_pipeline_run(p, FIFO_PIPELINE_FINISH), FIFO_EPROTO,
               "but finishing inside it is an error (truncation)");
    fifo_pipeline_destroy(p);

    p = fifo_pipeline_create(8, 0);
    tu_is_long(fifo_pipeline_add(p, NULL, NULL, p), FIFO_EINVAL, "a stage needs a function");
    tu_ok(fifo_pipeline_input(p) == fifo_pipeline_output(p), "no stages: input is output");
    fifo_pipeline_destroy(p);
    tu_ok(fifo_pipeline_create(0, 0) == NULL, "segment size 0 is refused");
}

/* A full output stops a write; draining it lets the rest in. */
static void test_full_output(void)
{
    static const char body[] = "1e\r\n0123456789abcdefghijklmnopqrst\r\n0\r\n\r\n";
    fifo_pipeline_t *p = fifo_pipeline_create(4, 10);
    fifo_t *out;
    unsigned char got[64];
    size_t have = 0;
    size_t pos = 0;
    size_t written = 0;
    int rc;

    fifo_pipeline_add_chunked_decoder(p, NULL);
    out = fifo_pipeline_output(p);
    tu_is_long(fifo_pipeline_write(p, body, 41, &written), FIFO_EAGAIN,
               "a 30-byte chunk cannot get through a pipeline bounded at 10");
    tu_is_long((long)fifo_length(out), 10, "the output is full");
    tu_is_long((long)fifo_length(fifo_pipeline_input(p)), 10, "so is the input");
    tu_is_long((long)written, 24, "having taken the size line, 10 data bytes and 10 more");
    pos = written;
    do {
        have += fifo_read(out, got + have, sizeof(got) - have);
        rc = fifo_pipeline_write(p, body + pos, 41 - pos, &written);
        pos += written;
    } while (rc == FIFO_EAGAIN);
    tu_ok(rc == FIFO_OK && pos == 41, "draining the output lets the rest in");
    do {
        have += fifo_read(out, got + have, sizeof(got) - have);
        rc = fifo_pipeline_run(p, FIFO_PIPELINE_FINISH);
    } while (rc == FIFO_EAGAIN);
    have += fifo_read(out, got + have, sizeof(got) - have);
    tu_is_long(rc, FIFO_OK, "then the body completes");
    tu_ok(have == 30 && memcmp(got, "0123456789abcdefghijklmnopqrst", 30) == 0,
          "and every data byte came out, in order");
    fifo_pipeline_destroy(p);
}

/* A custom stage: upper-cases ASCII, showing the stage contract (a full
 * output means FIFO_EAGAIN, a finish with everything out FIFO_EOF). */
static int upper_run(void *ctx, fifo_t *in, fifo_t *out, int flush)
{
    unsigned char buf[64];
    size_t n;
    int rc = FIFO_OK;

    (void)ctx;
    while (rc == FIFO_OK
           && (n = fifo_read(in, buf, fifo_space(out) < 64 ? fifo_space(out) : 64)) > 0) {
        size_t i;
        for (i = 0; i < n; ++i) {
            buf[i] = (unsigned char)toupper(buf[i]);
        }
        rc = fifo_write(out, buf, n);
    }
    if (rc == FIFO_OK && fifo_length(in) > 0) {
        rc = FIFO_EAGAIN;
    }
    return rc == FIFO_OK && flush == FIFO_PIPELINE_FINISH ? FIFO_EOF : rc;
}

static void test_custom_stage(void)
{
    fifo_pipeline_t *p = fifo_pipeline_create(4, 0);
    static int ctx;
    unsigned char buf[64];
    size_t n;

    fifo_pipeline_add(p, upper_run, NULL, &ctx);
    fifo_pipeline_add_chunked_encoder(p);
    fifo_pipeline_write(p, "hello", 5, &n);
    n = fifo_read(fifo_pipeline_output(p), buf, sizeof(buf));
    buf[n] = '\0';
    tu_is_str((const char *)buf, "5\r\nHELLO\r\n",
              "a segment's worth or more makes a chunk at once, without a flush");
    tu_is_long(fifo_pipeline_run(p, FIFO_PIPELINE_FINISH), FIFO_OK, "finish");
    n = fifo_read(fifo_pipeline_output(p), buf, sizeof(buf));
    buf[n] = '\0';
    tu_is_str((const char *)buf, "0\r\n\r\n", "finish adds the last-chunk");
    fifo_pipeline_destroy(p);
}

int main(void)
{
    test_round_trips();
    test_errors();
    test_full_output();
    test_custom_stage();
    test_100mb();
    tu_invariants_held("pipeline fifos: invariants held after every step");
    return tu_done();
}
