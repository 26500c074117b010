/*
 * pipeline.c: stages over fifos, and adapters for the built-in stages.
 */
#include <stdint.h>
#include <stdlib.h>

#include "pipeline.h"

struct fifo_stage {
    fifo_stage_run_fn run;
    fifo_stage_free_fn free_fn;
    void *ctx;
    int ended; /* the stage returned FIFO_EOF */
};

struct fifo_pipeline {
    size_t seg_size;
    size_t high_water;
    size_t nstages;
    struct fifo_stage *stages;
    fifo_t **fifos; /* nstages + 1: fifos[i] feeds stages[i] */
    int status;
};

fifo_pipeline_t *fifo_pipeline_create(size_t segment_size, size_t high_water)
{
    fifo_pipeline_t *p = calloc(1, sizeof(*p));

    if (p != NULL) {
        p->seg_size = segment_size;
        p->high_water = high_water;
        p->fifos = calloc(1, sizeof(*p->fifos));
        if (p->fifos != NULL) {
            p->fifos[0] = fifo_create(segment_size, high_water, 0);
        }
        if (p->fifos == NULL || p->fifos[0] == NULL) {
            fifo_pipeline_destroy(p);
            p = NULL;
        }
    }
    return p;
}

void fifo_pipeline_destroy(fifo_pipeline_t *p)
{
    size_t i;

    if (p == NULL) {
        return;
    }
    for (i = 0; i < p->nstages; ++i) {
        if (p->stages[i].free_fn != NULL) {
            p->stages[i].free_fn(p->stages[i].ctx);
        }
    }
    for (i = 0; p->fifos != NULL && i <= p->nstages; ++i) {
        fifo_destroy(p->fifos[i]);
    }
    free(p->stages);
    free(p->fifos);
    free(p);
}

int fifo_pipeline_add(fifo_pipeline_t *p, fifo_stage_run_fn run, fifo_stage_free_fn free_fn,
                      void *ctx)
{
    struct fifo_stage *stages = NULL;
    fifo_t **fifos = NULL;
    fifo_t *out = NULL;
    size_t n = p->nstages;
    int rc = FIFO_ENOMEM;

    /* ctx is NULL when a built-in stage's constructor ran out of memory;
     * n + 2 fifo pointers must fit in a size_t. */
    if (run == NULL) {
        rc = FIFO_EINVAL;
    }
    else if (ctx != NULL && n <= SIZE_MAX / sizeof(*fifos) - 2) {
        out = fifo_create(p->seg_size, p->high_water, 0);
        stages = realloc(p->stages, (n + 1) * sizeof(*stages));
        if (stages != NULL) {
            p->stages = stages;
        }
        fifos = realloc(p->fifos, (n + 2) * sizeof(*fifos));
        if (fifos != NULL) {
            p->fifos = fifos;
        }
    }
    if (out != NULL && stages != NULL && fifos != NULL) {
        stages[n].run = run;
        stages[n].free_fn = free_fn;
        stages[n].ctx = ctx;
        stages[n].ended = 0;
        fifos[n + 1] = out;
        p->nstages = n + 1;
        rc = FIFO_OK;
    }
    else {
        fifo_destroy(out);
        if (free_fn != NULL && ctx != NULL) {
            free_fn(ctx);
        }
    }
    return rc;
}

fifo_t *fifo_pipeline_input(fifo_pipeline_t *p)
{
    return p->fifos[0];
}

fifo_t *fifo_pipeline_output(fifo_pipeline_t *p)
{
    return p->fifos[p->nstages];
}

/*
 * One pass over the stages.  A stage is told the caller's flush only when
 * every stage before it is through (returned FIFO_OK or FIFO_EOF in this
 * pass), else to move what it can.  *moved tells whether any byte moved or
 * a stage ended, *through whether the last stage is through.
 */
static int fifo_pipeline_pass(fifo_pipeline_t *p, int flush, int *moved, int *through)
{
    int upstream = 1;
    size_t i;
    int rc = FIFO_OK;

    for (i = 0; i < p->nstages && rc == FIFO_OK; ++i) {
        struct fifo_stage *st = &p->stages[i];
        fifo_t *in = p->fifos[i];
        fifo_t *out = p->fifos[i + 1];
        size_t in_before = fifo_length(in);
        size_t out_before = fifo_length(out);
        int stage_flush = upstream ? flush : FIFO_PIPELINE_NO_FLUSH;
        int src = st->ended ? FIFO_EOF : st->run(st->ctx, in, out, stage_flush);

        if (src == FIFO_EOF) {
            *moved |= !st->ended;
            st->ended = 1;
            /* bytes after the end of the stage's stream */
            rc = fifo_length(in) > 0 ? FIFO_EPROTO : FIFO_OK;
        }
        else if (src == FIFO_OK && stage_flush == FIFO_PIPELINE_FINISH) {
            rc = FIFO_EPROTO; /* the input ended inside the stage's stream */
        }
        else if (src != FIFO_OK && src != FIFO_EAGAIN) {
            rc = src;
        }
        *moved |= fifo_length(in) != in_before || fifo_length(out) != out_before;
        upstream = upstream && src != FIFO_EAGAIN;
    }
    *through = upstream;
    return rc;
}

