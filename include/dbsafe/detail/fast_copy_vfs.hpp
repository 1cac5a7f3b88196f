// fast_copy_vfs: two SQLite VFS shims over the default VFS that take the per-page system calls
// out of a backup copy, without changing a byte of its output.
//
// Why: copying a 512 MiB database through the backup API costs one 4 KiB pread and one 4 KiB
// pwrite per page (131 k of each, `strace -c`), and those calls, not the final fsync, are most of
// its time: the same copy through a shim that reads ahead and coalesces writes took 0.92 s
// instead of 1.55 s, 1.4x a `cp` + fsync of the file. So:
//
//  - "dbsafe-fast-read" (the SOURCE connection): a forward-sequential read of the main database
//    file fills a 4 MiB read-ahead buffer, and later reads inside it are served from memory. The
//    buffer is only valid while the connection's lock state is unchanged: every xLock, xUnlock,
//    xShmLock, xWrite, xTruncate and xFileControl drops it. That is enough because
//      * rollback journal: a reader holds SHARED on the file for its whole read transaction and
//        no writer may change the file under SHARED; a new transaction takes the lock again
//        (and so starts with an empty buffer, before SQLite re-reads the change counter);
//      * WAL: the file lock is held across transactions, but each read transaction takes and
//        releases a read-mark lock through xShmLock. While it is held a checkpoint copies only
//        frames up to our read mark into the file, and SQLite reads every such page from the
//        WAL, never from the file; so each page SQLite asks the file for is stable for the
//        whole read transaction. The buffer may hold other, changing pages, but those are
//        exactly the pages SQLite never reads from the file in this transaction.
//  - "dbsafe-fast-write" (the DESTINATION, a private staging file): sequential writes are
//    gathered into a 1 MiB buffer and written in 64 KiB pieces (the unix VFS masks an xWrite's
//    length to 17 bits and reports SQLITE_FULL for 128 KiB or more, so bigger pieces are
//    impossible through it). The buffer is written out before anything that could observe the
//    file: xRead, xSync, xFileSize, xTruncate, xLock/xUnlock, xFileControl (SQLite's commit and
//    sync hints arrive here, so write errors surface from the commit), xShm*, xFetch, xClose,
//    and before any write that does not continue the buffered run. Never use it for a live
//    database: with synchronous=OFF a crash could lose buffered pages after the journal is gone.
//  - "dbsafe-live-write" (restore's own connection to the LIVE database, with synchronous=FULL):
//    the same gathering for the database file, its rollback journal and its WAL, each file
//    holding back at most one run of consecutive writes (process-wide, under a mutex). Every
//    run is written out before any call on any file of this VFS that makes data durable or
//    shows it to another connection: xSync, xTruncate, xLock, xUnlock, xFileControl (SQLite's
//    commit hints), every xShm* call, xFetch, xClose, and the VFS's xOpen, xDelete (a rollback
//    journal's deletion commits) and xAccess; xFileSize of a file, or a read that does not
//    start past the end of its run, first writes out that file's own run. Why that is safe:
//      * kill -9: what reached the OS is every write before the last xSync plus a subset of
//        the writes since (the runs not yet written are lost). A power failure can leave
//        exactly such a state without us (the OS writes unsynced pages back in any order), and
//        recovering from every such state is what SQLite guarantees at synchronous=FULL (each
//        page is overwritten in the file only after its original reached the synced journal;
//        WAL frames count only up to a commit frame with a valid checksum chain, and a
//        checkpoint syncs the WAL before writing the file). The same holds for a power failure
//        with us, since each xSync writes every run out first.
//      * other connections: they learn of a change only through locks or the wal-index (a WAL
//        commit is published with xShmBarrier, a rollback commit by xUnlock after the journal's
//        xDelete, a checkpoint lets readers at the file through xShmLock), each of which
//        writes every run out first.
//      * device claims: a live file reports no ordering capability (SEQUENTIAL, SAFE_APPEND,
//        BATCH_ATOMIC masked out), so SQLite never skips a sync counting on write order.
//      * errors: a failed write surfaces from the call that triggered it. xShmBarrier cannot
//        report one, hence synchronous=FULL: a WAL commit's xSync writes its frames out (and
//        can fail the commit) before xShmBarrier publishes them.
//
// The reader also carries an optional read_meter (read_meter.hpp): a SQLite check on a connection
// opened with it reports how far it has read, and reads without read-ahead while it does.
//
// The reader and the writer wrap main-database files only; journals and WAL files are opened by
// the real VFS as they are (the live writer wraps those too). The shims are registered once per
// process under private names (never the default).
#pragma once

