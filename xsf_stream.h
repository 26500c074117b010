/*
 * xsf_stream.h: stream a named pipe of unknown length through the elastic
 * fifo (SPEC §8).
 *
 * A reader thread moves bytes from the pipe into a fifo_t at the producer's
 * pace, up to a high-water mark (backpressure: past it the thread stops
 * reading and the producer blocks in write(2)).  The request's thread takes
 * them out with xsf_stream_next()/xsf_stream_consumed() and hands them to
 * the client.  APR and the fifo library only; the bucket glue is in
 * mod_xsendfile.c.
 */
#ifndef XSF_STREAM_H
#define XSF_STREAM_H

#include <sys/uio.h>

#include <apr_pools.h>
#include <apr_file_io.h>
#include <apr_time.h>

typedef struct xsf_stream xsf_stream_t;

typedef enum xsf_stream_status {
    XSF_STREAM_DATA = 0,     /* iov holds bytes to send */
    XSF_STREAM_END,          /* the producer closed the pipe: the stream is complete */
    XSF_STREAM_IDLE,         /* no new data for the idle timeout: truncate */
    XSF_STREAM_ERROR         /* reading the pipe failed, or no memory: truncate */
} xsf_stream_status_t;

/*
 * Start streaming from `pipe`, a named pipe opened non-blocking for reading.
 * `buffer`: bytes that may wait in memory before the producer is held back;
 * `idle`: how long the producer may send nothing.  The stream, its thread
 * and the pipe are released by xsf_stream_stop() or at the latest by a
 * cleanup of `p`.  Returns APR_SUCCESS or the error that kept it from starting.
 */
apr_status_t xsf_stream_start(xsf_stream_t **stream, apr_pool_t *p, apr_file_t *pipe,
                              apr_size_t buffer, apr_interval_time_t idle);

/*
 * Wait for bytes.  On XSF_STREAM_DATA, iov[0..*iovcnt) describe at most
 * max_bytes buffered bytes, valid until xsf_stream_consumed(); a caller
 * sends them and then consumes exactly their total.
 */
xsf_stream_status_t xsf_stream_next(xsf_stream_t *stream, struct iovec *iov,
                                    apr_size_t *iovcnt, apr_size_t max_bytes);
void xsf_stream_consumed(xsf_stream_t *stream, apr_size_t bytes);

/* Bytes taken from the pipe so far, and the most held in memory at once. */
apr_uint64_t xsf_stream_bytes_in(const xsf_stream_t *stream);
apr_size_t xsf_stream_peak_memory(const xsf_stream_t *stream);

/*
 * Stop reading (the client went away, or the stream ended), join the
 * thread and close the pipe, so that a producer still writing gets EPIPE.
 * Safe to call more than once.
 */
void xsf_stream_stop(xsf_stream_t *stream);

#endif