int fifo_pipeline_run(fifo_pipeline_t *p, int flush)
{
    int moved = 1;
    int through = 0;

    /* A full fifo inside the pipeline empties when the stage after it
     * runs, so passes go on while anything moves. */
    while (p->status == FIFO_OK && moved && !through) {
        moved = 0;
        p->status = fifo_pipeline_pass(p, flush, &moved, &through);
    }
    return p->status == FIFO_OK && !through ? FIFO_EAGAIN : p->status;
}

int fifo_pipeline_write(fifo_pipeline_t *p, const void *data, size_t len, size_t *written)
{
    const unsigned char *bytes = data;
    size_t done = 0;
    int rc = p->status;

    while (rc == FIFO_OK && done < len) {
        size_t n = 0;

        rc = fifo_write_wait(p->fifos[0], bytes + done, len - done, &n, 0);
        done += n;
        if (rc == FIFO_OK || rc == FIFO_EAGAIN) {
            rc = fifo_pipeline_run(p, FIFO_PIPELINE_NO_FLUSH);
        }
        if (rc == FIFO_EAGAIN && n > 0) {
            rc = FIFO_OK; /* the input took bytes: it may take more now */
        }
    }
    *written = done;
    return rc;
}

/* ---- built-in stages ---- */

struct fifo_encoder_stage {
    size_t threshold;
};

/* Small writes would make small chunks, whose framing can outweigh the
 * data; so chunks are cut only a segment at a time until a flush. */
static int fifo_encoder_run(void *ctx, fifo_t *in, fifo_t *out, int flush)
{
    const struct fifo_encoder_stage *st = ctx;
    size_t len = fifo_length(in);
    size_t moved = 0;
    int rc = FIFO_OK;

    if (len > 0 && (len >= st->threshold || flush != FIFO_PIPELINE_NO_FLUSH)) {
        rc = fifo_chunked_encode_fifo(out, in, len, &moved);
    }
    if (rc == FIFO_OK && flush == FIFO_PIPELINE_FINISH) {
        rc = fifo_chunked_encode_end(out);
        rc = rc == FIFO_OK ? FIFO_EOF : rc;
    }
    return rc;
}

int fifo_pipeline_add_chunked_encoder(fifo_pipeline_t *p)
{
    struct fifo_encoder_stage *st = malloc(sizeof(*st));

    if (st != NULL) {
        st->threshold = p->seg_size;
    }
    return fifo_pipeline_add(p, fifo_encoder_run, free, st);
}

static int fifo_decoder_run(void *ctx, fifo_t *in, fifo_t *out, int flush)
{
    int rc = FIFO_OK;
    struct iovec iov;

    (void)flush; /* the decoder holds nothing back */
    while (rc == FIFO_OK && fifo_peek_iov(in, &iov, 1, SIZE_MAX) == 1) {
        size_t used = 0;
        rc = fifo_chunked_decode(ctx, iov.iov_base, iov.iov_len, &used, out);
        fifo_skip(in, used);
    }
    return rc;
}

static void fifo_decoder_free(void *ctx)
{
    fifo_chunked_decoder_destroy(ctx);
}

int fifo_pipeline_add_chunked_decoder(fifo_pipeline_t *p, const fifo_chunked_limits_t *limits)
{
    return fifo_pipeline_add(p, fifo_decoder_run, fifo_decoder_free,
                             fifo_chunked_decoder_create(limits));
}

static int fifo_zlib_run(void *ctx, fifo_t *in, fifo_t *out, int flush)
{
    return fifo_deflate_update_fifo(ctx, in, out, flush);
}

static void fifo_zlib_free(void *ctx)
{
    fifo_deflate_destroy(ctx);
}

int fifo_pipeline_add_deflate(fifo_pipeline_t *p, int mode, int format, int level)
{
    return fifo_pipeline_add(p, fifo_zlib_run, fifo_zlib_free,
                             fifo_deflate_create(mode, format, level));
}
