/*
 * test_deflate.c: the zlib stage: round trips in each format, flushing on
 * request, corrupt and truncated input, and the compression-bomb bound.
 */
#include <stdio.h>

#include "deflate.h"
#include "testutil.h"

/* Compresses data with the given format; returns the compressed fifo. */
static fifo_t *compress(int format, const unsigned char *data, size_t len, size_t seg)
{
    fifo_deflate_t *z = fifo_deflate_create(FIFO_DEFLATE_COMPRESS, format, 6);
    fifo_t *out = fifo_create(seg, 0, 0);
    size_t used = 0;
    int rc = fifo_deflate_update(z, data, len, &used, out, FIFO_DEFLATE_FINISH);

    tu_check(out, "compress");
    if (rc != FIFO_EOF || used != len) {
        tu_diag("compress: rc %d used %zu of %zu", rc, used, len);
    }
    fifo_deflate_destroy(z);
    return out;
}

/* Inflates the whole fifo in pieces of piece bytes. */
static int decompress(int format, fifo_t *in, size_t piece, fifo_t *out)
{
    fifo_deflate_t *z = fifo_deflate_create(FIFO_DEFLATE_DECOMPRESS, format, 0);
    unsigned char buf[4096];
    int rc = FIFO_OK;

    while (rc == FIFO_OK) {
        size_t n = fifo_peek(in, buf, piece < sizeof(buf) ? piece : sizeof(buf));
        size_t used = 0;
        int flush = n == fifo_length(in) ? FIFO_DEFLATE_FINISH : FIFO_DEFLATE_NO_FLUSH;
        rc = fifo_deflate_update(z, buf, n, &used, out, flush);
        fifo_skip(in, used);
        tu_check(out, "decompress");
    }
    fifo_deflate_destroy(z);
    return rc;
}

static void test_round_trips(void)
{
    static const int formats[] = { FIFO_DEFLATE_GZIP, FIFO_DEFLATE_ZLIB, FIFO_DEFLATE_RAW };
    static const char *names[] = { "gzip", "zlib", "raw deflate" };
    static const size_t sizes[] = { 0, 1, 1000, 300000 };
    size_t f, s;

    for (f = 0; f < 3; ++f) {
        for (s = 0; s < 4; ++s) {
            size_t len = sizes[s];
            unsigned char *data = malloc(len + 1);
            fifo_t *packed, *out;
            unsigned char *got;
            size_t glen;
            int rc;

            /* half random, half repetitive, so both code paths of deflate run */
            tu_fill(data, len / 2, len);
            memset(data + len / 2, 'r', len - len / 2);
            packed = compress(formats[f], data, len, 7);
            out = fifo_create(5, 0, 0);
            rc = decompress(formats[f], packed, 1 + len % 13, out);
            got = tu_drain(out, &glen);
            tu_ok(rc == FIFO_EOF && glen == len && memcmp(got, data, len) == 0,
                  "%s round trip of %zu bytes", names[f], len);
            free(got);
            free(data);
            fifo_destroy(packed);
            fifo_destroy(out);
        }
    }
}

/* After a sync flush, the peer can decode everything written so far. */
static void test_sync_flush(void)
{
    fifo_deflate_t *def = fifo_deflate_create(FIFO_DEFLATE_COMPRESS, FIFO_DEFLATE_GZIP, 9);
    fifo_deflate_t *inf = fifo_deflate_create(FIFO_DEFLATE_DECOMPRESS, FIFO_DEFLATE_GZIP, 0);
    fifo_t *wire = fifo_create(16, 0, 0);
    fifo_t *out = fifo_create(16, 0, 0);
    size_t used;
    unsigned char buf[32];

    fifo_deflate_update(def, "hello ", 6, &used, wire, FIFO_DEFLATE_NO_FLUSH);
    fifo_deflate_update_fifo(inf, wire, out, FIFO_DEFLATE_NO_FLUSH);
    tu_is_long((long)fifo_length(out), 0, "without a flush, deflate holds the bytes back");
    fifo_deflate_update(def, "world", 5, &used, wire, FIFO_DEFLATE_SYNC_FLUSH);
    tu_is_long(fifo_deflate_update_fifo(inf, wire, out, FIFO_DEFLATE_NO_FLUSH), FIFO_OK,
               "the flushed prefix inflates");
    tu_ok(fifo_read(out, buf, sizeof(buf)) == 11 && memcmp(buf, "hello world", 11) == 0,
          "after a sync flush the peer has every byte so far");
    tu_is_long(fifo_deflate_update(def, NULL, 0, &used, wire, FIFO_DEFLATE_FINISH), FIFO_EOF,
               "finish ends the stream");
    tu_is_long(fifo_deflate_update_fifo(inf, wire, out, FIFO_DEFLATE_FINISH), FIFO_EOF,
               "the peer sees the end");
    tu_ok(fifo_deflate_total_in(def) == 11 && fifo_deflate_total_out(inf) == 11,
          "byte totals are counted");
    fifo_deflate_destroy(def);
    fifo_deflate_destroy(inf);
    fifo_destroy(wire);
    fifo_destroy(out);
}

