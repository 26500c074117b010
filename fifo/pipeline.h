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
 * (a decoder saw the end of its stream, an encoder was told to finish), or
 * an error.  The pipeline's status is sticky: after an error every call
 * returns it.  Bytes reaching a stage after it reported FIFO_EOF, and a
 * finish before a decoding stage saw its end, are FIFO_EPROTO.
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
    FIFO_PIPELINE_NO_FLUSH = FIFO_DEFLATE_NO_FLUSH,  /* stages may hold data back */
    FIFO_PIPELINE_FLUSH = FIFO_DEFLATE_SYNC_FLUSH,   /* everything so far reaches the output */
    FIFO_PIPELINE_FINISH = FIFO_DEFLATE_FINISH       /* the input is complete */
};

typedef int (*fifo_stage_run_fn)(void *ctx, fifo_t *in, fifo_t *out, int flush);
typedef void (*fifo_stage_free_fn)(void *ctx);

typedef struct fifo_pipeline fifo_pipeline_t;

/* segment_size for every fifo of the pipeline. */
fifo_pipeline_t *fifo_pipeline_create(size_t segment_size);
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

/* Passes everything in the input fifo through the stages. */
int fifo_pipeline_run(fifo_pipeline_t *p, int flush);
/* fifo_write to the input, then fifo_pipeline_run(p, FIFO_PIPELINE_NO_FLUSH). */
int fifo_pipeline_write(fifo_pipeline_t *p, const void *data, size_t len);

#ifdef __cplusplus
}
#endif

#endif
