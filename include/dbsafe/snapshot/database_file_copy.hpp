// database_file_copy: copies a snapshot straight from the database file, at the speed of `cp`,
// when the source connection's read transaction reads every page from that file.
//
// Why: even with the fast_copy shims, the backup API hands every page through the source
// pager, the backup's copy and the destination pager (CPU that `cp` never spends), and the
// checksum then reads the copy again. When the snapshot *is* the file, large reads of the file
// give the same bytes: one pread, one xxh3 update and one write per 4 MiB, no second pass.
//
// When the snapshot is the file (the caller checks, see online_backup.hpp):
//  - rollback journal: the connection holds SHARED for its read transaction; no writer can
//    change the file under SHARED, and a hot journal is rolled back before SHARED is granted;
//  - WAL: the read transaction holds read lock 0 (detail::reads_only_database_file).
// The copy reads through the connection's own file object (SQLITE_FCNTL_FILE_POINTER), never a
// second descriptor: closing another descriptor of the file would drop this process's POSIX
// locks on it, the very locks that keep the snapshot stable.
//
// A rollback-journal copy holds SHARED from the first read to the last, and a writer cannot
// commit under it: to commit it takes RESERVED (at BEGIN IMMEDIATE or its first write), then
// PENDING (no new SHARED from then on) and waits in its busy handler until every SHARED is
// gone. So a copy that `yields_to_writers` asks, before every read of at most 4 MiB, whether
// another connection holds RESERVED (xCheckReservedLock: the unix VFS answers for this
// process's connections from its per-inode lock state and for other processes with F_GETLK on
// the reserved byte; it takes no lock). The first time one does, the copy stops, empties the
// target and says so: its caller ends the read transaction at once and copies in steps. A
// writer then waits at most one read and write of 4 MiB for this copy, and never fails
// because of it (see online_backup.hpp for the rule).
#pragma once

#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <future>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "dbsafe/checksum.hpp"
#include "dbsafe/detail/fast_copy_vfs.hpp"
#include "dbsafe/detail/posix_file.hpp"
#include "dbsafe/detail/sqlite.hpp"
#include "dbsafe/error.hpp"
#include "dbsafe/progress.hpp"
#include "dbsafe/snapshot/snapshot_strategy.hpp"