#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
#include <mutex>

#include "dbsafe/detail/read_meter.hpp"

namespace dbsafe::detail {

namespace fast_copy {

inline constexpr int read_ahead_bytes = 4 << 20;    // 1024 pages of 4 KiB: 1 pread, not 1024
inline constexpr int write_buffer_bytes = 1 << 20;  // gathered before writing
inline constexpr int write_piece_bytes = 64 << 10;  // < 128 KiB, see above

enum class role { reader, writer, live };

// A shim VFS: sqlite3_vfs first, so the sqlite3_vfs* SQLite hands back is one of these.
struct shim_vfs {
    sqlite3_vfs base;
    sqlite3_vfs* root;
    role kind;
};

// Our sqlite3_file. The real VFS's file object lives right after it, in the same allocation.
struct shim_file {
    sqlite3_file base;  // must be first
    sqlite3_file* real;
    role kind;
    unsigned char* buffer;  // sqlite3_malloc'd on first use, freed by xClose
    sqlite3_int64 buffer_offset;
    sqlite3_int64 buffer_length;  // reader: valid bytes; writer: bytes not yet written
    sqlite3_int64 last_read_end;  // reader: where the previous read ended, -1 before any
    int deferred_error;           // writer, live: the first failed write-out, returned by
                                  // every later sync and close: it sticks, since the file's
                                  // bytes are unknown after it
    unsigned shm_shared;          // reader: wal-index locks held shared, one bit per lock slot
    read_meter* meter;            // reader: told of every read while a check runs, or nullptr
};

inline constexpr std::size_t file_header_size =
    (sizeof(shim_file) + alignof(std::max_align_t) - 1) / alignof(std::max_align_t) *
    alignof(std::max_align_t);

inline shim_file* as_shim(sqlite3_file* f) noexcept { return reinterpret_cast<shim_file*>(f); }
inline sqlite3_file* real_of(sqlite3_file* f) noexcept { return as_shim(f)->real; }

inline void drop_read_ahead(shim_file* p) noexcept { p->buffer_length = 0; }

// The runs "dbsafe-live-write" files hold back, process-wide (see the top).
struct live_runs {
    std::recursive_mutex mutex;  // every call on a live file; recursive for unwrap() inside one
    std::array<shim_file*, 4> held{};  // files holding a run (a connection writes three)
};
inline live_runs& live() noexcept {
    static live_runs run;
    return run;
}
// Held for the whole of each call on a live file; does nothing for the other roles.
class live_guard {
  public:
    explicit live_guard(const shim_file* p) noexcept : locked_(p->kind == role::live) {
        if (locked_) live().mutex.lock();
    }
    live_guard(const live_guard&) = delete;
    live_guard& operator=(const live_guard&) = delete;
    ~live_guard() {
        if (locked_) live().mutex.unlock();
    }

