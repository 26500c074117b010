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
 *
 * Conventions: functions that can fail return apr_status_t; the stream's
 * progress is an xsf_stream_status_t; the rest return nothing or a count.
 */
#ifndef XSF_STREAM_H
#define XSF_STREAM_H

#include <sys/uio.h>

#include <apr_pools.h>
#include <apr_file_io.h>
#include <apr_time.h>

/*
 * The read end of a named pipe, from the lookup that opened it to its
 * close.  A producer (`tar cf PIPE`, `pg_dump -f PIPE`) blocks in open(2)
 * until a reader comes, and may get there only after the response is over
 * (a HEAD request, a client gone before the first byte, an error after the
 * lookup).  Closing the read end then would leave it blocked for ever; so
 * unless the producer was seen to finish, xsf_pipe_close() hands a
 * duplicate of the read end to a per-process releaser, which closes it as
 * soon as the producer has opened the pipe (data or hang-up arrives), or
 * after the stream timeout: the producer then gets EPIPE and exits.
 */
typedef struct xsf_pipe xsf_pipe_t;

/*
 * Take over `file`, the pipe a lookup opened (non-blocking, owned by APR
 * in `p`).  xsf_pipe_close() runs at the latest as a cleanup of `p`;
 * `wait` is how long the releaser waits for the producer.
 */
xsf_pipe_t *xsf_pipe_adopt(apr_pool_t *p, apr_file_t *file, apr_interval_time_t wait);

/* Close the read end now, as described above.  Safe to call more than once. */
void xsf_pipe_close(xsf_pipe_t *pipe);

/* Once per child process, before any request: where the releaser lives. */
void xsf_pipe_child_init(apr_pool_t *pchild);

typedef struct xsf_stream xsf_stream_t;

typedef enum xsf_stream_status {
    XSF_STREAM_DATA = 0, /* iov holds bytes to send */
    XSF_STREAM_END,      /* the producer closed the pipe: the stream is complete */
    XSF_STREAM_IDLE,     /* no new data for the idle timeout: truncate */
    XSF_STREAM_ERROR     /* reading the pipe failed, or no memory: truncate */
} xsf_stream_status_t;

/*
 * Start streaming from `pipe`.  `buffer`: bytes that may wait in memory
 * before the producer is held back; `idle`: how long the producer may send
 * nothing.  The stream and its thread are released by xsf_stream_stop() or
 * at the latest by a cleanup of `p`; the pipe stays the caller's.
 * Returns APR_SUCCESS or the error that kept it from starting.
 */
apr_status_t xsf_stream_start(xsf_stream_t **stream, apr_pool_t *p, xsf_pipe_t *pipe,
                              apr_size_t buffer, apr_interval_time_t idle);

/*
 * Wait for bytes.  On XSF_STREAM_DATA, iov[0..*iovcnt) describe at most
 * max_bytes buffered bytes, valid until xsf_stream_consumed(); a caller
 * sends them and then consumes exactly their total.
 */
xsf_stream_status_t xsf_stream_next(xsf_stream_t *stream, struct iovec *iov, apr_size_t *iovcnt,
                                    apr_size_t max_bytes);
void xsf_stream_consumed(xsf_stream_t *stream, apr_size_t bytes);

/* Bytes taken from the pipe so far, and the most held in memory at once. */
apr_uint64_t xsf_stream_bytes_in(const xsf_stream_t *stream);
apr_size_t xsf_stream_peak_memory(const xsf_stream_t *stream);

/*
 * Stop reading (the client went away, or the stream ended) and join the
 * thread.  Safe to call more than once.
 */
void xsf_stream_stop(xsf_stream_t *stream);

#endif
