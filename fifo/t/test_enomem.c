/*
 * test_enomem.c: allocation failures.  This program defines posix_memalign
 * itself, which the fifo's allocations then go through, and makes it fail
 * on demand: a failed call leaves the fifo as it was.
 */
#include <errno.h>

#include "testutil.h"

static int allocations_left = -1; /* before one fails; -1: never */

int posix_memalign(void **mem, size_t align, size_t size)
{
    if (allocations_left == 0) {
        return ENOMEM;
    }
    if (allocations_left > 0) {
        --allocations_left;
    }
    *mem = aligned_alloc(align, (size + align - 1) / align * align);
    return *mem != NULL ? 0 : ENOMEM;
}

static void test_create(void)
{
    allocations_left = 0;
    tu_ok(fifo_create(4, 0, 0) == NULL, "fifo_create without memory returns NULL");
    allocations_left = -1;
}

static void test_write(void)
{
    fifo_t *f = fifo_create(4, 0, 0);
    unsigned char buf[16];
    size_t one;

    allocations_left = 0;
    tu_is_long(fifo_write(f, "abc", 3), FIFO_ENOMEM, "a write needing a first segment fails");
    tu_check(f, "failed first write");
    tu_ok(fifo_length(f) == 0 && fifo_memory(f) == 0, "and leaves the fifo empty");
    allocations_left = -1;
    tu_is_long(fifo_write(f, "abcd", 4), FIFO_OK, "with memory it works");
    one = fifo_memory(f);

    allocations_left = 1;
    tu_is_long(fifo_write(f, "0123456789", 10), FIFO_ENOMEM,
               "a write needing three segments fails when the second allocation does");
    tu_check(f, "failed write across segments");
    tu_is_long((long)fifo_length(f), 4, "nothing of it was written");
    tu_is_long((long)fifo_memory(f), (long)one, "the segment it did get was given back");
    allocations_left = -1;
    tu_is_long(fifo_write(f, "0123456789", 10), FIFO_OK, "with memory the same write works");
    tu_ok(fifo_read(f, buf, sizeof(buf)) == 14 && memcmp(buf, "abcd0123456789", 14) == 0,
          "and the bytes are exactly those of the successful writes");
    tu_check(f, "read back");
    fifo_destroy(f);
    tu_invariants_held("write: invariants held");
}

static void test_reserve(void)
{
    fifo_t *f = fifo_create(4, 0, 0);
    void *buf = &buf;
    size_t avail = 99;

    allocations_left = 0;
    tu_is_long(fifo_reserve(f, &buf, &avail), FIFO_ENOMEM, "reserve without memory fails");
    tu_ok(buf == NULL && avail == 0, "with empty out-parameters");
    tu_check(f, "failed reserve");
    allocations_left = -1;
    tu_is_long(fifo_reserve(f, &buf, &avail), FIFO_OK, "no reservation was left open");
    tu_is_long(fifo_commit(f, 0), FIFO_OK, "abandon it");
    fifo_destroy(f);
    tu_invariants_held("reserve: invariants held");
}

static void test_write_wait(void)
{
    fifo_t *f = fifo_create(4, 100, FIFO_THREADSAFE);
    size_t written = 99;

    fifo_write(f, "ab", 2);
    allocations_left = 0;
    tu_is_long(fifo_write_wait(f, "0123456789", 10, &written, -1), FIFO_ENOMEM,
               "write_wait without memory fails");
    tu_is_long((long)written, 0, "having written nothing");
    tu_is_long((long)fifo_length(f), 2, "the fifo holds what it held");
    tu_check(f, "failed write_wait");
    allocations_left = -1;
    fifo_destroy(f);
    tu_invariants_held("write_wait: invariants held");
}

int main(void)
{
    test_create();
    test_write();
    test_reserve();
    test_write_wait();
    return tu_done();
}
