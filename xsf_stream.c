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
 *
 * The releaser at the end of this file is the other half of a pipe's
 * life: see xsf_pipe_t in xsf_stream.h.
 */
#include "xsf_stream.h"

#include <apr_atomic.h>
#include <apr_portable.h>
#include <apr_thread_proc.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <poll.h>
#include <unistd.h>

#include "fifo.h"

#define XSF_STREAM_SLICE_MS 100
#define XSF_STREAM_SEGMENT  (64 * 1024)

struct xsf_stream {
    fifo_t *fifo;
    xsf_pipe_t *pipe;
    int fd;
    apr_interval_time_t idle;
#if APR_HAS_THREADS
    apr_thread_t *thread;
#endif
    volatile apr_uint32_t stop;  /* set by the consumer */
    xsf_stream_status_t outcome; /* written before fifo_close_write() */
    apr_uint64_t bytes_in;
    apr_size_t peak_memory; /* the fifo's, kept when it is destroyed */
    int stopped;
};

struct xsf_pipe {
    apr_file_t *file; /* owned by APR in the request's pool */
    int fd;
    apr_interval_time_t wait; /* how long the releaser waits for the producer */
    int finished;             /* the producer closed its end: EOF was read */
    int closed;
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
    /* Once the producer has written, read first and poll only when the
     * pipe is empty: one system call per read while data flows.  Before
     * that a read would take a pipe no writer opened yet for a finished
     * one (see the top of this file). */
    n = -1;
    errno = EAGAIN;
    if (s->bytes_in > 0) {
        n = read(s->fd, buf, avail);
    }
    if (n < 0 && errno == EAGAIN) {
        pfd.fd = s->fd;
        pfd.events = POLLIN;
        pfd.revents = 0;
        rc = poll(&pfd, 1, XSF_STREAM_SLICE_MS);
        if (rc > 0) {
            n = read(s->fd, buf, avail);
        }
        else if (rc == 0) {
            errno = EAGAIN;
        }
    }
    if (n > 0) {
        /* Not published after a stop (fifo_abort): the stream is over. */
        if (fifo_commit(s->fifo, (size_t)n) != FIFO_OK) {
            s->outcome = XSF_STREAM_ERROR;
            return 0;
        }
        s->bytes_in += (apr_uint64_t)n;
        *last_data = apr_time_now();
        return 1;
    }
    /* Abandons the reservation; nothing is published, so nothing can fail. */
    (void)fifo_commit(s->fifo, 0);
    if (n == 0) {
        /* read by the request's thread after it joined this one */
        s->pipe->finished = 1;
        s->outcome = XSF_STREAM_END;
        return 0;
    }
    if (errno != EAGAIN && errno != EINTR) {
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

apr_status_t xsf_stream_start(xsf_stream_t **stream, apr_pool_t *p, xsf_pipe_t *pipe,
                              apr_size_t buffer, apr_interval_time_t idle)
{
#if APR_HAS_THREADS
    xsf_stream_t *s = apr_pcalloc(p, sizeof(*s));
    apr_status_t rv;

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
    s->fd = pipe->fd;
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
    (void)stream;
    (void)p;
    (void)pipe;
    (void)buffer;
    (void)idle;
    return APR_ENOTIMPL;
#endif
}

xsf_stream_status_t xsf_stream_next(xsf_stream_t *s, struct iovec *iov, apr_size_t *iovcnt,
                                    apr_size_t max_bytes)
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
    s->peak_memory = fifo_stats(s->fifo).peak_memory;
    fifo_destroy(s->fifo);
    s->fifo = NULL;
}

/* ------------------------------------------------------------------------
 * The releaser: read ends kept open until their producer has come
 * ------------------------------------------------------------------------ */

/* Poll one read end until its producer shows up or `deadline` passes. */
static void xsf_wait_for_producer(int fd, apr_time_t deadline)
{
    struct pollfd pfd;
    apr_time_t left;

    pfd.fd = fd;
    pfd.events = POLLIN;
    while ((left = deadline - apr_time_now()) > 0) {
        pfd.revents = 0;
        if (poll(&pfd, 1, (int)apr_time_as_msec(left) + 1) != 0) {
            break; /* data, hang-up, or an error: nothing to wait for */
        }
    }
    close(fd);
}

#if APR_HAS_THREADS
/* Read ends polled per round; more wait for a later round (or their deadline). */
#define XSF_RELEASER_BATCH 64

typedef struct xsf_held {
    int fd;
    apr_time_t deadline;
} xsf_held_t;

/*
 * One per child process.  Entries are added by request threads and
 * removed only by the releaser's thread, which sleeps in poll(2) on them
 * and on a self-pipe that announces a new entry or the child's end.
 */
static struct {
    apr_pool_t *pool; /* created by xsf_pipe_child_init() */
    apr_thread_mutex_t *lock;
    apr_thread_t *thread; /* started for the first pipe held */
    int wake[2];          /* the self-pipe */
    xsf_held_t *held;     /* malloc'd */
    apr_size_t nheld, room;
    int stopping;
} xsf_releaser = { .wake = { -1, -1 } };

static void *APR_THREAD_FUNC xsf_releaser_main(apr_thread_t *thread, void *data)
{
    struct pollfd pfds[XSF_RELEASER_BATCH + 1];

    (void)thread;
    (void)data;
    for (;;) {
        apr_time_t now = apr_time_now(), first = -1;
        apr_size_t i, n;
        char drain[64];

        apr_thread_mutex_lock(xsf_releaser.lock);
        if (xsf_releaser.stopping) {
            apr_thread_mutex_unlock(xsf_releaser.lock);
            break;
        }
        n = xsf_releaser.nheld < XSF_RELEASER_BATCH ? xsf_releaser.nheld : XSF_RELEASER_BATCH;
        for (i = 0; i < xsf_releaser.nheld; i++) {
            if (i < n) {
                pfds[i].fd = xsf_releaser.held[i].fd;
                pfds[i].events = POLLIN;
                pfds[i].revents = 0;
            }
            if (first < 0 || xsf_releaser.held[i].deadline < first) {
                first = xsf_releaser.held[i].deadline;
            }
        }
        apr_thread_mutex_unlock(xsf_releaser.lock);
        pfds[n].fd = xsf_releaser.wake[0];
        pfds[n].events = POLLIN;
        pfds[n].revents = 0;
        (void)poll(pfds, n + 1,
                   first < 0      ? -1
                   : first <= now ? 0
                                  : (int)apr_time_as_msec(first - now) + 1);
        if (pfds[n].revents != 0 && read(xsf_releaser.wake[0], drain, sizeof(drain)) < 0) {
            /* EAGAIN: an earlier round drained it */
        }
        now = apr_time_now();
        apr_thread_mutex_lock(xsf_releaser.lock);
        /* Backwards: an entry moved into slot i comes from the end, which
         * is either checked already or newer than this round's poll. */
        for (i = xsf_releaser.nheld; i-- > 0;) {
            if ((i < n && pfds[i].revents != 0) || xsf_releaser.held[i].deadline <= now) {
                close(xsf_releaser.held[i].fd);
                xsf_releaser.held[i] = xsf_releaser.held[--xsf_releaser.nheld];
            }
        }
        apr_thread_mutex_unlock(xsf_releaser.lock);
    }
    return NULL;
}

/* Hold `fd` until its producer comes or `deadline`; 0 if the releaser cannot. */
static int xsf_releaser_hold(int fd, apr_time_t deadline)
{
    int held = 0;

    if (xsf_releaser.pool == NULL || xsf_releaser.wake[1] < 0) {
        return 0;
    }
    apr_thread_mutex_lock(xsf_releaser.lock);
    if (xsf_releaser.thread == NULL
        && apr_thread_create(&xsf_releaser.thread, NULL, xsf_releaser_main, NULL, xsf_releaser.pool)
               != APR_SUCCESS) {
        xsf_releaser.thread = NULL;
    }
    if (xsf_releaser.thread != NULL && xsf_releaser.nheld == xsf_releaser.room) {
        apr_size_t room = xsf_releaser.room ? 2 * xsf_releaser.room : 16;
        xsf_held_t *more = realloc(xsf_releaser.held, room * sizeof(*more));

        if (more != NULL) {
            xsf_releaser.held = more;
            xsf_releaser.room = room;
        }
    }
    if (xsf_releaser.thread != NULL && xsf_releaser.nheld < xsf_releaser.room) {
        xsf_releaser.held[xsf_releaser.nheld].fd = fd;
        xsf_releaser.held[xsf_releaser.nheld].deadline = deadline;
        xsf_releaser.nheld++;
        held = 1;
    }
    apr_thread_mutex_unlock(xsf_releaser.lock);
    if (held && write(xsf_releaser.wake[1], "", 1) < 0) {
        /* EAGAIN: the self-pipe is full of wake-ups already */
    }
    return held;
}

/* Child exit: stop the thread, close what it still holds. */
static apr_status_t xsf_releaser_cleanup(void *data)
{
    apr_size_t i;

    (void)data;
    apr_thread_mutex_lock(xsf_releaser.lock);
    xsf_releaser.stopping = 1;
    apr_thread_mutex_unlock(xsf_releaser.lock);
    if (xsf_releaser.thread != NULL) {
        apr_status_t ignored;

        if (write(xsf_releaser.wake[1], "", 1) < 0) {
            /* full: the thread wakes up anyway */
        }
        apr_thread_join(&ignored, xsf_releaser.thread);
    }
    for (i = 0; i < xsf_releaser.nheld; i++) {
        close(xsf_releaser.held[i].fd);
    }
    free(xsf_releaser.held);
    xsf_releaser.held = NULL;
    xsf_releaser.nheld = xsf_releaser.room = 0;
    close(xsf_releaser.wake[0]);
    close(xsf_releaser.wake[1]);
    xsf_releaser.wake[0] = xsf_releaser.wake[1] = -1;
    xsf_releaser.pool = NULL;
    return APR_SUCCESS;
}
#endif

/* Keep `fd` open until its producer comes: in the releaser where it runs,
 * else here. */
static void xsf_release_later(int fd, apr_time_t deadline)
{
#if APR_HAS_THREADS
    if (xsf_releaser_hold(fd, deadline)) {
        return;
    }
#endif
    xsf_wait_for_producer(fd, deadline);
}

void xsf_pipe_child_init(apr_pool_t *pchild)
{
#if APR_HAS_THREADS
    apr_pool_t *p;

    if (apr_pool_create(&p, pchild) != APR_SUCCESS
        || apr_thread_mutex_create(&xsf_releaser.lock, APR_THREAD_MUTEX_DEFAULT, p)
               != APR_SUCCESS) {
        return; /* no releaser: xsf_pipe_close() waits itself */
    }
    if (pipe(xsf_releaser.wake) != 0) {
        xsf_releaser.wake[0] = xsf_releaser.wake[1] = -1;
        return;
    }
    (void)fcntl(xsf_releaser.wake[0], F_SETFD, FD_CLOEXEC);
    (void)fcntl(xsf_releaser.wake[1], F_SETFD, FD_CLOEXEC);
    (void)fcntl(xsf_releaser.wake[0], F_SETFL, O_NONBLOCK);
    (void)fcntl(xsf_releaser.wake[1], F_SETFL, O_NONBLOCK);
    xsf_releaser.pool = p;
    apr_pool_cleanup_register(p, NULL, xsf_releaser_cleanup, apr_pool_cleanup_null);
#else
    (void)pchild;
#endif
}

static apr_status_t xsf_pipe_cleanup(void *data)
{
    xsf_pipe_close(data);
    return APR_SUCCESS;
}

xsf_pipe_t *xsf_pipe_adopt(apr_pool_t *p, apr_file_t *file, apr_interval_time_t wait)
{
    xsf_pipe_t *pipe = apr_pcalloc(p, sizeof(*pipe));
    apr_os_file_t fd = -1;

    (void)apr_os_file_get(&fd, file);
    pipe->file = file;
    pipe->fd = fd;
    pipe->wait = wait;
    /* Registered after the file's own cleanup, so it runs first. */
    apr_pool_cleanup_register(p, pipe, xsf_pipe_cleanup, apr_pool_cleanup_null);
    return pipe;
}

void xsf_pipe_close(xsf_pipe_t *pipe)
{
    if (pipe->closed) {
        return;
    }
    pipe->closed = 1;
    if (!pipe->finished) {
        int held = fcntl(pipe->fd, F_DUPFD_CLOEXEC, 0);

        if (held >= 0) {
            xsf_release_later(held, apr_time_now() + pipe->wait);
        }
    }
    /* The one owner of the descriptor is APR's cleanup: this runs it. */
    (void)apr_file_close(pipe->file);
}
