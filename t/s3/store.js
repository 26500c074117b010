// The S3-compatible store for t/s3.t: s3rver (the @20minutes fork, which
// verifies SigV4 signatures) on 127.0.0.1, a free port, one bucket.
// Prints "port N" once it listens; stops on SIGTERM.
//
//   NODE_PATH=<cache>/node_modules node store.js DATA_DIR BUCKET
'use strict';

const S3rver = require('@20minutes/s3rver');

const [directory, bucket] = process.argv.slice(2);
const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  directory,
  silent: true,
  configureBuckets: [{ name: bucket, configs: [] }],
});

server.run().then(({ port }) => {
  process.stdout.write(`port ${port}\n`);
});
// Nothing to flush: the data directory is the test's scratch.
process.on('SIGTERM', () => process.exit(0));