  private:
    bool locked_;
};

inline bool ensure_buffer(shim_file* p, int bytes) noexcept {
    if (p->buffer == nullptr) p->buffer = static_cast<unsigned char*>(sqlite3_malloc(bytes));
    return p->buffer != nullptr;
}

inline int write_in_pieces(sqlite3_file* real, const unsigned char* data, sqlite3_int64 amount,
                           sqlite3_int64 offset) noexcept {
    while (amount > 0) {
        const int piece = static_cast<int>(std::min<sqlite3_int64>(amount, write_piece_bytes));
        const int rc = real->pMethods->xWrite(real, data, piece, offset);
        if (rc != SQLITE_OK) return rc;
        data += piece;
        offset += piece;
        amount -= piece;
    }
    return SQLITE_OK;
}

// Writer, live: puts the gathered bytes into the file. A reader has nothing to flush.
inline int flush(shim_file* p) noexcept {
    if (p->kind == role::reader || p->buffer_length == 0) return SQLITE_OK;
    const int rc = write_in_pieces(p->real, p->buffer, p->buffer_length, p->buffer_offset);
    p->buffer_length = 0;
    if (p->kind == role::live)
        std::replace(live().held.begin(), live().held.end(), p, static_cast<shim_file*>(nullptr));
    if (rc != SQLITE_OK) p->deferred_error = rc;
    return rc;
}

// Live: writes out the run held back, whichever file it belongs to (the caller holds the mutex).
inline int flush_live_runs() noexcept {
    int first_error = SQLITE_OK;
    for (shim_file* held : live().held) {
        const int rc = held == nullptr ? SQLITE_OK : flush(held);
        if (first_error == SQLITE_OK) first_error = rc;
    }
    return first_error;
}

// Live: remembers that `p` holds a run; with no free slot, the others' runs are written first.
inline int hold_live_run(shim_file* p) noexcept {
    auto& held = live().held;
    if (std::find(held.begin(), held.end(), p) != held.end()) return SQLITE_OK;
    auto slot = std::find(held.begin(), held.end(), nullptr);
    if (slot == held.end()) {
        if (const int rc = flush_live_runs(); rc != SQLITE_OK) return rc;
        slot = held.begin();
    }
    *slot = p;
    return SQLITE_OK;
}

// Before any call that may observe or change the file: the reader forgets what it read ahead,
// the writer writes what it gathered, a live file writes out the run held back on any file.
inline int settle(sqlite3_file* f) noexcept {
    shim_file* p = as_shim(f);
    if (p->kind == role::reader) {
        drop_read_ahead(p);
        return SQLITE_OK;
    }
    return p->kind == role::live ? flush_live_runs() : flush(p);
}

// Like settle, but a reader keeps what it read ahead (the call does not change the file).
inline int settle_writes(sqlite3_file* f) noexcept {
    shim_file* p = as_shim(f);
    return p->kind == role::live ? flush_live_runs() : flush(p);
}

inline int x_close(sqlite3_file* f) noexcept {
    shim_file* p = as_shim(f);
    const live_guard guard(p);
    const int flushed = settle(f);
    const int rc = p->real->pMethods->xClose(p->real);
    sqlite3_free(p->buffer);
    p->buffer = nullptr;
    if (flushed != SQLITE_OK) return flushed;
    return rc != SQLITE_OK ? rc : p->deferred_error;
}

inline int x_read(sqlite3_file* f, void* out, int amount, sqlite3_int64 offset) noexcept {
    shim_file* p = as_shim(f);
    sqlite3_file* real = p->real;
    const live_guard guard(p);
    if (p->kind != role::reader) {
        // A live file's read that starts at or past the end of its run sees the same bytes
        // (and the same short read at the end) with the run written or not: the rollback
        // journal's reads of original pages run ahead of the pages a cache spill writes.
        const bool past_run = p->kind == role::live && p->buffer_length > 0 &&
                              offset >= p->buffer_offset + p->buffer_length;
        if (!past_run) {
            if (const int rc = flush(p); rc != SQLITE_OK) return rc;
        }
        return real->pMethods->xRead(real, out, amount, offset);
    }
    if (p->meter != nullptr) {
        // A check: counted, and never read ahead. Its reads jump around the file (b-tree order,
        // lookups), and reading ahead for them made a 512 MiB quick_check take 0.8-1.0 s
        // instead of 0.5 s (measured). The buffer stays valid for after the check.
        p->meter->saw(offset, amount);
        return real->pMethods->xRead(real, out, amount, offset);
    }
    const sqlite3_int64 end = offset + amount;
    if (p->buffer_length > 0 && offset >= p->buffer_offset &&
        end <= p->buffer_offset + p->buffer_length) {
        std::memcpy(out, p->buffer + (offset - p->buffer_offset), static_cast<std::size_t>(amount));
        p->last_read_end = end;
        return SQLITE_OK;
    }
    // Read ahead only for a forward scan (a backup, an integrity check): a random lookup would
    // pay 4 MiB for 4 KiB. The first read after opening never counts as a scan.
    const bool forward = p->last_read_end >= 0 && offset >= p->last_read_end &&
                         offset - p->last_read_end < read_ahead_bytes;
    p->last_read_end = end;
    if (!forward || amount >= read_ahead_bytes || !ensure_buffer(p, read_ahead_bytes)) {
        return real->pMethods->xRead(real, out, amount, offset);
    }
    sqlite3_int64 size = 0;
    if (real->pMethods->xFileSize(real, &size) != SQLITE_OK || size < end) {
        // Near the end of the file: let SQLite see its short read exactly as without us.
        return real->pMethods->xRead(real, out, amount, offset);
    }
    const int length = static_cast<int>(std::min<sqlite3_int64>(read_ahead_bytes, size - offset));
    if (real->pMethods->xRead(real, p->buffer, length, offset) != SQLITE_OK) {
        drop_read_ahead(p);
        return real->pMethods->xRead(real, out, amount, offset);
    }
    p->buffer_offset = offset;
    p->buffer_length = length;
    std::memcpy(out, p->buffer, static_cast<std::size_t>(amount));
    return SQLITE_OK;
}

inline int x_write(sqlite3_file* f, const void* data, int amount, sqlite3_int64 offset) noexcept {
    shim_file* p = as_shim(f);
    sqlite3_file* real = p->real;
    if (p->kind == role::reader) {
        drop_read_ahead(p);
        return real->pMethods->xWrite(real, data, amount, offset);
    }
    const live_guard guard(p);
    const bool continues = p->buffer_length > 0 && offset == p->buffer_offset + p->buffer_length;
    if (p->buffer_length > 0 && (!continues || p->buffer_length + amount > write_buffer_bytes)) {
        if (const int rc = flush(p); rc != SQLITE_OK) return rc;
    }
    const auto* bytes = static_cast<const unsigned char*>(data);
    if (amount >= write_buffer_bytes || !ensure_buffer(p, write_buffer_bytes)) {
        return write_in_pieces(real, bytes, amount, offset);
    }
    if (p->buffer_length == 0) p->buffer_offset = offset;
    std::memcpy(p->buffer + p->buffer_length, bytes, static_cast<std::size_t>(amount));
    p->buffer_length += amount;
    return p->kind == role::live ? hold_live_run(p) : SQLITE_OK;
}

inline int x_truncate(sqlite3_file* f, sqlite3_int64 size) noexcept {
    const live_guard guard(as_shim(f));
    if (const int rc = settle(f); rc != SQLITE_OK) return rc;
    return real_of(f)->pMethods->xTruncate(real_of(f), size);
}

inline int x_sync(sqlite3_file* f, int flags) noexcept {
    const live_guard guard(as_shim(f));
    if (const int rc = settle(f); rc != SQLITE_OK) return rc;
    // Live: an earlier write-out failed (one by xShmBarrier, which cannot report, or one that
    // was reported): the file's bytes are unknown, so no sync may claim them durable.
    if (as_shim(f)->kind == role::live && as_shim(f)->deferred_error != SQLITE_OK) {
        return as_shim(f)->deferred_error;
    }
    return real_of(f)->pMethods->xSync(real_of(f), flags);
}

inline int x_file_size(sqlite3_file* f, sqlite3_int64* size) noexcept {
    // A reader keeps its buffer: the size does not change what it read under the same lock.
    const live_guard guard(as_shim(f));
    if (const int rc = flush(as_shim(f)); rc != SQLITE_OK) return rc;
    return real_of(f)->pMethods->xFileSize(real_of(f), size);
}

inline int x_lock(sqlite3_file* f, int level) noexcept {
    const live_guard guard(as_shim(f));
    if (const int rc = settle(f); rc != SQLITE_OK) return rc;
    return real_of(f)->pMethods->xLock(real_of(f), level);
}

inline int x_unlock(sqlite3_file* f, int level) noexcept {
    const live_guard guard(as_shim(f));
    if (const int rc = settle(f); rc != SQLITE_OK) return rc;
    return real_of(f)->pMethods->xUnlock(real_of(f), level);
}

inline int x_check_reserved_lock(sqlite3_file* f, int* out) noexcept {
    const live_guard guard(as_shim(f));  // a live file may be written out by another thread
    return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out);
}

inline int x_file_control(sqlite3_file* f, int op, void* arg) noexcept {
    const live_guard guard(as_shim(f));
    if (const int rc = settle(f); rc != SQLITE_OK) return rc;
    return real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
}

inline int x_sector_size(sqlite3_file* f) noexcept {
    return real_of(f)->pMethods->xSectorSize(real_of(f));
}

inline int x_device_characteristics(sqlite3_file* f) noexcept {
    const int real = real_of(f)->pMethods->xDeviceCharacteristics(real_of(f));
    // Live: writes between two syncs do not reach the OS in SQLite's order, so SQLite must not
    // skip a sync on the strength of a device that keeps that order (SEQUENTIAL, SAFE_APPEND)
    // or of atomic batches (BATCH_ATOMIC). The unix VFS claims none of them on common systems.
    constexpr int ordering =
        SQLITE_IOCAP_SEQUENTIAL | SQLITE_IOCAP_SAFE_APPEND | SQLITE_IOCAP_BATCH_ATOMIC;
    return as_shim(f)->kind == role::live ? real & ~ordering : real;
}

inline int x_shm_map(sqlite3_file* f, int region, int size, int extend,
                     void volatile** out) noexcept {
    const live_guard guard(as_shim(f));
    if (const int rc = settle_writes(f); rc != SQLITE_OK) return rc;
    return real_of(f)->pMethods->xShmMap(real_of(f), region, size, extend, out);
}

// WAL read transactions begin and end here (read-mark locks): the reader's buffer goes.
// The reader also remembers which wal-index locks it holds shared, for reads_only_database_file.
inline int x_shm_lock(sqlite3_file* f, int offset, int n, int flags) noexcept {
    const live_guard guard(as_shim(f));
    if (const int rc = settle(f); rc != SQLITE_OK) return rc;
    const int rc = real_of(f)->pMethods->xShmLock(real_of(f), offset, n, flags);
    shim_file* p = as_shim(f);
    if (rc == SQLITE_OK && offset >= 0 && n > 0 && offset + n <= 32) {
        const unsigned bits = (n == 32 ? ~0U : ((1U << n) - 1U)) << offset;
        if ((flags & SQLITE_SHM_UNLOCK) != 0) {
            p->shm_shared &= ~bits;
        } else if ((flags & SQLITE_SHM_SHARED) != 0) {
            p->shm_shared |= bits;
        }
    }
    return rc;
}

inline void x_shm_barrier(sqlite3_file* f) noexcept {
    const live_guard guard(as_shim(f));
    // A WAL commit publishes its frames here (live); an error is kept for the next xSync.
    if (as_shim(f)->kind == role::live) (void)flush_live_runs();
    real_of(f)->pMethods->xShmBarrier(real_of(f));
}

inline int x_shm_unmap(sqlite3_file* f, int delete_flag) noexcept {
    const live_guard guard(as_shim(f));
    if (const int rc = settle(f); rc != SQLITE_OK) return rc;
    return real_of(f)->pMethods->xShmUnmap(real_of(f), delete_flag);
}

inline int x_fetch(sqlite3_file* f, sqlite3_int64 offset, int amount, void** out) noexcept {
    const live_guard guard(as_shim(f));
    if (const int rc = settle_writes(f); rc != SQLITE_OK) return rc;
    if (as_shim(f)->meter != nullptr) as_shim(f)->meter->saw(offset, amount);
    return real_of(f)->pMethods->xFetch(real_of(f), offset, amount, out);
}

inline int x_unfetch(sqlite3_file* f, sqlite3_int64 offset, void* page) noexcept {
    const live_guard guard(as_shim(f));
    return real_of(f)->pMethods->xUnfetch(real_of(f), offset, page);
}

// One method table per io-methods version, so we never offer SQLite a method the real file
// lacks (WAL needs version 2, memory-mapped reads version 3).
inline const sqlite3_io_methods* methods_for(int version) noexcept {
    static const auto make = [](int v) {
        sqlite3_io_methods m{};
        m.iVersion = v;
        m.xClose = x_close;
        m.xRead = x_read;
        m.xWrite = x_write;
        m.xTruncate = x_truncate;
        m.xSync = x_sync;
        m.xFileSize = x_file_size;
        m.xLock = x_lock;
        m.xUnlock = x_unlock;
        m.xCheckReservedLock = x_check_reserved_lock;
        m.xFileControl = x_file_control;
        m.xSectorSize = x_sector_size;
        m.xDeviceCharacteristics = x_device_characteristics;
        if (v >= 2) {
            m.xShmMap = x_shm_map;
            m.xShmLock = x_shm_lock;
            m.xShmBarrier = x_shm_barrier;
            m.xShmUnmap = x_shm_unmap;
        }
        if (v >= 3) {
            m.xFetch = x_fetch;
            m.xUnfetch = x_unfetch;
        }
        return m;
    };
    static const sqlite3_io_methods v1 = make(1);
    static const sqlite3_io_methods v2 = make(2);
    static const sqlite3_io_methods v3 = make(3);
    return version >= 3 ? &v3 : version == 2 ? &v2 : &v1;
}

inline sqlite3_vfs* root_of(sqlite3_vfs* vfs) noexcept {
    return reinterpret_cast<shim_vfs*>(vfs)->root;
}

// Live: a VFS call may observe the files (xAccess, xOpen of a hot journal) or change them
// (deleting a journal commits a rollback-journal transaction), so every held run goes first.
inline int settle_live_vfs(sqlite3_vfs* v) noexcept {
    if (reinterpret_cast<shim_vfs*>(v)->kind != role::live) return SQLITE_OK;
    const std::lock_guard<std::recursive_mutex> guard(live().mutex);
    return flush_live_runs();
}

inline int x_open(sqlite3_vfs* vfs, const char* name, sqlite3_file* f, int flags,
                  int* out_flags) noexcept {
    sqlite3_vfs* root = root_of(vfs);
    const role kind = reinterpret_cast<shim_vfs*>(vfs)->kind;
    // Live: the journal and the WAL are written too, and their order against the file matters.
    const int wrapped = kind == role::live
                            ? SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_MAIN_JOURNAL | SQLITE_OPEN_WAL
                            : SQLITE_OPEN_MAIN_DB;
    if (const int rc = settle_live_vfs(vfs); rc != SQLITE_OK) return rc;
    if ((flags & wrapped) == 0) return root->xOpen(root, name, f, flags, out_flags);
    shim_file* p = as_shim(f);
    std::memset(p, 0, sizeof(shim_file));
    p->real =
        reinterpret_cast<sqlite3_file*>(reinterpret_cast<unsigned char*>(f) + file_header_size);
    p->kind = kind;
    p->last_read_end = -1;
    const int rc = root->xOpen(root, name, p->real, flags, out_flags);
    // SQLite calls xClose whenever pMethods is set, even after a failed open: mirror the real.
    p->base.pMethods =
        p->real->pMethods != nullptr ? methods_for(p->real->pMethods->iVersion) : nullptr;
    return rc;
}

// Everything that is not about one open file goes straight to the real VFS.
inline int x_delete(sqlite3_vfs* v, const char* n, int sync_dir) noexcept {
    if (const int rc = settle_live_vfs(v); rc != SQLITE_OK) return rc;
    return root_of(v)->xDelete(root_of(v), n, sync_dir);
}
inline int x_access(sqlite3_vfs* v, const char* n, int flags, int* out) noexcept {
    if (const int rc = settle_live_vfs(v); rc != SQLITE_OK) return rc;
    return root_of(v)->xAccess(root_of(v), n, flags, out);
}
inline int x_full_pathname(sqlite3_vfs* v, const char* n, int size, char* out) noexcept {
    return root_of(v)->xFullPathname(root_of(v), n, size, out);
}
inline void* x_dl_open(sqlite3_vfs* v, const char* n) noexcept {
    return root_of(v)->xDlOpen(root_of(v), n);
}
inline void x_dl_error(sqlite3_vfs* v, int n, char* out) noexcept {
    root_of(v)->xDlError(root_of(v), n, out);
}
using dl_symbol = void (*)();
inline dl_symbol x_dl_sym(sqlite3_vfs* v, void* h, const char* s) noexcept {
    return root_of(v)->xDlSym(root_of(v), h, s);
}
inline void x_dl_close(sqlite3_vfs* v, void* h) noexcept { root_of(v)->xDlClose(root_of(v), h); }
inline int x_randomness(sqlite3_vfs* v, int n, char* out) noexcept {
    return root_of(v)->xRandomness(root_of(v), n, out);
}
inline int x_sleep(sqlite3_vfs* v, int us) noexcept { return root_of(v)->xSleep(root_of(v), us); }
inline int x_current_time(sqlite3_vfs* v, double* out) noexcept {
    return root_of(v)->xCurrentTime(root_of(v), out);
}
inline int x_get_last_error(sqlite3_vfs* v, int n, char* out) noexcept {
    return root_of(v)->xGetLastError(root_of(v), n, out);
}
inline int x_current_time_int64(sqlite3_vfs* v, sqlite3_int64* out) noexcept {
    return root_of(v)->xCurrentTimeInt64(root_of(v), out);
}
inline int x_set_system_call(sqlite3_vfs* v, const char* n, sqlite3_syscall_ptr p) noexcept {
    return root_of(v)->xSetSystemCall(root_of(v), n, p);
}
inline sqlite3_syscall_ptr x_get_system_call(sqlite3_vfs* v, const char* n) noexcept {
    return root_of(v)->xGetSystemCall(root_of(v), n);
}
inline const char* x_next_system_call(sqlite3_vfs* v, const char* n) noexcept {
    return root_of(v)->xNextSystemCall(root_of(v), n);
}

inline void fill(shim_vfs& shim, sqlite3_vfs* root, role kind, const char* name) noexcept {
    shim.root = root;
    shim.kind = kind;
    sqlite3_vfs& v = shim.base;
    v.iVersion = std::min(root->iVersion, 3);
    v.szOsFile = static_cast<int>(file_header_size) + root->szOsFile;
    v.mxPathname = root->mxPathname;
    v.zName = name;
    v.xOpen = x_open;
    v.xDelete = x_delete;
    v.xAccess = x_access;
    v.xFullPathname = x_full_pathname;
    v.xDlOpen = x_dl_open;
    v.xDlError = x_dl_error;
    v.xDlSym = x_dl_sym;
    v.xDlClose = x_dl_close;
    v.xRandomness = x_randomness;
    v.xSleep = x_sleep;
    v.xCurrentTime = x_current_time;
    v.xGetLastError = x_get_last_error;
    if (v.iVersion >= 2) v.xCurrentTimeInt64 = x_current_time_int64;
    if (v.iVersion >= 3) {
        v.xSetSystemCall = x_set_system_call;
        v.xGetSystemCall = x_get_system_call;
        v.xNextSystemCall = x_next_system_call;
    }
}

// Registers both shims once per process (thread-safe); false if there is no VFS to wrap.
inline bool ensure_registered() noexcept {
    static shim_vfs reader{};
    static shim_vfs writer{};
    static shim_vfs live_writer{};
    static std::once_flag once;
    static bool ok = false;
    std::call_once(once, [] {
        sqlite3_vfs* root = sqlite3_vfs_find(nullptr);
        if (root == nullptr) return;
        fill(reader, root, role::reader, "dbsafe-fast-read");
        fill(writer, root, role::writer, "dbsafe-fast-write");
        fill(live_writer, root, role::live, "dbsafe-live-write");
        ok = sqlite3_vfs_register(&reader.base, 0) == SQLITE_OK &&
             sqlite3_vfs_register(&writer.base, 0) == SQLITE_OK &&
             sqlite3_vfs_register(&live_writer.base, 0) == SQLITE_OK;
    });
    return ok;
}

// The file object under one of our shims, or `f` itself when it is not ours. Under a live
// file, what it held back is written out first, so the real file shows every write.
inline sqlite3_file* unwrap(sqlite3_file* f) noexcept {
    if (f == nullptr || f->pMethods == nullptr) return f;
    for (const int v : {1, 2, 3}) {
        if (f->pMethods != methods_for(v)) continue;
        if (as_shim(f)->kind == role::live) {
            const std::lock_guard<std::recursive_mutex> guard(live().mutex);
            (void)flush_live_runs();
        }
        return real_of(f);
    }
    return f;
}

inline shim_file* reader_shim(sqlite3_file* f) noexcept {
    if (f == nullptr || f->pMethods == nullptr || unwrap(f) == f) return nullptr;
    shim_file* p = as_shim(f);
    return p->kind == role::reader ? p : nullptr;
}

}  // namespace fast_copy

