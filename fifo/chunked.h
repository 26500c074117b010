/*
 * chunked.h: HTTP/1.1 chunked transfer-coding (RFC 9112 section 7.1).
 *
 * The encoder frames bytes as chunks into a fifo.  The decoder is strict and
 * incremental: it takes input in pieces of any size, including one byte at
 * a time, with the same result and the same error offset either way, and
 * appends the chunk data to a fifo.  It accepts only:
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
    size_t max_line;          /* chunk-size line incl. extensions, CRLF excluded: 4096 */
    uint64_t max_ext_total;   /* all extension bytes of one body: 16384 */
    size_t max_trailer;       /* trailer section incl. its CRLFs: 8192 */
    uint64_t max_chunk_size;  /* largest accepted chunk-size: INT64_MAX */
} fifo_chunked_limits_t;

typedef struct fifo_chunked_decoder fifo_chunked_decoder_t;

/* limits may be NULL for all defaults. */
fifo_chunked_decoder_t *fifo_chunked_decoder_create(const fifo_chunked_limits_t *limits);
void fifo_chunked_decoder_destroy(fifo_chunked_decoder_t *dec);

/*
 * Decodes in[0..len) and appends chunk data to out.  *consumed (required)
 * is the number of input bytes used; it is less than len only when the body
 * ended inside the input (the rest belongs to whatever follows the body) or
 * on error (the offending byte is in[*consumed]).
 * Returns FIFO_OK (more input needed), FIFO_EOF (body complete), FIFO_EPROTO
 * (malformed), FIFO_ELIMIT (a bound exceeded) or FIFO_ENOMEM.
 */
int fifo_chunked_decode(fifo_chunked_decoder_t *dec, const void *in, size_t len,
                        size_t *consumed, fifo_t *out);

/* Why the decoder stopped, e.g. "bare LF after chunk-size"; NULL when not in error. */
const char *fifo_chunked_decoder_error(const fifo_chunked_decoder_t *dec);
/* Input bytes consumed over the decoder's life (the error's offset, on error). */
uint64_t fifo_chunked_decoder_offset(const fifo_chunked_decoder_t *dec);

/* Encoder: one chunk "<hex>\r\n<data>\r\n"; len 0 writes nothing (a zero
 * size would end the body). */
int fifo_chunked_encode(fifo_t *out, const void *data, size_t len);
/* Moves len bytes (len <= fifo_length(in)) from in to out as one chunk. */
int fifo_chunked_encode_fifo(fifo_t *out, fifo_t *in, size_t len);
/* The last-chunk and an empty trailer section: "0\r\n\r\n". */
int fifo_chunked_encode_end(fifo_t *out);

#ifdef __cplusplus
}
#endif

#endif