static void test_bad_input(void)
{
    static const unsigned char hello[] = "hello, hello, hello";
    fifo_t *packed = compress(FIFO_DEFLATE_GZIP, hello, sizeof(hello), 64);
    size_t plen = fifo_length(packed);
    unsigned char buf[256];
    fifo_t *out = fifo_create(64, 0, 0);
    fifo_deflate_t *z;
    size_t used = 0;

    tu_ok(fifo_deflate_create(FIFO_DEFLATE_COMPRESS, 99, 6) == NULL, "unknown format refused");
    tu_ok(fifo_deflate_create(7, FIFO_DEFLATE_GZIP, 6) == NULL, "unknown mode refused");
    fifo_read(packed, buf, plen);

    z = fifo_deflate_create(FIFO_DEFLATE_DECOMPRESS, FIFO_DEFLATE_GZIP, 0);
    memcpy(buf + plen, "TRAILING", 8);
    tu_is_long(fifo_deflate_update(z, buf, plen + 8, &used, out, FIFO_DEFLATE_FINISH), FIFO_EOF,
               "a gzip stream followed by other bytes ends at its end");
    tu_is_long((long)used, (long)plen, "the trailing bytes are left unconsumed");
    fifo_deflate_destroy(z);

    z = fifo_deflate_create(FIFO_DEFLATE_DECOMPRESS, FIFO_DEFLATE_GZIP, 0);
    tu_is_long(fifo_deflate_update(z, buf, plen - 3, &used, out, FIFO_DEFLATE_FINISH), FIFO_EPROTO,
               "a truncated stream fails at finish");
    fifo_deflate_destroy(z);

    z = fifo_deflate_create(FIFO_DEFLATE_DECOMPRESS, FIFO_DEFLATE_GZIP, 0);
    buf[plen - 2] ^= 0x55; /* the length field of the gzip trailer */
    tu_is_long(fifo_deflate_update(z, buf, plen, &used, out, FIFO_DEFLATE_FINISH), FIFO_EPROTO,
               "a corrupt trailer fails");
    tu_is_long(fifo_deflate_update(z, hello, 5, &used, out, FIFO_DEFLATE_NO_FLUSH), FIFO_EPROTO,
               "and the error is final");
    fifo_deflate_destroy(z);

    z = fifo_deflate_create(FIFO_DEFLATE_DECOMPRESS, FIFO_DEFLATE_ZLIB, 0);
    tu_is_long(fifo_deflate_update(z, "not zlib at all", 15, &used, out, FIFO_DEFLATE_NO_FLUSH),
               FIFO_EPROTO, "garbage fails");
    fifo_deflate_destroy(z);
    tu_check(out, "bad input");
    fifo_destroy(out);
    fifo_destroy(packed);
}

/* 64 MiB of zeros compress to ~64 KiB: a ratio of ~1000 against a bound of 100. */
static int inflate_bomb(const unsigned char *bomb, size_t len, uint64_t ratio, fifo_deflate_t **inf)
{
    enum { SEG = 65536 };
    fifo_t *out = fifo_create(SEG, 0, 0);
    size_t pos = 0;
    int rc = FIFO_OK;

    *inf = fifo_deflate_create(FIFO_DEFLATE_DECOMPRESS, FIFO_DEFLATE_GZIP, 0);
    fifo_deflate_set_ratio_limit(*inf, ratio, 4096);
    while (rc == FIFO_OK && pos < len) {
        size_t used = 0;
        size_t n = len - pos < 1000 ? len - pos : 1000;
        rc = fifo_deflate_update(*inf, bomb + pos, n, &used, out, FIFO_DEFLATE_NO_FLUSH);
        pos += used;
        fifo_skip(out, fifo_length(out)); /* a consumer that keeps up */
        tu_check(out, "bomb");
    }
    fifo_destroy(out);
    return rc;
}

