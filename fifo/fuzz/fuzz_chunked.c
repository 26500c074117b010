/* fuzz-sources: chunked.c fifo.c */
/* fuzz-libs: */
/*
 * fuzz_chunked.c: libFuzzer target for the chunked decoder and encoder
 * (fifo/chunked.c).
 *
 * Oracles, on every input:
 *   1. decoding the input whole into a fifo, in pieces (sizes from the
 *      input's first byte) into a fifo whose high-water mark (from the
 *      second byte) makes the decoder stop and resume, and in pieces
 *      zero-copy into a few iovecs at a time, all give the same status,
 *      consumed count, error message and output; the bounded fifo never
 *      holds more than its mark and every iovec points into its input;
 *   2. decode(encode(x)) == x, with chunk sizes drawn from x itself and the
 *      encoder's output bounded;
 * and, under ASan/UBSan, arbitrary input never reads or writes out of bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chunked.h"

enum fuzz_sink { INTO_FIFO, INTO_BOUNDED_FIFO, INTO_IOV };

struct outcome {
    int status;
    size_t consumed;
    const char *error;
    fifo_t *out; /* all the output, unbounded */
};

/* Moves what the fifo f holds to all. */
static void fuzz_collect(fifo_t *all, fifo_t *f)
{
    struct iovec got[8];
    size_t i, k;

    while ((k = fifo_peek_iov(f, got, 8, SIZE_MAX)) > 0) {
        for (i = 0; i < k; ++i) {
            fifo_write(all, got[i].iov_base, got[i].iov_len);
            fifo_skip(f, got[i].iov_len);
        }
    }
}

/* One decoding call on in[0..len) into the sink; the output goes to r->out. */
static int fuzz_decode_call(fifo_chunked_decoder_t *dec, const uint8_t *in, size_t len,
                            size_t *used, fifo_t *f, size_t mark, struct outcome *r)
{
    struct iovec iov[3];
    size_t niov = 0, i;
    int rc;

    if (f == NULL) {
        rc = fifo_chunked_decode_iov(dec, in, len, used, iov, 3, &niov);
    }
    else {
        rc = fifo_chunked_decode(dec, in, len, used, f);
        if (fifo_check(f) != NULL || (mark != 0 && fifo_length(f) > mark)) {
            abort(); /* broken, or past its mark */
        }
        fuzz_collect(r->out, f);
    }
    for (i = 0; i < niov; ++i) {
        const uint8_t *p = iov[i].iov_base;
        if (p < in || p + iov[i].iov_len > in + *used) {
            abort(); /* an iovec outside the input it describes */
        }
        fifo_write(r->out, p, iov[i].iov_len);
    }
    return rc;
}

/* Decodes data in pieces of piece bytes into the sink, segments of seg. */
static struct outcome fuzz_decode(const uint8_t *data, size_t size, size_t piece, size_t seg,
                                  enum fuzz_sink sink, size_t mark)
{
    fifo_chunked_limits_t lim = { 64, 256, 128, 0 };
    fifo_chunked_decoder_t *dec = fifo_chunked_decoder_create(&lim);
    fifo_t *f = sink == INTO_IOV ? NULL : fifo_create(seg, sink == INTO_BOUNDED_FIFO ? mark : 0, 0);
    struct outcome r = { FIFO_OK, 0, NULL, fifo_create(64, 0, 0) };

    while (r.status == FIFO_OK && r.consumed < size) {
        size_t end = size - r.consumed < piece ? size : r.consumed + piece;
        do {
            size_t used = 0;
            r.status =
                fuzz_decode_call(dec, data + r.consumed, end - r.consumed, &used, f, mark, &r);
            r.consumed += used;
        } while (r.status == FIFO_EAGAIN);
        if (r.status == FIFO_OK && r.consumed != end) {
            abort(); /* more input needed, yet some left unread */
        }
    }
    r.error = fifo_chunked_decoder_error(dec);
    fifo_chunked_decoder_destroy(dec);
    fifo_destroy(f);
    return r;
}

/* The bytes a fifo holds, without consuming them. */
static unsigned char *fuzz_bytes(fifo_t *f)
{
    unsigned char *p = malloc(fifo_length(f) + 1);

    fifo_peek(f, p, fifo_length(f));
    return p;
}

static void fuzz_same(const struct outcome *a, const struct outcome *b)
{
    unsigned char *x = fuzz_bytes(a->out);
    unsigned char *y = fuzz_bytes(b->out);

    if (a->status != b->status || a->consumed != b->consumed
        || (a->error == NULL) != (b->error == NULL)
        || (a->error != NULL && strcmp(a->error, b->error) != 0)
        || fifo_length(a->out) != fifo_length(b->out) || memcmp(x, y, fifo_length(a->out)) != 0) {
        abort();
    }
    free(x);
    free(y);
}

static void fuzz_round_trip(const uint8_t *data, size_t size, size_t seg, size_t mark)
{
    fifo_t *enc = fifo_create(seg, mark, 0);
    fifo_t *wire = fifo_create(seg, 0, 0);
    fifo_chunked_decoder_t *dec = fifo_chunked_decoder_create(NULL);
    fifo_t *back = fifo_create(seg, 0, 0);
    size_t pos = 0;
    size_t i = 0;
    size_t used = 0;
    int ended = 0;
    int rc;

    while (!ended) {
        size_t n = 1 + data[i++ % size] % 97; /* chunk sizes from the data */
        n = n > size - pos ? size - pos : n;
        rc = pos < size ? fifo_chunked_encode(enc, data + pos, n, &used)
                        : fifo_chunked_encode_end(enc);
        if ((rc != FIFO_OK && rc != FIFO_EAGAIN) || fifo_length(enc) > mark) {
            abort();
        }
        ended = pos == size && rc == FIFO_OK;
        pos += pos < size ? used : 0;
        fuzz_collect(wire, enc);
    }
    {
        /* the strict limits above are for hostile input; the encoder's own
         * output carries no extensions or trailers */
        size_t len = fifo_length(wire);
        unsigned char *enc_bytes = malloc(len + 1);
        unsigned char *got = malloc(size + 1);
        fifo_read(wire, enc_bytes, len);
        rc = fifo_chunked_decode(dec, enc_bytes, len, &used, back);
        if (rc != FIFO_EOF || used != len || fifo_length(back) != size
            || fifo_read(back, got, size) != size || (size > 0 && memcmp(got, data, size) != 0)) {
            abort();
        }
        free(got);
        free(enc_bytes);
    }
    fifo_chunked_decoder_destroy(dec);
    fifo_destroy(back);
    fifo_destroy(wire);
    fifo_destroy(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t piece = size > 0 ? 1 + data[0] % 8 : 1;
    size_t seg = size > 1 ? 1 + data[1] % 16 : 1;
    size_t mark = size > 1 ? 1 + data[1] % 11 : 1;
    struct outcome whole = fuzz_decode(data, size, size > 0 ? size : 1, seg, INTO_FIFO, 0);
    struct outcome bounded = fuzz_decode(data, size, piece, 1 + seg % 5, INTO_BOUNDED_FIFO, mark);
    struct outcome zero_copy = fuzz_decode(data, size, piece, seg, INTO_IOV, 0);

    fuzz_same(&whole, &bounded);
    fuzz_same(&whole, &zero_copy);
    fifo_destroy(whole.out);
    fifo_destroy(bounded.out);
    fifo_destroy(zero_copy.out);
    if (size > 0) {
        fuzz_round_trip(data, size, seg, 6 + mark * 9);
    }
    return 0;
}