namespace dbsafe::detail {

// True when another connection holds RESERVED or more on `file` (see above). An error of the
// check counts as yes: the caller then takes the path that never keeps a writer waiting.
inline bool writer_holds_reserved(sqlite3_file* file) noexcept {
    int reserved = 0;
    if (file->pMethods->xCheckReservedLock(file, &reserved) != SQLITE_OK) return true;
    return reserved != 0;
}

// The unix VFS's own file object of `source`'s main database (beneath our read-ahead shim:
// the copy's reads are already large), through which the copy reads and the lock checks ask.
inline result<sqlite3_file*> database_file_object(sqlite3* source) {
    sqlite3_file* wrapped = nullptr;
    if (sqlite3_file_control(source, "main", SQLITE_FCNTL_FILE_POINTER, &wrapped) != SQLITE_OK ||
        wrapped == nullptr || wrapped->pMethods == nullptr) {
        return error(errc::io_error, "cannot read the file of " + database_name(source) +
                                         ": SQLite gave no file object for it");
    }
    return fast_copy::unwrap(wrapped);
}

// Reads bytes [offset, offset + out.size()) of `source`'s database file through its file
// object, marking the copy a rollback-journal database where they cover bytes 18 and 19 (not
// WAL any more; journal_header.hpp).
inline result<void> read_file_bytes(sqlite3* source, sqlite3_file* file, std::span<std::byte> out,
                                    std::uint64_t offset) {
    const int rc = file->pMethods->xRead(file, out.data(), static_cast<int>(out.size()),
                                         static_cast<sqlite3_int64>(offset));
    if (rc != SQLITE_OK) {
        return sqlite_error(
            rc, "cannot read " + database_name(source) + " at byte " + std::to_string(offset) +
                    " while copying it: " + sqlite3_errstr(rc) +
                    (rc == SQLITE_IOERR_SHORT_READ ? " (the file is shorter than its page count)"
                                                   : ""));
    }
    if (offset == 0 && out.size() >= 20) out[18] = out[19] = std::byte{1};
    return success();
}

// Copies the first page_size * page_count bytes of `source`'s main database file into the
// empty file `target` in reads of `pages_per_read` pages (the progress granularity), marks
// the copy a rollback-journal database (bytes 18 and 19, see
// journal_header.hpp) and returns the xxh3-128 of what it wrote. When the storage target will
// fsync this file, starts the kernel's write-back as it goes, so that fsync finds little left.
// With `yields_to_writers`, returns no checksum, and leaves `target` empty, as soon as another
// connection holds RESERVED (see above), and reports no progress on the way.
// With a `sink` (snapshot_sink.hpp), the bytes go to the sink (after its begin()) instead of
// `target`, which is not touched; the caller completes the sink.
// `target_fd` is `target` opened for writing at offset 0 (unused with a sink): a caller that
// works on the file after the copy keeps writing through the descriptor it opened.
inline result<std::optional<checksum>> copy_database_file(
    sqlite3* source, std::int64_t page_size, std::int64_t page_count, std::int64_t pages_per_read,
    bool yields_to_writers, int target_fd, const std::filesystem::path& target,
    const snapshot_context& ctx, snapshot_sink* sink = nullptr) {
    DBSAFE_TRY(sqlite3_file* const file, database_file_object(source));
    const auto total =
        static_cast<std::uint64_t>(page_size) * static_cast<std::uint64_t>(page_count);
    if (sink != nullptr) {
        DBSAFE_TRYV(sink->begin(static_cast<std::uint32_t>(page_size),
                                static_cast<std::uint64_t>(page_count)));
    }

    // Memory stays flat; a copy that yields looks for writers at least every 4 MiB.
    const std::uint64_t max_read_bytes =
        yields_to_writers ? std::uint64_t{4} << 20U : std::uint64_t{64} << 20U;
    const auto chunk =
        std::min(static_cast<std::uint64_t>(std::max<std::int64_t>(pages_per_read, 1)) *
                     static_cast<std::uint64_t>(page_size),
                 max_read_bytes / static_cast<std::uint64_t>(page_size) *
                     static_cast<std::uint64_t>(page_size));
    std::vector<std::byte> buffer(
        static_cast<std::size_t>(std::min(chunk, std::max<std::uint64_t>(total, 1))));
    xxh3_128_hasher hasher;
    // Into a sink, each chunk is hashed and fed on a helper thread while the next one is read
    // into the other buffer: the sink's work (fingerprints, hashes, compression of new pages)
    // overlaps the reads instead of following them. Declared after the buffers, so that an
    // early return waits for the helper before the buffers go.
    std::vector<std::byte> feeding_buffer(sink != nullptr ? buffer.size() : 0);
    std::future<result<void>> feeding;
    const auto fed = [&]() -> result<void> {
        if (!feeding.valid()) return success();
        return feeding.get();
    };
    for (std::uint64_t offset = 0; offset < total;) {
        if (ctx.stop.stop_requested()) {
            return error(errc::cancelled, "backup of " + database_name(source) +
                                              " cancelled; no backup was written");
        }
        if (yields_to_writers && writer_holds_reserved(file)) {
            if (sink == nullptr && ::ftruncate(target_fd, 0) != 0) {
                return os_error(errno, "cannot empty", target);
            }
            return std::optional<checksum>{};
        }
        const auto n =
            static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), total - offset));
        DBSAFE_TRYV(read_file_bytes(source, file, std::span(buffer.data(), n), offset));
        const std::span<const std::byte> chunk(buffer.data(), n);
        if (sink != nullptr) {
            DBSAFE_TRYV(fed());  // the previous chunk is done with feeding_buffer
            buffer.swap(feeding_buffer);
            const std::span<const std::byte> next(feeding_buffer.data(), n);
            const auto feed = [&hasher, sink, next] {
                hasher.update(next);
                return sink->feed(next);
            };
            try {
                feeding = std::async(std::launch::async, feed);
            } catch (const std::system_error&) {  // no thread to be had: feed it here
                DBSAFE_TRYV(feed());
            }
        } else {
            hasher.update(chunk);
            DBSAFE_TRYV(write_all(target_fd, chunk, target));
            if (ctx.target_fsynced) start_write_back(target_fd, offset, n);
        }
        offset += n;
        // A copy that yields never calls back while it holds SHARED: a slow callback would
        // keep a writer waiting for it. Its caller reports 100 % once the copy is done.
        if (ctx.on_progress && !yields_to_writers) {
            ctx.on_progress(progress{offset / static_cast<std::uint64_t>(page_size),
                                     static_cast<std::uint64_t>(page_count),
                                     static_cast<std::uint64_t>(page_size)});
        }
    }
    DBSAFE_TRYV(fed());
    return std::optional<checksum>{hasher.finish()};
}

// The same, opening `target` itself (unless the bytes go to a sink).
inline result<std::optional<checksum>> copy_database_file(
    sqlite3* source, std::int64_t page_size, std::int64_t page_count, std::int64_t pages_per_read,
    bool yields_to_writers, const std::filesystem::path& target, const snapshot_context& ctx,
    snapshot_sink* sink = nullptr) {
    unique_fd out;
    if (sink == nullptr) {
        DBSAFE_TRY(out, open_for_writing(target));
    }
    return copy_database_file(source, page_size, page_count, pages_per_read, yields_to_writers,
                              out.get(), target, ctx, sink);
}

