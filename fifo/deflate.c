/*
 * deflate.c: zlib stage over fifos.  zlib writes into reserved fifo space,
 * never more than the output's high-water mark leaves; the ratio bound is
 * checked after every inflate call, and each call gets at most one segment
 * of output, so a bomb overshoots by less than a segment.
 */
#include <limits.h>
#include <stdlib.h>
#include <zlib.h>

#include "deflate.h"

struct fifo_deflate {
    z_stream zs;
    int mode;
    int status;        /* FIFO_OK, FIFO_EOF, or the final error */
    uint64_t total_in; /* z_stream's totals are uLong: 32 bits on some ABIs */
    uint64_t total_out;
    uint64_t max_ratio;
    uint64_t ratio_slack;
};

fifo_deflate_t *fifo_deflate_create(int mode, int format, int level)
{
    fifo_deflate_t *z = calloc(1, sizeof(*z));
    int bits;
    int rc = Z_STREAM_ERROR;

    if (z == NULL) {
        return NULL;
    }
    /* windowBits selects the wrapper: +16 gzip, negative raw (zlib.h). */
    bits = format == FIFO_DEFLATE_GZIP ? 15 + 16 : format == FIFO_DEFLATE_RAW ? -15 : 15;
    z->mode = mode;
    z->max_ratio = FIFO_DEFLATE_DEFAULT_RATIO;
    z->ratio_slack = FIFO_DEFLATE_DEFAULT_SLACK;
    if (format < FIFO_DEFLATE_GZIP || format > FIFO_DEFLATE_RAW) {
        rc = Z_STREAM_ERROR;
    }
    else if (mode == FIFO_DEFLATE_COMPRESS) {
        rc = deflateInit2(&z->zs, level, Z_DEFLATED, bits, 8, Z_DEFAULT_STRATEGY);
    }
    else if (mode == FIFO_DEFLATE_DECOMPRESS) {
        rc = inflateInit2(&z->zs, bits);
    }
    if (rc != Z_OK) {
        free(z);
        z = NULL;
    }
    return z;
}

void fifo_deflate_destroy(fifo_deflate_t *z)
{
    if (z == NULL) {
        return;
    }
    if (z->mode == FIFO_DEFLATE_COMPRESS) {
        deflateEnd(&z->zs);
    }
    else {
        inflateEnd(&z->zs);
    }
    free(z);
}

void fifo_deflate_set_ratio_limit(fifo_deflate_t *z, uint64_t max_ratio, uint64_t ratio_slack)
{
    z->max_ratio = max_ratio;
    z->ratio_slack = ratio_slack;
}

uint64_t fifo_deflate_total_in(const fifo_deflate_t *z)
{
    return z->total_in;
}

uint64_t fifo_deflate_total_out(const fifo_deflate_t *z)
{
    return z->total_out;
}

/* out > ratio * in + slack, computed without overflow: when ratio * in + slack
 * does not fit in 64 bits, no 64-bit output count exceeds it. */
static int fifo_deflate_over_ratio(const fifo_deflate_t *z)
{
    uint64_t in = z->total_in;
    uint64_t bound;

    if (z->max_ratio == 0 || in > (UINT64_MAX - z->ratio_slack) / z->max_ratio) {
        return 0;
    }
    bound = in * z->max_ratio + z->ratio_slack;
    return z->total_out > bound;
}

/*
 * One zlib call with up to one segment of output space, at most space
 * bytes.  Returns the zlib code; *progress tells whether any byte went in
 * or came out.
 */
static int fifo_deflate_call(fifo_deflate_t *z, fifo_t *out, size_t space, int zflush,
                             int *progress, int *fifo_rc)
{
    void *buf;
    size_t avail;
    uInt in_before = z->zs.avail_in;
    int zrc = Z_BUF_ERROR;

    *progress = 0;
    *fifo_rc = fifo_reserve(out, &buf, &avail);
    if (*fifo_rc != FIFO_OK) {
        return Z_BUF_ERROR;
    }
    avail = avail < space ? avail : space;
    if (avail > UINT_MAX) {
        avail = UINT_MAX;
    }
    z->zs.next_out = buf;
    z->zs.avail_out = (uInt)avail;
    if (z->mode == FIFO_DEFLATE_COMPRESS) {
        zrc = deflate(&z->zs, zflush);
    }
    else {
        zrc = inflate(&z->zs, zflush);
    }
    avail -= z->zs.avail_out;
    *fifo_rc = fifo_commit(out, avail);
    z->total_in += in_before - z->zs.avail_in;
    z->total_out += avail;
    *progress = avail > 0 || in_before != z->zs.avail_in;
    return zrc;
}