// True when `db` (opened with fast_read_vfs()) is inside a WAL read transaction that holds
// read lock 0 (wal.c's WAL_READ_LOCK(0), wal-index lock slot 3). SQLite takes that lock only
// when every frame of the WAL was already in the database file when the transaction began; it
// then reads every page from the database file, and no checkpoint can write into that file
// while the lock is held (a checkpointer takes WAL_READ_LOCK(0) exclusively before it
// backfills). So the file itself is this transaction's snapshot, stable until it ends.
inline bool reads_only_database_file(sqlite3* db) noexcept {
    sqlite3_file* f = nullptr;
    if (sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &f) != SQLITE_OK) return false;
    const fast_copy::shim_file* p = fast_copy::reader_shim(f);
    constexpr unsigned wal_read_lock_zero = 1U << 3U;
    return p != nullptr && (p->shm_shared & wal_read_lock_zero) != 0;
}

// Tells `meter` of every read of `db`'s main database file until detach_read_meter; false (and
// nothing measured) when `db` was not opened with fast_read_vfs().
inline bool attach_read_meter(sqlite3* db, read_meter* meter) noexcept {
    sqlite3_file* f = nullptr;
    if (sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &f) != SQLITE_OK) return false;
    fast_copy::shim_file* p = fast_copy::reader_shim(f);
    if (p == nullptr) return false;
    p->meter = meter;
    return true;
}

