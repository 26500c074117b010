/*
 * pipeline.h: stages chained over fifos.
 *
 *   input fifo -> stage 1 -> fifo -> stage 2 -> ... -> output fifo
 *
 * Bytes written to the pipeline go into its input fifo; fifo_pipeline_run
 * passes them through every stage in order; the caller drains the output
 * fifo.  Built-in stages: chunked encoder and decoder, deflate and inflate.
 * For example file bytes -> gzip -> chunked, and back: chunked -> gunzip.
 *
 * A stage is a function that moves what it can from its input fifo to its
 * output fifo and returns FIFO_OK, FIFO_EOF once its output is complete
 * (a decoder saw the end of its stream, an encoder was told to finish),
 * FIFO_EAGAIN when its output fifo reached its high-water mark with more to
 * write, or an error.  The pipeline's status is sticky: after an error
 * every call returns it.  Bytes reaching a stage after it reported
 * FIFO_EOF, and a finish before a decoding stage saw its end, are
 * FIFO_EPROTO.
 *
 * Bounded pipelines: every fifo of the pipeline gets the high-water mark
 * given at creation, and no stage writes past it (the built-in ones do
 * not; a custom stage must not either), so the pipeline never holds more
 * than (stages + 1) * high_water bytes.  When the output fifo is full the
 * calls return FIFO_EAGAIN: drain the output and call again.
 *
 * Return values follow fifo.h's rule.
 */
#ifndef FIFO_PIPELINE_H
#define FIFO_PIPELINE_H

#include "chunked.h"
#include "deflate.h"
#include "fifo.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How far fifo_pipeline_run pushes data: the values match fifo_deflate_flush. */
enum fifo_pipeline_flush {
    FIFO_PIPELINE_NO_FLUSH = FIFO_DEFLATE_NO_FLUSH, /* stages may hold data back */
    FIFO_PIPELINE_FLUSH = FIFO_DEFLATE_SYNC_FLUSH,  /* everything so far reaches the output */
    FIFO_PIPELINE_FINISH = FIFO_DEFLATE_FINISH      /* the input is complete */
};

typedef int (*fifo_stage_run_fn)(void *ctx, fifo_t *in, fifo_t *out, int flush);
typedef void (*fifo_stage_free_fn)(void *ctx);

typedef struct fifo_pipeline fifo_pipeline_t;

/* segment_size and high_water (0: none) for every fifo of the pipeline;
 * NULL on no memory or a segment_size of 0. */
fifo_pipeline_t *fifo_pipeline_create(size_t segment_size, size_t high_water);
/* Destroys the stages' contexts (through their free functions) and the fifos. */
void fifo_pipeline_destroy(fifo_pipeline_t *p);

/* Appends a stage; the pipeline owns ctx from now on, even when this fails. */
int fifo_pipeline_add(fifo_pipeline_t *p, fifo_stage_run_fn run, fifo_stage_free_fn free_fn,
                      void *ctx);
/* Emits a chunk when a segment's worth is waiting, on flush and on finish. */
int fifo_pipeline_add_chunked_encoder(fifo_pipeline_t *p);
int fifo_pipeline_add_chunked_decoder(fifo_pipeline_t *p, const fifo_chunked_limits_t *limits);
/* mode, format, level as fifo_deflate_create; decompression uses the default ratio bound. */
int fifo_pipeline_add_deflate(fifo_pipeline_t *p, int mode, int format, int level);

fifo_t *fifo_pipeline_input(fifo_pipeline_t *p);
fifo_t *fifo_pipeline_output(fifo_pipeline_t *p);

/*
 * Passes what is in the input fifo through the stages, with the flush given
 * (each stage is told to flush or finish only once everything before it is
 * through).  FIFO_OK when it all went through, FIFO_EAGAIN when the output
 * fifo is full with bytes still inside, or the pipeline's error.
 */
int fifo_pipeline_run(fifo_pipeline_t *p, int flush);
/*
 * Writes data to the input fifo and runs the pipeline without a flush, as
 * long as bytes move; *written tells how much of data went in.  FIFO_OK
 * when all of it did, FIFO_EAGAIN when the full output stopped the rest,
 * or the pipeline's error.
 */
int fifo_pipeline_write(fifo_pipeline_t *p, const void *data, size_t len, size_t *written);

#ifdef __cplusplus
}
#endif

#endif
