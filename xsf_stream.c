/*
 * xsf_stream.c: a named pipe, read by a thread into the elastic fifo.
 *
 * Why a thread: the request's thread blocks whenever the client is slower
 * than the producer (ap_pass_brigade waits for the socket).  The reader
 * thread keeps taking the producer's bytes meanwhile, into the fifo, until
 * `buffer` bytes wait there; only then does the producer feel the slow
 * client (SPEC §8: it runs at its own pace up to XSendFileStreamBuffer).
 *
 * The pipe is polled in slices of XSF_STREAM_SLICE_MS so that the thread
 * notices a stop request and the idle timeout without a second descriptor
 * to wake it.
 *
 * Linux reports POLLHUP on a FIFO only after a writer came and went, so a
 * pipe nobody opened yet reads as "no data" (and runs into the idle
 * timeout) rather than as an empty, complete stream.
 */
#include "xsf_stream.h"

#include <apr_atomic.h>
#include <apr_portable.h>
#include <apr_thread_proc.h>

#include <errno.h>
#include <poll.h>
#include <unistd.h>

#include "fifo.h"

#define XSF_STREAM_SLICE_MS 100
#define XSF_STREAM_SEGMENT (64 * 1024)

struct xsf_stream {
    fifo_t *fifo;
    apr_file_t *pipe;
    int fd;
    apr_interval_time_t idle;
#if APR_HAS_THREADS
    apr_thread_t *thread;
#endif
    volatile apr_uint32_t stop;        /* set by the consumer */
    xsf_stream_status_t outcome;       /* written before fifo_close_write() */
    apr_uint64_t bytes_in;
    apr_size_t peak_memory;
    int stopped;
};

/* One read of the pipe into the fifo.  Returns 1 to go on, 0 at the end
 * (s->outcome then says why). */
static int xsf_stream_fill(xsf_stream_t *s, apr_time_t *last_data)
{
    struct pollfd pfd;
    void *buf;
    size_t avail;
    ssize_t n;
    int rc;

    rc = fifo_reserve_wait(s->fifo, &buf, &avail, XSF_STREAM_SLICE_MS);
    if (rc == FIFO_TIMEOUT) {
        /* The buffer is full: the client is slow, not the producer. */
        *last_data = apr_time_now();
        return 1;
    }
    if (rc != FIFO_OK) {
        s->outcome = XSF_STREAM_ERROR;
        return 0;
    }
    pfd.fd = s->fd;
    pfd.events = POLLIN;
    pfd.revents = 0;
    rc = poll(&pfd, 1, XSF_STREAM_SLICE_MS);
    n = rc > 0 ? read(s->fd, buf, avail) : -1;
    if (n > 0) {
        size_t held;

        fifo_commit(s->fifo, (size_t)n);
        s->bytes_in += (apr_uint64_t)n;
        held = fifo_memory(s->fifo);
        if (held > s->peak_memory) {
            s->peak_memory = held;
        }
        *last_data = apr_time_now();
        return 1;
    }
    fifo_commit(s->fifo, 0);
    if (n == 0) {
        s->outcome = XSF_STREAM_END;
        return 0;
    }
    if (rc > 0 && errno != EAGAIN && errno != EINTR) {
        s->outcome = XSF_STREAM_ERROR;
        return 0;
    }
    if (rc < 0 && errno != EINTR) {
        s->outcome = XSF_STREAM_ERROR;
        return 0;
    }
    if (apr_time_now() - *last_data > s->idle) {
        s->outcome = XSF_STREAM_IDLE;
        return 0;
    }
    return 1;
}

#if APR_HAS_THREADS
static void *APR_THREAD_FUNC xsf_stream_reader(apr_thread_t *thread, void *data)
{
    xsf_stream_t *s = data;
    apr_time_t last_data = apr_time_now();

    (void)thread;
    while (!apr_atomic_read32(&s->stop)) {
        if (!xsf_stream_fill(s, &last_data)) {
            break;
        }
    }
    if (apr_atomic_read32(&s->stop)) {
        s->outcome = XSF_STREAM_ERROR;
    }
    fifo_close_write(s->fifo);
    return NULL;
}
#endif

static apr_status_t xsf_stream_cleanup(void *data)
{
    xsf_stream_stop(data);
    return APR_SUCCESS;
}

apr_status_t xsf_stream_start(xsf_stream_t **stream, apr_pool_t *p, apr_file_t *pipe,
                              apr_size_t buffer, apr_interval_time_t idle)
{
#if APR_HAS_THREADS
    xsf_stream_t *s = apr_pcalloc(p, sizeof(*s));
    apr_os_file_t fd;
    apr_status_t rv;

    rv = apr_os_file_get(&fd, pipe);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    /* The fifo may hold up to two segments and a spare beyond its
     * high-water mark; leave room for them so that memory stays below
     * `buffer` plus one segment (SPEC §8). */
    s->fifo = fifo_create(XSF_STREAM_SEGMENT,
                          buffer > 3 * XSF_STREAM_SEGMENT ? buffer - 2 * XSF_STREAM_SEGMENT
                                                          : XSF_STREAM_SEGMENT,
                          FIFO_THREADSAFE);
    if (s->fifo == NULL) {
        return APR_ENOMEM;
    }
    s->pipe = pipe;
    s->fd = fd;
    s->idle = idle;
    s->outcome = XSF_STREAM_ERROR;
    /* A pre-cleanup: it must join the thread before the pool destroys its
     * subpools, the thread's own among them. */
    apr_pool_pre_cleanup_register(p, s, xsf_stream_cleanup);
    rv = apr_thread_create(&s->thread, NULL, xsf_stream_reader, s, p);
    if (rv != APR_SUCCESS) {
        s->thread = NULL;
        xsf_stream_stop(s);
        return rv;
    }
    *stream = s;
    return APR_SUCCESS;
#else
    (void)stream; (void)p; (void)pipe; (void)buffer; (void)idle;
    return APR_ENOTIMPL;
#endif
}

xsf_stream_status_t xsf_stream_next(xsf_stream_t *s, struct iovec *iov,
                                    apr_size_t *iovcnt, apr_size_t max_bytes)
{
    int rc = fifo_wait_readable(s->fifo, -1);

    if (rc == FIFO_OK) {
        *iovcnt = fifo_peek_iov(s->fifo, iov, *iovcnt, max_bytes);
        return XSF_STREAM_DATA;
    }
    *iovcnt = 0;
    /* FIFO_EOF: the reader thread closed the fifo and set its outcome first. */
    return rc == FIFO_EOF ? s->outcome : XSF_STREAM_ERROR;
}

void xsf_stream_consumed(xsf_stream_t *s, apr_size_t bytes)
{
    fifo_skip(s->fifo, bytes);
}

apr_uint64_t xsf_stream_bytes_in(const xsf_stream_t *s)
{
    return s->bytes_in;
}

apr_size_t xsf_stream_peak_memory(const xsf_stream_t *s)
{
    return s->peak_memory;
}

void xsf_stream_stop(xsf_stream_t *s)
{
    if (s->stopped) {
        return;
    }
    s->stopped = 1;
    apr_atomic_set32(&s->stop, 1);
    fifo_abort(s->fifo);
#if APR_HAS_THREADS
    if (s->thread != NULL) {
        apr_status_t ignored;

        apr_thread_join(&ignored, s->thread);
    }
#endif
    fifo_destroy(s->fifo);
    s->fifo = NULL;
    /* Closing the read end now, not when the request's pool goes, is what
     * gives a producer still writing its EPIPE. */
    apr_file_close(s->pipe);
}
