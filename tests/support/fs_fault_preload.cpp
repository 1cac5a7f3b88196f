// fs_fault_preload: an LD_PRELOAD shim that makes the Nth file-system call of one kind fail with
// a chosen errno, in a child process (the dbsafe CLI) that knows nothing about it. It covers
// dbsafe's own calls (detail/posix_file.hpp) and SQLite's unix VFS alike, because both reach
// libc through the dynamic symbol table. Chosen over an injectable layer in posix_file.hpp:
// no test hook in the library, and the binary under test is the one users run.
//
// Environment (read once, at the first intercepted call):
//   DBSAFE_FAULT_CALL    open | write | read | fsync | truncate | rename | unlink | mkdir
//   DBSAFE_FAULT_NTH     1-based occurrence to fail; 0 or unset: only count
//   DBSAFE_FAULT_ERRNO   errno to return (default EIO)
//   DBSAFE_FAULT_PERSIST 1: every matching call after the Nth fails too
//   DBSAFE_FAULT_PATH    only calls on paths containing this string (fd calls: the fd's path)
//   DBSAFE_FAULT_REPORT  file the shim writes "<matching calls> <injected>\n" to at exit
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>

namespace {

struct config {
    bool loaded = false;
    char call[16] = {};
    long nth = 0;
    int err = EIO;
    bool persist = false;
    char path[512] = {};
    char report[512] = {};
    long calls = 0;
    long injected = 0;
};

config cfg;
thread_local bool in_shim = false;  // our own bookkeeping must not count or fail

void copy_env(char* out, size_t size, const char* name) {
    const char* v = getenv(name);
    if (v != nullptr) snprintf(out, size, "%s", v);
}

void load() {
    if (cfg.loaded) return;
    cfg.loaded = true;
    copy_env(cfg.call, sizeof cfg.call, "DBSAFE_FAULT_CALL");
    copy_env(cfg.path, sizeof cfg.path, "DBSAFE_FAULT_PATH");
    copy_env(cfg.report, sizeof cfg.report, "DBSAFE_FAULT_REPORT");
    if (const char* v = getenv("DBSAFE_FAULT_NTH")) cfg.nth = strtol(v, nullptr, 10);
    if (const char* v = getenv("DBSAFE_FAULT_ERRNO"))
        cfg.err = static_cast<int>(strtol(v, nullptr, 10));
    if (const char* v = getenv("DBSAFE_FAULT_PERSIST")) cfg.persist = v[0] == '1';
}

bool path_matches(const char* p) {
    return cfg.path[0] == '\0' || (p != nullptr && strstr(p, cfg.path) != nullptr);
}

bool fd_matches(int fd) {
    if (cfg.path[0] == '\0') return true;
    char link[64];
    char target[1024];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    const ssize_t n = readlink(link, target, sizeof target - 1);
    if (n <= 0) return false;
    target[n] = '\0';
    return strstr(target, cfg.path) != nullptr;
}

// True when this call must fail (errno is then set). `matches` is evaluated lazily.
template <class Match>
bool inject(const char* call, Match&& matches) {
    if (in_shim) return false;
    in_shim = true;
    load();
    bool fail = false;
    if (strcmp(cfg.call, call) == 0 && matches()) {
        const long n = ++cfg.calls;
        fail = cfg.nth > 0 && (n == cfg.nth || (cfg.persist && n > cfg.nth));
        if (fail) ++cfg.injected;
    }
    in_shim = false;
    if (fail) errno = cfg.err;
    return fail;
}

template <class F>
F next(const char* name) {
    return reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

__attribute__((destructor)) void write_report() {
    if (cfg.report[0] == '\0') return;
    in_shim = true;
    if (FILE* f = fopen(cfg.report, "w")) {
        fprintf(f, "%ld %ld\n", cfg.calls, cfg.injected);
        fclose(f);
    }
    in_shim = false;
}

mode_t mode_arg(int flags, va_list ap) {
    return (flags & (O_CREAT | O_TMPFILE)) != 0 ? static_cast<mode_t>(va_arg(ap, int)) : 0;
}

}  // namespace

#define DBSAFE_FD_CALL(kind, ret, name, params, args, fd)            \
    extern "C" ret name params {                                     \
        static auto real = next<ret(*) params>(#name);               \
        if (inject(kind, [&] { return fd_matches(fd); })) return -1; \
        return real args;                                            \
    }
#define DBSAFE_PATH_CALL(kind, ret, name, params, args, p)            \
    extern "C" ret name params {                                      \
        static auto real = next<ret(*) params>(#name);                \
        if (inject(kind, [&] { return path_matches(p); })) return -1; \
        return real args;                                             \
    }

DBSAFE_FD_CALL("write", ssize_t, write, (int fd, const void* b, size_t n), (fd, b, n), fd)
DBSAFE_FD_CALL("write", ssize_t, pwrite, (int fd, const void* b, size_t n, off_t o), (fd, b, n, o),
               fd)
DBSAFE_FD_CALL("write", ssize_t, pwrite64, (int fd, const void* b, size_t n, off64_t o),
               (fd, b, n, o), fd)
DBSAFE_FD_CALL("read", ssize_t, read, (int fd, void* b, size_t n), (fd, b, n), fd)
DBSAFE_FD_CALL("read", ssize_t, pread, (int fd, void* b, size_t n, off_t o), (fd, b, n, o), fd)
DBSAFE_FD_CALL("read", ssize_t, pread64, (int fd, void* b, size_t n, off64_t o), (fd, b, n, o), fd)
DBSAFE_FD_CALL("fsync", int, fsync, (int fd), (fd), fd)
DBSAFE_FD_CALL("fsync", int, fdatasync, (int fd), (fd), fd)
DBSAFE_FD_CALL("truncate", int, ftruncate, (int fd, off_t l), (fd, l), fd)
DBSAFE_FD_CALL("truncate", int, ftruncate64, (int fd, off64_t l), (fd, l), fd)
DBSAFE_PATH_CALL("rename", int, rename, (const char* a, const char* b), (a, b), b)
DBSAFE_PATH_CALL("rename", int, renameat, (int da, const char* a, int db, const char* b),
                 (da, a, db, b), b)
DBSAFE_PATH_CALL("rename", int, link, (const char* a, const char* b), (a, b), b)
DBSAFE_PATH_CALL("unlink", int, unlink, (const char* p), (p), p)
DBSAFE_PATH_CALL("unlink", int, unlinkat, (int d, const char* p, int f), (d, p, f), p)
DBSAFE_PATH_CALL("mkdir", int, mkdir, (const char* p, mode_t m), (p, m), p)

// open and friends take a variadic mode.
#define DBSAFE_OPEN_CALL(name)                                          \
    extern "C" int name(const char* p, int flags, ...) {                \
        static auto real = next<int (*)(const char*, int, ...)>(#name); \
        va_list ap;                                                     \
        va_start(ap, flags);                                            \
        const mode_t mode = mode_arg(flags, ap);                        \
        va_end(ap);                                                     \
        if (inject("open", [&] { return path_matches(p); })) return -1; \
        return real(p, flags, mode);                                    \
    }
#define DBSAFE_OPENAT_CALL(name)                                             \
    extern "C" int name(int d, const char* p, int flags, ...) {              \
        static auto real = next<int (*)(int, const char*, int, ...)>(#name); \
        va_list ap;                                                          \
        va_start(ap, flags);                                                 \
        const mode_t mode = mode_arg(flags, ap);                             \
        va_end(ap);                                                          \
        if (inject("open", [&] { return path_matches(p); })) return -1;      \
        return real(d, p, flags, mode);                                      \
    }
DBSAFE_OPEN_CALL(open)
DBSAFE_OPEN_CALL(open64)
DBSAFE_OPENAT_CALL(openat)
DBSAFE_OPENAT_CALL(openat64)

// dbsafe renames with renameat2(RENAME_NOREPLACE) through syscall(2): catch that one number.
extern "C" long syscall(long number, ...) {
    static auto real = next<long (*)(long, ...)>("syscall");
    va_list ap;
    va_start(ap, number);
    long a[6];
    for (long& x : a) x = va_arg(ap, long);
    va_end(ap);
#if defined(SYS_renameat2)
    if (number == SYS_renameat2 &&
        inject("rename", [&] { return path_matches(reinterpret_cast<const char*>(a[3])); })) {
        return -1;
    }
#endif
    return real(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}