// What refresh_database_file_copy did: the snapshot's checksum and how many pages it rewrote.
struct refreshed_copy {
    checksum content_checksum;
    std::uint64_t pages_rewritten = 0;
};

// Makes `target`, a copy of `source`'s database file taken earlier without any lock (so with
// pages torn or stale wherever a writer was busy, and perhaps of another length), equal to the
// snapshot that `source`'s read transaction sees, and returns that snapshot's xxh3-128.
//
// Why: a rollback-journal copy that cannot give way to writers (the last attempt after
// max_restarts, online_backup.hpp) holds SHARED for all of its work, and every writer waits
// for it. Copied whole under SHARED, that work is a read and a write of the whole file; here
// it is a read of the file and of the copy (both in the page cache, the copy just written) and
// a write of only the pages a writer changed since. The bytes are compared, not fingerprints:
// nothing is trusted that was not read under the lock. The copy is cut to the snapshot's
// length and marked rollback-journal like copy_database_file's. No progress is reported (it
// runs under SHARED); a stop request ends it with `cancelled`.
// With `yields_to_writers`, it returns nullopt as soon as another connection holds RESERVED
// (checked before every 4 MiB, as copy_database_file does). The copy is then partly brought
// up to date, which is still a copy taken without a lock: a later call finishes it.
// `target_fd` is `target` opened for reading and writing (detail::open_for_update).
inline result<std::optional<refreshed_copy>> refresh_database_file_copy(
    sqlite3* source, std::int64_t page_size, std::int64_t page_count, int target_fd,
    const std::filesystem::path& target, const snapshot_context& ctx,
    bool yields_to_writers = false) {
    DBSAFE_TRY(sqlite3_file* const file, database_file_object(source));
    const auto page = static_cast<std::size_t>(page_size);
    const auto total =
        static_cast<std::uint64_t>(page_size) * static_cast<std::uint64_t>(page_count);
    const std::size_t chunk = std::max<std::size_t>((std::size_t{4} << 20U) / page * page, page);
    std::vector<std::byte> snapshot(static_cast<std::size_t>(
        std::min<std::uint64_t>(chunk, std::max<std::uint64_t>(total, 1))));
    std::vector<std::byte> copied(snapshot.size());
    xxh3_128_hasher hasher;
    refreshed_copy done;
    for (std::uint64_t offset = 0; offset < total;) {
        if (ctx.stop.stop_requested()) {
            return error(errc::cancelled, "backup of " + database_name(source) +
                                              " cancelled; no backup was written");
        }
        if (yields_to_writers && writer_holds_reserved(file)) {
            return std::optional<refreshed_copy>{};
        }
        const auto n =
            static_cast<std::size_t>(std::min<std::uint64_t>(snapshot.size(), total - offset));
        DBSAFE_TRYV(read_file_bytes(source, file, std::span(snapshot.data(), n), offset));
        hasher.update(std::span<const std::byte>(snapshot.data(), n));
        // What the copy holds here; past its end, nothing (every page there differs).
        DBSAFE_TRY(const std::size_t have,
                   read_at(target_fd, std::span(copied.data(), n), offset, target));
        // Rewrites each run of differing pages with one write.
        std::size_t run_start = 0;
        std::size_t run_pages = 0;
        const auto write_run = [&]() -> result<void> {
            if (run_pages == 0) return success();
            const std::span<const std::byte> bytes(snapshot.data() + run_start, run_pages * page);
            DBSAFE_TRYV(write_at(target_fd, bytes, offset + run_start, target));
            if (ctx.target_fsynced) start_write_back(target_fd, offset + run_start, bytes.size());
            done.pages_rewritten += run_pages;
            run_pages = 0;
            return success();
        };
        for (std::size_t at = 0; at < n; at += page) {
            const bool same = at + page <= have &&
                              std::memcmp(snapshot.data() + at, copied.data() + at, page) == 0;
            if (same) {
                DBSAFE_TRYV(write_run());
            } else {
                if (run_pages == 0) run_start = at;
                ++run_pages;
            }
        }
        DBSAFE_TRYV(write_run());
        offset += n;
    }
    if (::ftruncate(target_fd, static_cast<off_t>(total)) != 0) {
        return os_error(errno, "cannot cut to the snapshot's length", target);
    }
    done.content_checksum = hasher.finish();
    return std::optional<refreshed_copy>{done};
}

// The same, opening `target` itself.
inline result<std::optional<refreshed_copy>> refresh_database_file_copy(
    sqlite3* source, std::int64_t page_size, std::int64_t page_count,
    const std::filesystem::path& target, const snapshot_context& ctx,
    bool yields_to_writers = false) {
    DBSAFE_TRY(const auto out, open_for_update(target));
    return refresh_database_file_copy(source, page_size, page_count, out.get(), target, ctx,
                                      yields_to_writers);
}

}  // namespace dbsafe::detail
