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
    int ended;                  /* the stage returned FIFO_EOF */
};

struct fifo_pipeline {
    size_t seg_size;
    size_t nstages;
    struct fifo_stage *stages;
    fifo_t **fifos;             /* nstages + 1: fifos[i] feeds stages[i] */
    int status;
};

fifo_pipeline_t *fifo_pipeline_create(size_t segment_size)
{
    fifo_pipeline_t *p = calloc(1, sizeof(*p));

    if (p != NULL) {
        p->seg_size = segment_size;
        p->fifos = calloc(1, sizeof(*p->fifos));
        if (p->fifos != NULL)
            p->fifos[0] = fifo_create(segment_size, 0, 0);
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

    if (p == NULL)
        return;
    for (i = 0; i < p->nstages; ++i)
        if (p->stages[i].free_fn != NULL)
            p->stages[i].free_fn(p->stages[i].ctx);
    if (p->fifos != NULL)
        for (i = 0; i <= p->nstages; ++i)
            fifo_destroy(p->fifos[i]);
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
    } else if (ctx != NULL && n <= SIZE_MAX / sizeof(*fifos) - 2) {
        out = fifo_create(p->seg_size, 0, 0);
        stages = realloc(p->stages, (n + 1) * sizeof(*stages));
        if (stages != NULL)
            p->stages = stages;
        fifos = realloc(p->fifos, (n + 2) * sizeof(*fifos));
        if (fifos != NULL)
            p->fifos = fifos;
    }
    if (out != NULL && stages != NULL && fifos != NULL) {
        stages[n].run = run;
        stages[n].free_fn = free_fn;
        stages[n].ctx = ctx;
        stages[n].ended = 0;
        fifos[n + 1] = out;
        p->nstages = n + 1;
        rc = FIFO_OK;
    } else {
        fifo_destroy(out);
        if (free_fn != NULL && ctx != NULL)
            free_fn(ctx);
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

int fifo_pipeline_run(fifo_pipeline_t *p, int flush)
{
    size_t i;

    for (i = 0; i < p->nstages && p->status == FIFO_OK; ++i) {
        struct fifo_stage *st = &p->stages[i];
        fifo_t *in = p->fifos[i];
        int rc = FIFO_EOF;

        if (!st->ended)
            rc = st->run(st->ctx, in, p->fifos[i + 1], flush);
        if (rc == FIFO_EOF) {
            st->ended = 1;
            if (fifo_length(in) > 0)
                rc = FIFO_EPROTO;       /* bytes after the end of the stage's stream */
            else
                rc = FIFO_OK;
        } else if (rc == FIFO_OK && flush == FIFO_PIPELINE_FINISH) {
            rc = FIFO_EPROTO;           /* the input ended inside the stage's stream */
        }
        p->status = rc;
    }
    return p->status;
}

int fifo_pipeline_write(fifo_pipeline_t *p, const void *data, size_t len)
{
    int rc = p->status;

    if (rc == FIFO_OK)
        rc = fifo_write(p->fifos[0], data, len);
    if (rc == FIFO_OK)
        rc = fifo_pipeline_run(p, FIFO_PIPELINE_NO_FLUSH);
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
    int rc = FIFO_OK;

    if (len > 0 && (len >= st->threshold || flush != FIFO_PIPELINE_NO_FLUSH))
        rc = fifo_chunked_encode_fifo(out, in, len);
    if (rc == FIFO_OK && flush == FIFO_PIPELINE_FINISH) {
        rc = fifo_chunked_encode_end(out);
        if (rc == FIFO_OK)
            rc = FIFO_EOF;
    }
    return rc;
}

int fifo_pipeline_add_chunked_encoder(fifo_pipeline_t *p)
{
    struct fifo_encoder_stage *st = malloc(sizeof(*st));

    if (st != NULL)
        st->threshold = p->seg_size;
    return fifo_pipeline_add(p, fifo_encoder_run, free, st);
}

static int fifo_decoder_run(void *ctx, fifo_t *in, fifo_t *out, int flush)
{
    int rc = FIFO_OK;
    struct iovec iov;

    (void)flush;                /* the decoder holds nothing back */
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
