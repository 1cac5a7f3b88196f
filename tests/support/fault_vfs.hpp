// A fault-injecting SQLite VFS for tests: it wraps the default VFS and makes the Nth xRead,
// xWrite, xSync or xTruncate (counted over the files whose name contains a filter string) fail
// with a chosen code, once or from then on. Installed as the default VFS, so every connection
// dbsafe opens (sqlite3_open_v2 with no VFS name) goes through it without any change to the
// library: the same idea as SQLite's own src/test_vfs.c, reduced to what our loops need.
//
// The VFS is process-global, like SQLite's registry: one `fault_vfs::scope` at a time, faults
// planned from one thread. Counters are atomics only so a writer thread cannot make them tear.
#pragma once

#include <sqlite3.h>

#include <atomic>
#include <cstring>
#include <stdexcept>
#include <string>

namespace dbsafe::test {

enum class vfs_op { read = 0, write, sync, truncate, count_ };

inline const char* to_string(vfs_op op) {
    switch (op) {
        case vfs_op::read:
            return "xRead";
        case vfs_op::write:
            return "xWrite";
        case vfs_op::sync:
            return "xSync";
        case vfs_op::truncate:
            return "xTruncate";
        case vfs_op::count_:
            break;
    }
    return "?";
}

// What to break: the `nth` matching call (1-based) of `op` returns `code`; with `persist`
// every later one does too (a disk that stays broken). nth == 0 injects nothing: the
// counters then tell how many injection points a run has.
struct fault_plan {
    vfs_op op = vfs_op::write;
    long nth = 0;
    int code = SQLITE_IOERR_WRITE;
    bool persist = false;
    std::string filter{};  // only files whose name contains this (empty: all files)
};

class fault_vfs {
  public:
    using plan = fault_plan;

    // Arms the fault plan for its lifetime (disarms after). The wrapper itself is registered
    // as the default VFS once per process and stays: dbsafe's fast-copy shims
    // (detail/fast_copy_vfs.hpp) wrap whatever VFS is the default when they are first used,
    // so ours must be in place before that and must never go away under them. Construct a
    // scope before the first backup of the process; disarmed, the wrapper only counts.
    class scope {
      public:
        explicit scope(plan p = {}) {
            fault_vfs& s = state();
            if (s.armed_scope_) throw std::logic_error("one fault_vfs::scope at a time");
            install_once();
            s.arm(std::move(p));
            s.armed_scope_ = true;
        }
        scope(const scope&) = delete;
        scope& operator=(const scope&) = delete;
        ~scope() {
            state().arm({});
            state().armed_scope_ = false;
        }
        // Re-arms with a new plan and zeroes the counters (connections stay open).
        void arm(plan p) { state().arm(std::move(p)); }
        [[nodiscard]] long calls(vfs_op op) const { return state().calls_[index(op)].load(); }
        [[nodiscard]] long injected() const { return state().injected_.load(); }
    };

  private:
    struct file {
        sqlite3_file base;  // must be first: SQLite hands us this pointer
        sqlite3_file* real;
        const char* name;  // valid until xClose (SQLite's promise); null for temp files
    };

    static fault_vfs& state() {
        static fault_vfs s;
        return s;
    }
    static constexpr int index(vfs_op op) { return static_cast<int>(op); }

    static void install_once() {
        fault_vfs& s = state();
        if (s.installed_) return;
        s.real_ = sqlite3_vfs_find(nullptr);
        if (s.real_ == nullptr) throw std::runtime_error("no default SQLite VFS");
        s.vfs_ = *s.real_;
        s.vfs_.zName = "dbsafe-fault";
        s.vfs_.pAppData = nullptr;
        s.vfs_.szOsFile = static_cast<int>(sizeof(file)) + s.real_->szOsFile;
        s.vfs_.xOpen = &x_open;
        s.vfs_.pNext = nullptr;
        if (sqlite3_vfs_register(&s.vfs_, 1) != SQLITE_OK) {
            throw std::runtime_error("cannot register the fault VFS");
        }
        s.installed_ = true;
    }

    void arm(plan p) {
        plan_ = std::move(p);
        for (auto& c : calls_) c = 0;
        injected_ = 0;
    }

    // Counts a call and decides whether it fails.
    static bool should_fail(const file* f, vfs_op op) {
        fault_vfs& s = state();
        const std::string& filter = s.plan_.filter;
        if (!filter.empty() &&
            (f->name == nullptr || std::strstr(f->name, filter.c_str()) == nullptr)) {
            return false;
        }
        const long n = ++s.calls_[index(op)];
        if (op != s.plan_.op || s.plan_.nth <= 0) return false;
        if (n == s.plan_.nth || (s.plan_.persist && n > s.plan_.nth)) {
            ++s.injected_;
            return true;
        }
        return false;
    }