inline void detach_read_meter(sqlite3* db) noexcept { (void)attach_read_meter(db, nullptr); }

// Whether `db`'s main database file is read through fast_read_vfs() (a meter can attach).
inline bool reads_through_shim(sqlite3* db) noexcept {
    sqlite3_file* f = nullptr;
    return sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &f) == SQLITE_OK &&
           fast_copy::reader_shim(f) != nullptr;
}

// VFS name for a connection that reads a database front to back (the source of a copy), or
// nullptr (SQLite's default VFS) if the shim could not be registered.
inline const char* fast_read_vfs() noexcept {
    return fast_copy::ensure_registered() ? "dbsafe-fast-read" : nullptr;
}

// VFS name for dbsafe's own connection to a LIVE database that it writes a whole copy into
// (restore): writes gathered in SQLite's order (see the top); the caller sets
// synchronous=FULL on the connection. nullptr means the default VFS.
inline const char* live_write_vfs() noexcept {
    return fast_copy::ensure_registered() ? "dbsafe-live-write" : nullptr;
}

// VFS name for a private file that is written front to back and published only after its own
// fsync (the staging file of a copy); nullptr means the default VFS.
inline const char* fast_write_vfs() noexcept {
    return fast_copy::ensure_registered() ? "dbsafe-fast-write" : nullptr;
}

}  // namespace dbsafe::detail