/*
 * Runs zlib until the input is used up and, when flushing, until zlib has
 * no more output, or until out reaches its high-water mark (FIFO_EAGAIN;
 * when zlib had filled the room exactly, the next call may find nothing
 * left to write).  zlib needs the flush argument repeated until it reports
 * that the output space was not filled.
 */
static int fifo_deflate_run(fifo_deflate_t *z, fifo_t *out, int flush)
{
    int zflush = flush == FIFO_DEFLATE_FINISH       ? Z_FINISH
                 : flush == FIFO_DEFLATE_SYNC_FLUSH ? Z_SYNC_FLUSH
                                                    : Z_NO_FLUSH;
    int rc = FIFO_OK;

    if (z->mode == FIFO_DEFLATE_DECOMPRESS) {
        zflush = Z_NO_FLUSH; /* inflate's flush only changes how it stops */
    }
    while (rc == FIFO_OK) {
        size_t space = fifo_space(out);
        int progress = 0;
        int fifo_rc = FIFO_OK;
        int zrc =
            space > 0 ? fifo_deflate_call(z, out, space, zflush, &progress, &fifo_rc) : Z_BUF_ERROR;

        if (space == 0) {
            rc = FIFO_EAGAIN;
        }
        else if (fifo_rc != FIFO_OK) {
            rc = fifo_rc;
        }
        else if (zrc == Z_MEM_ERROR) {
            rc = FIFO_ENOMEM;
        }
        else if (zrc == Z_DATA_ERROR || zrc == Z_NEED_DICT || zrc == Z_STREAM_ERROR) {
            rc = FIFO_EPROTO;
        }
        else if (z->mode == FIFO_DEFLATE_DECOMPRESS && fifo_deflate_over_ratio(z)) {
            rc = FIFO_ELIMIT;
        }
        else if (zrc == Z_STREAM_END) {
            rc = FIFO_EOF;
        }
        else if (!progress || (z->zs.avail_in == 0 && z->zs.avail_out > 0)) {
            break; /* input used and output not full: nothing pending */
        }
    }
    if (rc == FIFO_OK && z->mode == FIFO_DEFLATE_DECOMPRESS && flush == FIFO_DEFLATE_FINISH) {
        rc = FIFO_EPROTO; /* the input ended before the stream did */
    }
    return rc;
}

int fifo_deflate_update(fifo_deflate_t *z, const void *in, size_t len, size_t *consumed,
                        fifo_t *out, int flush)
{
    const unsigned char *p = in;
    size_t done = 0;
    int rc = z->status;

    /* uInt counts: feed inputs larger than 4 GiB in slices */
    while (rc == FIFO_OK) {
        size_t slice = len - done > UINT_MAX ? UINT_MAX : len - done;
        int last = done + slice == len;
        uInt left;

        z->zs.next_in = slice > 0 ? (Bytef *)(p + done) : Z_NULL;
        z->zs.avail_in = (uInt)slice;
        rc = fifo_deflate_run(z, out, last ? flush : FIFO_DEFLATE_NO_FLUSH);
        if (rc != FIFO_EAGAIN) {
            z->status = rc; /* FIFO_EOF and errors are final */
        }
        left = z->zs.avail_in;
        z->zs.next_in = NULL;
        z->zs.avail_in = 0;
        done += slice - left;
        if (last || left > 0) {
            break;
        }
    }
    *consumed = done;
    return rc;
}

int fifo_deflate_update_fifo(fifo_deflate_t *z, fifo_t *in, fifo_t *out, int flush)
{
    int rc = z->status;

    for (;;) {
        struct iovec iov;
        size_t used = 0;
        size_t n = fifo_peek_iov(in, &iov, 1, SIZE_MAX);
        int last = n == 0 || iov.iov_len == fifo_length(in);

        if (n == 0) {
            iov.iov_base = NULL;
            iov.iov_len = 0;
        }
        rc = fifo_deflate_update(z, iov.iov_base, iov.iov_len, &used, out,
                                 last ? flush : FIFO_DEFLATE_NO_FLUSH);
        fifo_skip(in, used);
        if (rc != FIFO_OK || last) {
            break;
        }
    }
    return rc;
}
