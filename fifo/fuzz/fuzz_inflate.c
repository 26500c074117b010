/* fuzz-sources: deflate.c fifo.c */
/* fuzz-libs: -lz */
/*
 * fuzz_inflate.c: libFuzzer target for the inflate stage (fifo/deflate.c).
 *
 * The first byte picks the format (gzip, zlib, raw) and the input piece
 * size, the second the high-water mark of the output fifo the pieces are
 * inflated into; the rest is inflated with a tight ratio bound.  Oracles:
 * the result is the same whole into an unbounded fifo and in pieces into
 * the bounded one, which never holds more than its mark; the output never
 * passes the ratio bound by more than one segment; and deflate -> inflate
 * of the rest gives it back.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "deflate.h"

enum { FUZZ_SEG = 512, FUZZ_RATIO = 20, FUZZ_SLACK = 4096 };

struct outcome {
    int status;
    size_t consumed;
    uint64_t outlen;
    uint32_t sum; /* order-sensitive digest of the output */
};

static uint32_t fuzz_digest(uint32_t h, fifo_t *f)
{
    struct iovec iov[8];
    size_t n, i, j;

    while ((n = fifo_peek_iov(f, iov, 8, SIZE_MAX)) > 0) {
        for (i = 0; i < n; ++i) {
            const unsigned char *p = iov[i].iov_base;
            for (j = 0; j < iov[i].iov_len; ++j) {
                h = (h ^ p[j]) * 16777619u;
            }
            fifo_skip(f, iov[i].iov_len);
        }
    }
    return h;
}

static struct outcome fuzz_inflate(int format, const uint8_t *data, size_t size, size_t piece,
                                   size_t mark)
{
    fifo_deflate_t *z = fifo_deflate_create(FIFO_DEFLATE_DECOMPRESS, format, 0);
    fifo_t *out = fifo_create(FUZZ_SEG, mark, 0);
    struct outcome r = { FIFO_OK, 0, 0, 2166136261u };

    fifo_deflate_set_ratio_limit(z, FUZZ_RATIO, FUZZ_SLACK);
    while (r.status == FIFO_OK || r.status == FIFO_EAGAIN) {
        size_t n = size - r.consumed < piece ? size - r.consumed : piece;
        size_t used = 0;
        int last = r.consumed + n == size;
        r.status = fifo_deflate_update(z, data + r.consumed, n, &used, out,
                                       last ? FIFO_DEFLATE_FINISH : FIFO_DEFLATE_NO_FLUSH);
        r.consumed += used;
        if (fifo_check(out) != NULL || (mark != 0 && fifo_length(out) > mark)) {
            abort();
        }
        r.sum = fuzz_digest(r.sum, out);
    }
    r.outlen = fifo_deflate_total_out(z);
    if (r.outlen > fifo_deflate_total_in(z) * FUZZ_RATIO + FUZZ_SLACK + FUZZ_SEG) {
        abort(); /* the bomb bound leaked */
    }
    fifo_deflate_destroy(z);
    fifo_destroy(out);
    return r;
}

static void fuzz_round_trip(int format, const uint8_t *data, size_t size)
{
    fifo_deflate_t *def = fifo_deflate_create(FIFO_DEFLATE_COMPRESS, format, (int)(size % 10));
    fifo_deflate_t *inf = fifo_deflate_create(FIFO_DEFLATE_DECOMPRESS, format, 0);
    fifo_t *wire = fifo_create(FUZZ_SEG, 0, 0);
    fifo_t *out = fifo_create(7, 0, 0);
    size_t used = 0;
    unsigned char *back;

    fifo_deflate_set_ratio_limit(inf, 0, 0);
    if (fifo_deflate_update(def, data, size, &used, wire, FIFO_DEFLATE_FINISH) != FIFO_EOF
        || fifo_deflate_update_fifo(inf, wire, out, FIFO_DEFLATE_FINISH) != FIFO_EOF
        || fifo_length(out) != size) {
        abort();
    }
    back = malloc(size + 1);
    fifo_read(out, back, size);
    if (size > 0 && memcmp(back, data, size) != 0) {
        abort();
    }
    free(back);
    fifo_deflate_destroy(def);
    fifo_deflate_destroy(inf);
    fifo_destroy(wire);
    fifo_destroy(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int format;
    size_t piece, mark;
    struct outcome whole, split;

    if (size < 2) {
        return 0;
    }
    format = FIFO_DEFLATE_GZIP + data[0] % 3;
    piece = 1 + (data[0] >> 2) % 64;
    mark = 1 + data[1] * 4;
    whole = fuzz_inflate(format, data + 2, size - 2, size, 0);
    split = fuzz_inflate(format, data + 2, size - 2, piece, mark);
    /* The ratio bound may stop the split run earlier (less input counted
     * at the moment of the check); otherwise both must agree exactly. */
    if (whole.status != FIFO_ELIMIT && split.status != FIFO_ELIMIT
        && (whole.status != split.status || whole.consumed != split.consumed
            || whole.outlen != split.outlen || whole.sum != split.sum)) {
        abort();
    }
    fuzz_round_trip(format, data + 2, size - 2);
    return 0;
}
