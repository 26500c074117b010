/*
 * deflate.h: a zlib compression or decompression stage writing into a fifo.
 *
 * Formats: gzip (RFC 1952, Content-Encoding: gzip), zlib (RFC 1950, what
 * HTTP calls "deflate") and raw deflate (RFC 1951).  Output is produced in
 * place in the output fifo (fifo_reserve/fifo_commit), so zlib writes
 * straight into the segments.
 *
 * Decompression is bounded: once the output exceeds
 * max_ratio * input + ratio_slack bytes the stage fails with FIFO_ELIMIT
 * (a compression bomb stops after at most one segment past the bound).
 *
 * An output fifo's high-water mark is respected: the stage stops there with
 * FIFO_EAGAIN; drain the output and call again with the input not yet
 * consumed and the same flush.  Return values follow fifo.h's rule.
 */
#ifndef FIFO_DEFLATE_H
#define FIFO_DEFLATE_H

#include <stdint.h>

#include "fifo.h"

#ifdef __cplusplus
extern "C" {
#endif

enum fifo_deflate_format { FIFO_DEFLATE_GZIP = 1, FIFO_DEFLATE_ZLIB = 2, FIFO_DEFLATE_RAW = 3 };

enum fifo_deflate_mode { FIFO_DEFLATE_COMPRESS = 1, FIFO_DEFLATE_DECOMPRESS = 2 };

/* What fifo_deflate_update does with the output after the input. */
enum fifo_deflate_flush {
    FIFO_DEFLATE_NO_FLUSH = 0,   /* let zlib buffer */
    FIFO_DEFLATE_SYNC_FLUSH = 1, /* everything so far decodable by the peer */
    FIFO_DEFLATE_FINISH = 2      /* end the stream (compress) / input ended (decompress) */
};

#define FIFO_DEFLATE_DEFAULT_RATIO 100
#define FIFO_DEFLATE_DEFAULT_SLACK (1024 * 1024)

typedef struct fifo_deflate fifo_deflate_t;

/* level: 0-9 or -1 for zlib's default; ignored when decompressing. */
fifo_deflate_t *fifo_deflate_create(int mode, int format, int level);
void fifo_deflate_destroy(fifo_deflate_t *z);

/* Decompression bound; 0 ratio disables it.  Defaults: 100, 1 MiB. */
void fifo_deflate_set_ratio_limit(fifo_deflate_t *z, uint64_t max_ratio, uint64_t ratio_slack);

/*
 * Feeds in[0..len) through zlib into out.  *consumed is the input used: all
 * of it, except after the end of a decompressed stream, whose trailing bytes
 * are left to the caller, and when out reached its high-water mark.
 * Returns FIFO_OK, FIFO_EOF (compress: FINISH done; decompress: stream end
 * seen), FIFO_EAGAIN (out is at its mark; zlib may have more to write),
 * FIFO_EPROTO (corrupt input, or FINISH on a truncated stream), FIFO_ELIMIT
 * (ratio bound), or out's error (FIFO_ENOMEM, FIFO_CLOSED, FIFO_ABORTED).
 * FIFO_EOF and errors are final.
 */
int fifo_deflate_update(fifo_deflate_t *z, const void *in, size_t len, size_t *consumed,
                        fifo_t *out, int flush);

/* The same, consuming from a fifo instead of a buffer. */
int fifo_deflate_update_fifo(fifo_deflate_t *z, fifo_t *in, fifo_t *out, int flush);

/* Input and output byte totals so far. */
uint64_t fifo_deflate_total_in(const fifo_deflate_t *z);
uint64_t fifo_deflate_total_out(const fifo_deflate_t *z);

#ifdef __cplusplus
}
#endif

#endif
