/*
 * What the race-free open costs against opening by name (bench/PROFILE.md).
 *
 *   bench/opencost DIR FILE [ROUNDS]      (make bench-opencost)
 *
 * FILE is a name beneath DIR.  Four ways to open it for reading and learn
 * its type, each timed over 20000 opens, alternated for ROUNDS rounds
 * (default 9), reported as the median nanoseconds per open (Markdown):
 *
 *   byname  stat + open + close of DIR/FILE: the original module;
 *   direct  openat2(O_RDONLY, RESOLVE_BENEATH) + fstat + close: what a root
 *           known to hold no device could use;
 *   probe   openat2(O_PATH, RESOLVE_BENEATH) + fstat + open of
 *           /proc/self/fd/N + close + close: the module (xsf_path.c), which
 *           never opens a device for reading;
 *   probe_at  the same, the last open relative to a descriptor of
 *           /proc/self/fd opened once.
 *
 * Linux only; needs openat2 (5.6).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define OPENS      20000
#define MAX_ROUNDS 99

static int dirfd_, failed;
static const char *dir, *file;
static char path[4096];

static long beneath(const char *rel, int flags)
{
    struct open_how how = { .flags = (unsigned long long)flags,
                            .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS };

    return syscall(SYS_openat2, dirfd_, rel, &how, sizeof(how));
}

static void byname(void)
{
    struct stat st;
    int fd;

    if (stat(path, &st) != 0 || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        failed = 1;
        return;
    }
    close(fd);
}

static void direct(void)
{
    struct stat st;
    int fd = (int)beneath(file, O_RDONLY | O_CLOEXEC);

    if (fd < 0 || fstat(fd, &st) != 0) {
        failed = 1;
    }
    if (fd >= 0) {
        close(fd);
    }
}

/* A descriptor of /proc/self/fd opened once, for probe_at. */
static int procfd;

/* The probe, then its inode reopened for reading through procfs: by the
 * whole path, or relative to procfd. */
static void probe_then_reopen(int at)
{
    struct stat st;
    int fd = (int)beneath(file, O_PATH | O_CLOEXEC);

    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        failed = 1;
    }
    else {
        char name[32];
        int rd;

        if (at) {
            snprintf(name, sizeof(name), "%d", fd);
            rd = openat(procfd, name, O_RDONLY | O_CLOEXEC);
        }
        else {
            snprintf(name, sizeof(name), "/proc/self/fd/%d", fd);
            rd = open(name, O_RDONLY | O_CLOEXEC);
        }
        if (rd < 0) {
            failed = 1;
        }
        else {
            close(rd);
        }
    }
    if (fd >= 0) {
        close(fd);
    }
}

static void probe(void)
{
    probe_then_reopen(0);
}

static void probe_at(void)
{
    probe_then_reopen(1);
}

static double ns_per_open(void (*fn)(void))
{
    struct timespec a, b;
    int i;

    clock_gettime(CLOCK_MONOTONIC, &a);
    for (i = 0; i < OPENS; i++) {
        fn();
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    return ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / OPENS;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), by_value);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    static double t[4][MAX_ROUNDS];
    static void (*const fns[4])(void) = { byname, direct, probe, probe_at };
    static const char *const names[4] = { "byname", "direct", "probe", "probe_at" };
    double m[4];
    int rounds = argc > 3 ? atoi(argv[3]) : 9;
    int r, k;

    if (argc < 3 || rounds < 1 || rounds > MAX_ROUNDS) {
        fprintf(stderr, "usage: %s DIR FILE [ROUNDS <= %d]\n", argv[0], MAX_ROUNDS);
        return 2;
    }
    dir = argv[1];
    file = argv[2];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    dirfd_ = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dirfd_ < 0) {
        perror(dir);
        return 2;
    }
    procfd = open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (procfd < 0) {
        perror("/proc/self/fd");
        return 2;
    }
    for (r = 0; r < rounds; r++) {
        for (k = 0; k < 4; k++) {
            t[k][r] = ns_per_open(fns[k]);
        }
    }
    if (failed) {
        fprintf(stderr, "%s: an open failed (is %s a regular file?)\n", argv[0], path);
        return 1;
    }
    printf("| open | ns per open, median of %d rounds of %d |\n|---|---|\n", rounds, OPENS);
    for (k = 0; k < 4; k++) {
        m[k] = median(t[k], rounds);
        printf("| %s | %.0f |\n", names[k], m[k]);
    }
    printf("\nprobe - direct: %.0f ns per open; probe_at - direct: %.0f ns\n", m[2] - m[1],
           m[3] - m[1]);
    return 0;
}
