/* fuzz-sources: fifo/chunked.c fifo/fifo.c */
/* fuzz-libs: */
/*
 * fuzz_chunked.c: libFuzzer target for the chunked decoder (fifo/chunked.c).
 *
 * Oracles, on every input:
 *   1. decoding the input whole and in pieces whose sizes come from the
 *      input's first byte gives the same status, consumed count, error
 *      message and output (the decoder's "split anywhere" promise);
 *   2. decode(encode(x)) == x, with chunk sizes drawn from x itself;
 * and, under ASan/UBSan, arbitrary input never reads or writes out of bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chunked.h"

struct outcome {
    int status;
    size_t consumed;
    const char *error;
    unsigned char *out;
    size_t outlen;
};

/* Decodes data in pieces of piece bytes, into a fifo with tiny segments. */
static struct outcome fuzz_decode(const uint8_t *data, size_t size, size_t piece, size_t seg)
{
    fifo_chunked_limits_t lim = { 64, 256, 128, 0 };
    fifo_chunked_decoder_t *dec = fifo_chunked_decoder_create(&lim);
    fifo_t *out = fifo_create(seg, 0, 0);
    struct outcome r = { FIFO_OK, 0, NULL, NULL, 0 };

    while (r.status == FIFO_OK && r.consumed < size) {
        size_t n = size - r.consumed < piece ? size - r.consumed : piece;
        size_t used = 0;
        r.status = fifo_chunked_decode(dec, data + r.consumed, n, &used, out);
        r.consumed += used;
        if (r.status == FIFO_OK && used != n)
            abort();            /* needing more input yet leaving some unread */
    }
    if (fifo_check(out) != NULL)
        abort();
    r.error = fifo_chunked_decoder_error(dec);
    r.outlen = fifo_length(out);
    r.out = malloc(r.outlen + 1);
    if (fifo_read(out, r.out, r.outlen) != r.outlen)
        abort();
    fifo_chunked_decoder_destroy(dec);
    fifo_destroy(out);
    return r;
}

static void fuzz_same(const struct outcome *a, const struct outcome *b)
{
    if (a->status != b->status || a->consumed != b->consumed || a->outlen != b->outlen
        || memcmp(a->out, b->out, a->outlen) != 0 || (a->error == NULL) != (b->error == NULL)
        || (a->error != NULL && strcmp(a->error, b->error) != 0))
        abort();
}

static void fuzz_round_trip(const uint8_t *data, size_t size, size_t seg)
{
    fifo_t *wire = fifo_create(seg, 0, 0);
    size_t pos = 0;
    size_t i = 0;
    unsigned char *enc;
    size_t enclen;

    while (pos < size) {
        size_t n = 1 + data[i++ % size] % 97;     /* chunk sizes from the data */
        n = n > size - pos ? size - pos : n;
        if (fifo_chunked_encode(wire, data + pos, n) != FIFO_OK)
            abort();
        pos += n;
    }
    fifo_chunked_encode_end(wire);
    enclen = fifo_length(wire);
    enc = malloc(enclen + 1);
    fifo_read(wire, enc, enclen);
    {
        /* the strict limits above are for hostile input; the encoder's own
         * output carries no extensions or trailers */
        fifo_chunked_decoder_t *dec = fifo_chunked_decoder_create(NULL);
        fifo_t *out = fifo_create(seg, 0, 0);
        size_t used = 0;
        int rc = fifo_chunked_decode(dec, enc, enclen, &used, out);
        size_t outlen = fifo_length(out);
        unsigned char *back = malloc(outlen + 1);
        fifo_read(out, back, outlen);
        if (rc != FIFO_EOF || used != enclen || outlen != size
            || (size > 0 && memcmp(back, data, size) != 0))
            abort();
        free(back);
        fifo_chunked_decoder_destroy(dec);
        fifo_destroy(out);
    }
    free(enc);
    fifo_destroy(wire);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t piece = size > 0 ? 1 + data[0] % 8 : 1;
    size_t seg = size > 1 ? 1 + data[1] % 16 : 1;
    struct outcome whole = fuzz_decode(data, size, size > 0 ? size : 1, seg);
    struct outcome split = fuzz_decode(data, size, piece, 1 + seg % 5);

    fuzz_same(&whole, &split);
    free(whole.out);
    free(split.out);
    fuzz_round_trip(data, size, seg);
    return 0;
}
