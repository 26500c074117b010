/*
 * chunked.h: HTTP/1.1 chunked transfer-coding (RFC 9112 section 7.1).
 *
 * The encoder frames bytes as chunks into a fifo.  The decoder is strict and
 * incremental: it takes input in pieces of any size, including one byte at
 * a time, with the same result and the same error offset either way, and
 * either appends the chunk data to a fifo or, without copying, describes
 * where it lies in the input.  It accepts only:
 *
 *   chunked-body    = *chunk last-chunk trailer-section CRLF
 *   chunk           = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 *   chunk-size      = 1*HEXDIG
 *   chunk-ext       = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
 *   chunk-ext-val   = token / quoted-string
 *   trailer-section = *( field-line CRLF )
 *
 * with CRLF only (a bare LF anywhere is an error), sizes checked against
 * overflow before each digit is added, and the chunk-size line, the total
 * of all chunk extensions and the trailer section bounded.  Extensions and
 * trailers are validated, then dropped.  An error is final: every later
 * call returns the same status without consuming input.
 *
 * Output fifos with a high-water mark: neither side writes past it.  When
 * the mark stops a call before its input is used, it returns FIFO_EAGAIN
 * and says how far it got; drain the output and call again with the rest.
 * Return values follow fifo.h's rule.
 */
#ifndef FIFO_CHUNKED_H
#define FIFO_CHUNKED_H

#include <stdint.h>

#include "fifo.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bounds of the decoder; a 0 field takes the default shown. */
typedef struct fifo_chunked_limits {
    size_t max_line;         /* chunk-size line incl. extensions, CRLF excluded: 4096 */
    uint64_t max_ext_total;  /* all extension bytes of one body: 16384 */
    size_t max_trailer;      /* trailer section incl. its CRLFs: 8192 */
    uint64_t max_chunk_size; /* largest accepted chunk-size: INT64_MAX */
} fifo_chunked_limits_t;

typedef struct fifo_chunked_decoder fifo_chunked_decoder_t;

/* limits may be NULL for all defaults. */
fifo_chunked_decoder_t *fifo_chunked_decoder_create(const fifo_chunked_limits_t *limits);
void fifo_chunked_decoder_destroy(fifo_chunked_decoder_t *dec);

/*
 * Decodes in[0..len) and appends chunk data to out.  *consumed is the
 * number of input bytes used; it is less than len only when the body ended
 * inside the input (the rest belongs to whatever follows the body), on
 * error (the offending byte is in[*consumed]), or when out reached its
 * high-water mark.  Returns FIFO_OK (all input used, more needed),
 * FIFO_EOF (body complete), FIFO_EAGAIN (out is full), FIFO_EPROTO
 * (malformed), FIFO_ELIMIT (a bound exceeded), or out's error
 * (FIFO_ENOMEM, FIFO_CLOSED, FIFO_ABORTED), which is final too.
 */
int fifo_chunked_decode(fifo_chunked_decoder_t *dec, const void *in, size_t len, size_t *consumed,
                        fifo_t *out);

/*
 * The same without copying: the chunk data found in in[0..*consumed) is
 * described by the first *niov of the iovcnt entries of iov, which point
 * into in (one entry per chunk, or per piece of a chunk the input holds).
 * FIFO_EAGAIN when iov filled up before the input was used.
 */
int fifo_chunked_decode_iov(fifo_chunked_decoder_t *dec, const void *in, size_t len,
                            size_t *consumed, struct iovec *iov, size_t iovcnt, size_t *niov);

/* Why the decoder stopped, e.g. "bare LF after chunk-size"; NULL when not in error. */
const char *fifo_chunked_decoder_error(const fifo_chunked_decoder_t *dec);
/* Input bytes consumed over the decoder's life (the error's offset, on error). */
uint64_t fifo_chunked_decoder_offset(const fifo_chunked_decoder_t *dec);

/*
 * Encoder: frames the first bytes of data[0..len) as one chunk
 * "<hex>\r\n<data>\r\n" in out, as many as out's high-water mark leaves
 * room for, and sets *consumed to their number.  len 0 writes nothing (a
 * zero size would end the body).  FIFO_OK when all len bytes went in,
 * FIFO_EAGAIN when only part of them (or none) did, or out's error (out may
 * then hold part of a chunk).
 */
int fifo_chunked_encode(fifo_t *out, const void *data, size_t len, size_t *consumed);
/* The same taking up to len bytes (len <= fifo_length(in), else FIFO_EINVAL)
 * from the fifo in, *moved of them. */
int fifo_chunked_encode_fifo(fifo_t *out, fifo_t *in, size_t len, size_t *moved);
/* The last-chunk and an empty trailer section, "0\r\n\r\n": FIFO_OK,
 * FIFO_EAGAIN (nothing written) when out has less room than that, or
 * out's error. */
int fifo_chunked_encode_end(fifo_t *out);

#ifdef __cplusplus
}
#endif

#endif
