/*
 * A disk-fault layer for tests, loaded into a broker with LD_PRELOAD. It wraps the calls the
 * broker's storage makes (open, pwrite/write, fsync/fdatasync, ftruncate) and fails them as the
 * control byte says, for files under SPOOL_FAULTS_DIR only:
 *   '-'  nothing fails
 *   'w'  writes fail with EIO
 *   'n'  writes fail with ENOSPC
 *   's'  fsync and fdatasync fail with EIO
 *   'c'  creating a file fails with ENOSPC
 * The control byte is the first byte of the file SPOOL_FAULTS_CONTROL, mapped shared, so the
 * test changes it with one write and the broker sees it at its next call.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static volatile const char *control;
static const char *faulty_dir;
static size_t faulty_dir_len;

__attribute__((constructor)) static void attach(void) {
    const char *path = getenv("SPOOL_FAULTS_CONTROL");
    faulty_dir = getenv("SPOOL_FAULTS_DIR");
    if (path == NULL || faulty_dir == NULL) return;
    faulty_dir_len = strlen(faulty_dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    void *page = mmap(NULL, 1, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (page != MAP_FAILED) control = page;
}

static int under_faulty_dir(const char *path) {
    return strncmp(path, faulty_dir, faulty_dir_len) == 0 &&
           (path[faulty_dir_len] == '/' || path[faulty_dir_len] == '\0');
}

/* Whether a call on `fd` fails with `*error` now: the armed fault is `kind`, on a file under the
 * faulty directory. */
static int fault(int fd, char kind) {
    if (control == NULL || *control != kind) return 0;
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t length = readlink(link, path, sizeof path - 1);
    if (length < 0) return 0;
    path[length] = '\0';
    return under_faulty_dir(path);
}

#define REAL(name) static __typeof__(name) *real; if (real == NULL) real = dlsym(RTLD_NEXT, #name)

static int write_fault(int fd) {
    if (fault(fd, 'w')) { errno = EIO; return 1; }
    if (fault(fd, 'n')) { errno = ENOSPC; return 1; }
    return 0;
}

ssize_t write(int fd, const void *buffer, size_t count) {
    REAL(write);
    if (write_fault(fd)) return -1;
    return real(fd, buffer, count);
}

ssize_t pwrite64(int fd, const void *buffer, size_t count, off_t offset) {
    REAL(pwrite64);
    if (write_fault(fd)) return -1;
    return real(fd, buffer, count, offset);
}

ssize_t pwrite(int fd, const void *buffer, size_t count, off_t offset) {
    REAL(pwrite);
    if (write_fault(fd)) return -1;
    return real(fd, buffer, count, offset);
}

ssize_t writev(int fd, const struct iovec *iov, int count) {
    REAL(writev);
    if (write_fault(fd)) return -1;
    return real(fd, iov, count);
}

int ftruncate64(int fd, off_t length) {
    REAL(ftruncate64);
    if (write_fault(fd)) return -1;
    return real(fd, length);
}

int ftruncate(int fd, off_t length) {
    REAL(ftruncate);
    if (write_fault(fd)) return -1;
    return real(fd, length);
}

int fsync(int fd) {
    REAL(fsync);
    if (fault(fd, 's')) { errno = EIO; return -1; }
    return real(fd);
}

int fdatasync(int fd) {
    REAL(fdatasync);
    if (fault(fd, 's')) { errno = EIO; return -1; }
    return real(fd);
}

/* Creating a file under the faulty directory while 'c' is armed. Paths are absolute there: the
 * broker is given an absolute data directory. */
static int create_fault(const char *path, int flags) {
    if (control == NULL || *control != 'c' || !(flags & O_CREAT)) return 0;
    if (!under_faulty_dir(path)) return 0;
    errno = ENOSPC;
    return 1;
}

#define OPEN_MODE(flags) \
    mode_t mode = 0; \
    if ((flags) & (O_CREAT | O_TMPFILE)) { va_list args; va_start(args, flags); mode = va_arg(args, mode_t); va_end(args); }

int open64(const char *path, int flags, ...) {
    REAL(open64);
    OPEN_MODE(flags);
    if (create_fault(path, flags)) return -1;
    return real(path, flags, mode);
}

int open(const char *path, int flags, ...) {
    REAL(open);
    OPEN_MODE(flags);
    if (create_fault(path, flags)) return -1;
    return real(path, flags, mode);
}

int openat64(int dir, const char *path, int flags, ...) {
    REAL(openat64);
    OPEN_MODE(flags);
    if (create_fault(path, flags)) return -1;
    return real(dir, path, flags, mode);
}

int openat(int dir, const char *path, int flags, ...) {
    REAL(openat);
    OPEN_MODE(flags);
    if (create_fault(path, flags)) return -1;
    return real(dir, path, flags, mode);
}