static void test_bomb(void)
{
    enum { ZEROS = 1 << 20, TIMES = 64, SEG = 65536 };
    fifo_deflate_t *def = fifo_deflate_create(FIFO_DEFLATE_COMPRESS, FIFO_DEFLATE_GZIP, 9);
    fifo_deflate_t *inf = NULL;
    unsigned char *zeros = calloc(1, ZEROS);
    fifo_t *packed = fifo_create(SEG, 0, 0);
    unsigned char *bomb;
    size_t used, len;
    int i, rc;
    uint64_t bound;

    for (i = 0; i < TIMES; ++i) {
        fifo_deflate_update(def, zeros, ZEROS, &used, packed,
                            i == TIMES - 1 ? FIFO_DEFLATE_FINISH : FIFO_DEFLATE_NO_FLUSH);
    }
    bomb = tu_drain(packed, &len);
    tu_diag("bomb: %zu bytes inflate to %d MiB", len, TIMES);

    rc = inflate_bomb(bomb, len, 100, &inf);
    tu_is_long(rc, FIFO_ELIMIT, "a compression bomb stops with FIFO_ELIMIT");
    bound = fifo_deflate_total_in(inf) * 100 + 4096;
    tu_ok(fifo_deflate_total_out(inf) <= bound + SEG,
          "output stopped within one segment of the bound (%llu <= %llu + segment)",
          (unsigned long long)fifo_deflate_total_out(inf), (unsigned long long)bound);
    tu_ok(fifo_deflate_total_out(inf) < (uint64_t)ZEROS * TIMES, "well before the whole bomb");
    fifo_deflate_destroy(inf);

    rc = inflate_bomb(bomb, len, 0, &inf);
    tu_ok(rc == FIFO_EOF && fifo_deflate_total_out(inf) == (uint64_t)ZEROS * TIMES,
          "with the bound disabled the same stream inflates completely");
    fifo_deflate_destroy(inf);

    fifo_deflate_destroy(def);
    fifo_destroy(packed);
    free(bomb);
    free(zeros);
}

/*
 * Feeds data through z into an output fifo with a high-water mark of mark
 * bytes, draining it whenever the stage stops there; the drained bytes go
 * to a fresh fifo, returned.  *over tells whether the output ever held more
 * than the mark, *stops how often the stage stopped at it.
 */
static fifo_t *through_bounded(fifo_deflate_t *z, const unsigned char *data, size_t len,
                               size_t mark, int *over, unsigned *stops, int *rc)
{
    fifo_t *out = fifo_create(7, mark, 0);
    fifo_t *all = fifo_create(4096, 0, 0);
    unsigned char buf[4096];
    size_t pos = 0;

    *rc = FIFO_EAGAIN;
    while (*rc == FIFO_EAGAIN || (*rc == FIFO_OK && pos < len)) {
        size_t used = 0;
        size_t n;
        *rc = fifo_deflate_update(z, data + pos, len - pos, &used, out, FIFO_DEFLATE_FINISH);
        *over |= fifo_length(out) > mark;
        *stops += *rc == FIFO_EAGAIN;
        pos += used;
        tu_check(out, "bounded output");
        while ((n = fifo_read(out, buf, sizeof(buf))) > 0) {
            fifo_write(all, buf, n);
        }
    }
    fifo_destroy(out);
    return all;
}

/* Both directions stop at an output's high-water mark and resume. */
static void test_bounded_output(void)
{
    enum { LEN = 300000 };
    unsigned char *data = malloc(LEN);
    unsigned char *packed, *back;
    size_t plen, blen;
    fifo_deflate_t *def = fifo_deflate_create(FIFO_DEFLATE_COMPRESS, FIFO_DEFLATE_GZIP, 6);
    fifo_deflate_t *inf = fifo_deflate_create(FIFO_DEFLATE_DECOMPRESS, FIFO_DEFLATE_GZIP, 0);
    unsigned stops = 0;
    int over = 0;
    int rc;
    fifo_t *f;

    tu_fill(data, LEN / 2, 5);
    memset(data + LEN / 2, 'r', LEN / 2);
    f = through_bounded(def, data, LEN, 1000, &over, &stops, &rc);
    packed = tu_drain(f, &plen);
    fifo_destroy(f);
    tu_is_long(rc, FIFO_EOF, "compressing into a 1000-byte-bounded output completes");
    tu_ok(stops >= plen / 1000, "stopping at the mark %u times for %zu bytes", stops, plen);
    stops = 0;
    f = through_bounded(inf, packed, plen, 333, &over, &stops, &rc);
    back = tu_drain(f, &blen);
    fifo_destroy(f);
    tu_is_long(rc, FIFO_EOF, "inflating into a 333-byte-bounded output completes");
    tu_ok(stops >= LEN / 333, "stopping at the mark %u times", stops);
    tu_ok(blen == LEN && memcmp(back, data, LEN) == 0, "and gives the data back");
    tu_ok(!over, "neither output ever held more than its mark");
    free(back);
    free(packed);
    free(data);
    fifo_deflate_destroy(def);
    fifo_deflate_destroy(inf);
}

int main(void)
{
    test_round_trips();
    test_sync_flush();
    test_bad_input();
    test_bomb();
    test_bounded_output();
    tu_invariants_held("output fifos: invariants held after every call");
    return tu_done();
}