    static sqlite3_file* real_of(sqlite3_file* f) { return reinterpret_cast<file*>(f)->real; }
    static file* self(sqlite3_file* f) { return reinterpret_cast<file*>(f); }

    static int x_close(sqlite3_file* f) {
        const int rc = real_of(f)->pMethods->xClose(real_of(f));
        f->pMethods = nullptr;
        return rc;
    }
    static int x_read(sqlite3_file* f, void* buf, int n, sqlite3_int64 off) {
        if (should_fail(self(f), vfs_op::read)) return state().plan_.code;
        return real_of(f)->pMethods->xRead(real_of(f), buf, n, off);
    }
    static int x_write(sqlite3_file* f, const void* buf, int n, sqlite3_int64 off) {
        if (should_fail(self(f), vfs_op::write)) return state().plan_.code;
        return real_of(f)->pMethods->xWrite(real_of(f), buf, n, off);
    }
    static int x_truncate(sqlite3_file* f, sqlite3_int64 size) {
        if (should_fail(self(f), vfs_op::truncate)) return state().plan_.code;
        return real_of(f)->pMethods->xTruncate(real_of(f), size);
    }
    static int x_sync(sqlite3_file* f, int flags) {
        if (should_fail(self(f), vfs_op::sync)) return state().plan_.code;
        return real_of(f)->pMethods->xSync(real_of(f), flags);
    }
    // Everything else is passed through unchanged.
    static int x_file_size(sqlite3_file* f, sqlite3_int64* size) {
        return real_of(f)->pMethods->xFileSize(real_of(f), size);
    }
    static int x_lock(sqlite3_file* f, int l) { return real_of(f)->pMethods->xLock(real_of(f), l); }
    static int x_unlock(sqlite3_file* f, int l) {
        return real_of(f)->pMethods->xUnlock(real_of(f), l);
    }
    static int x_check_reserved(sqlite3_file* f, int* out) {
        return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out);
    }
    static int x_file_control(sqlite3_file* f, int op, void* arg) {
        return real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
    }
    static int x_sector_size(sqlite3_file* f) {
        return real_of(f)->pMethods->xSectorSize(real_of(f));
    }
    static int x_device_characteristics(sqlite3_file* f) {
        return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f));
    }
    static int x_shm_map(sqlite3_file* f, int pg, int sz, int extend, void volatile** out) {
        return real_of(f)->pMethods->xShmMap(real_of(f), pg, sz, extend, out);
    }
    static int x_shm_lock(sqlite3_file* f, int off, int n, int flags) {
        return real_of(f)->pMethods->xShmLock(real_of(f), off, n, flags);
    }
    static void x_shm_barrier(sqlite3_file* f) { real_of(f)->pMethods->xShmBarrier(real_of(f)); }
    static int x_shm_unmap(sqlite3_file* f, int del) {
        return real_of(f)->pMethods->xShmUnmap(real_of(f), del);
    }
    static int x_fetch(sqlite3_file* f, sqlite3_int64 off, int n, void** out) {
        return real_of(f)->pMethods->xFetch(real_of(f), off, n, out);
    }
    static int x_unfetch(sqlite3_file* f, sqlite3_int64 off, void* p) {
        return real_of(f)->pMethods->xUnfetch(real_of(f), off, p);
    }

    static int x_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* out, int flags,
                      int* out_flags) {
        fault_vfs& s = state();
        file* f = reinterpret_cast<file*>(out);
        f->real = reinterpret_cast<sqlite3_file*>(f + 1);
        f->name = name;
        const int rc = s.real_->xOpen(s.real_, name, f->real, flags, out_flags);
        // SQLite calls xClose only when pMethods is set: leave it null if the real open left
        // the real file without methods.
        out->pMethods = f->real->pMethods != nullptr ? &s.methods_ : nullptr;
        return rc;
    }

    bool installed_ = false;
    bool armed_scope_ = false;
    sqlite3_vfs* real_ = nullptr;
    sqlite3_vfs vfs_{};
    plan plan_{};
    std::atomic<long> calls_[static_cast<int>(vfs_op::count_)]{};
    std::atomic<long> injected_{0};
    // Version 3 methods (WAL shared memory and mmap pass through to the real file).
    sqlite3_io_methods methods_{3,
                                &x_close,
                                &x_read,
                                &x_write,
                                &x_truncate,
                                &x_sync,
                                &x_file_size,
                                &x_lock,
                                &x_unlock,
                                &x_check_reserved,
                                &x_file_control,
                                &x_sector_size,
                                &x_device_characteristics,
                                &x_shm_map,
                                &x_shm_lock,
                                &x_shm_barrier,
                                &x_shm_unmap,
                                &x_fetch,
                                &x_unfetch};
};

}  // namespace dbsafe::test
