// online_backup: a consistent copy through SQLite's online backup API while other connections
// keep reading and writing.
//
// Two facts, both measured, shape it: in WAL mode another connection's commit restarts a
// stepped backup from page 1, so small steps under continuous writes never finish; and the
// cost of a copy is per-page system calls, not the final fsync. So:
//  - WAL source opened by dbsafe: the whole copy runs inside one read transaction on the
//    source. Writers go on (WAL readers never block them), nothing restarts, and we still step,
//    so progress and cancellation work.
//  - otherwise (rollback journal, or a caller's connection): step, letting writers in between
//    steps; after `max_restarts` restarts, finish in one step under a single read transaction,
//    which bounds the work no matter how busy the writers are. The steps wait for other
//    connections' locks at most snapshot_context::busy_timeout (the vault's busy_timeout), the
//    same loop as restore's copy (detail/backup_steps.hpp).
//  - fast path: when the read transaction on a private source reads every page from the
//    database file (a WAL whose frames are all checkpointed, which a PASSIVE checkpoint before
//    the transaction makes likely; or a rollback journal under SHARED), the pages are copied
//    straight from the file in 4 MiB reads and hashed on the way (snapshot/database_file_copy.hpp):
//    the same bytes as the backup API's copy, at the speed of `cp`.
//  - a rollback-journal source copied from its file holds SHARED from the first read to the
//    last, and no writer can commit under SHARED. With pages_per_step = -1 the caller asked for
//    exactly that (step(-1) holds SHARED as long, only slower). Stepped, the copy must let
//    writers in, so it is one attempt that yields: it starts only once the read transaction
//    holds SHARED (SQLite rolls a hot journal back before granting it, so a crashed writer's
//    half-written pages are never copied), and before every read of at most 4 MiB it checks
//    whether another connection holds RESERVED, the lock every writer takes before it can want
//    PENDING and EXCLUSIVE. At the first sign of one it ends the read transaction and counts a
//    restart. It reports no progress until it is done, since a callback would run under SHARED.
//    So an idle database is copied at the speed of `cp`, and a writer waits for this copy at
//    most one 4 MiB read and write plus its busy handler's next sleep: far below any busy
//    timeout, so it never fails because of the backup. A writer present from the start costs
//    one lock check.
//    Once the file copy gave way, the rest is copied in two passes (copy_file_in_two_passes):
//    the file first with no lock at all, then, in a read transaction, that copy is compared with
//    the file page by page and the pages that differ are rewritten. That comparison gives way to
//    writers too, max_restarts times, then holds on: SHARED is then held for a read of the file
//    and of the copy, not for a whole copy (a backup-API step(-1) would hold it about 2.6x
//    longer than even a `cp`-speed copy): that read is the longest a writer waits for a backup
//    under continuous writes. It used to go on in backup-API steps first, restarted by every
//    commit: measured, those steps only delayed the same last attempt, and even a writer that
//    pauses between commits is served faster by the two passes (a `cp`-speed copy and one read)
//    than by steps at the backup API's speed, with no longer a wait for it.
//    Every read transaction on such a source asks for SHARED every 250 us
//    (detail/polling_busy_wait.hpp): a writer committing back to back leaves readers only the
//    microseconds between its commits, which SQLite's default busy handler (sleeps up to
//    100 ms) almost never hits. Together: a 512 MiB backup beside such a writer, 10-22 s (and
//    one in three out of its busy timeout) -> about 1.1 s (docs/benchmarks.md, "Under load").
//  - into a sink: when the storage target takes pages as they are read (ctx.sink,
//    snapshot_sink.hpp) and the caller gave ctx.while_reading, the fast path hands each read to
//    the sink instead of writing the staged file, then runs while_reading (the vault's
//    description and check of the snapshot) on the source inside the same read transaction,
//    so the check judges exactly the bytes the sink got, and only then completes the sink. A
//    rollback-journal check gives way to a writer as the copy does (check_while_reading); the
//    copy then goes on into the staged file as if the file copy had yielded.
//  - destination: journal_mode=OFF, synchronous=OFF (the file is a private temp file, published
//    only after one fsync by the storage target), so SQLite never fsyncs it page by page.
#pragma once

#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "dbsafe/detail/backup_steps.hpp"
#include "dbsafe/detail/fast_copy_vfs.hpp"
#include "dbsafe/detail/polling_busy_wait.hpp"
#include "dbsafe/detail/sqlite.hpp"
#include "dbsafe/error.hpp"
#include "dbsafe/snapshot/database_file_copy.hpp"
#include "dbsafe/snapshot/snapshot_strategy.hpp"

namespace dbsafe {

struct online_backup {
    int pages_per_step = 1024;  // -1 copies everything in one step (no progress until done)
    int max_restarts = 3;       // then the rest under a single read transaction (see above)
    // Copy straight from the database file when the snapshot is the file, else write the
    // staging file through detail::fast_write_vfs(); the bytes are the same either way.
    bool fast_io = true;

    [[nodiscard]] std::string_view method_name() const noexcept { return "backup-api"; }

    // Pages per read of the file-copy path: the step size (the progress granularity), and for
    // step(-1) 4 MiB, where one more pread no longer shows in the time.
    [[nodiscard]] std::int64_t pages_per_read(std::int64_t page_size) const noexcept {
        constexpr std::int64_t whole_copy_read_bytes = std::int64_t{4} << 20;
        if (pages_per_step > 0) return pages_per_step;
        return std::max<std::int64_t>(whole_copy_read_bytes / std::max<std::int64_t>(page_size, 1),
                                      1);
    }

  private:
    // The rest of a copy of a private rollback-journal source once its file copy gave way to a
    // writer (or writers kept restarting the steps), in two passes. First the file is copied with
    // no lock at all (no writer waits for it; pages a writer was changing come out torn or stale,
    // and that is fine). Then, in a read transaction (SHARED, waited for up to the busy timeout,
    // asked for every 250 us: see copy()), that copy is brought up to the snapshot:
    // every page read and compared, only the pages that differ rewritten
    // (detail::refresh_database_file_copy). Up to max_restarts times this pass gives way to a
    // writer as the file copy does (what it rewrote stays: the copy is only nearer the file),
    // counting a restart each time; the last time it holds on. Writers so wait for a read of the
    // file and of the copy at most, instead of a whole copy, and only when they keep coming. No
    // progress is reported under SHARED; finish_snapshot reports 100 % once it is released.
    [[nodiscard]] result<snapshot_info> copy_file_in_two_passes(sqlite3* source,
                                                                const std::filesystem::path& target,
                                                                const snapshot_context& ctx) const {
        // Opened once, with O_NOFOLLOW, and emptied and written by both passes through that one
        // descriptor, never by name: a symlink swapped in for the staged file while the steps
        // ran, or between two opens, would send the writes to its target (any file the process
        // may write).
        DBSAFE_TRY(const auto staged, detail::open_for_update(target));
        if (::ftruncate(staged.get(), 0) != 0) {
            return detail::os_error(errno, "cannot empty", target);
        }
        DBSAFE_TRYV(copy_file_unlocked(source, staged.get(), target, ctx));
        for (int gave_way = 0;; ++gave_way) {
            DBSAFE_TRYV(detail::exec(source, "BEGIN"));
            struct end_read {
                sqlite3* db;
                ~end_read() { (void)detail::exec(db, "ROLLBACK"); }
            } end_read_guard{source};
            if (auto shared = detail::query_int(source, "SELECT count(*) FROM sqlite_schema");
                !shared) {
                return shared.error().within(
                    "", " (the last attempt to copy " + detail::database_name(source) +
                            " after writers restarted it " + std::to_string(max_restarts) +
                            " times; retry later or raise the busy timeout)");
            }
            snapshot_info info;
            DBSAFE_TRY(info.page_size, detail::query_int(source, "PRAGMA page_size"));
            DBSAFE_TRY(info.page_count, detail::query_int(source, "PRAGMA page_count"));
            DBSAFE_TRY(const auto refreshed,
                       detail::refresh_database_file_copy(source, info.page_size, info.page_count,
                                                          staged.get(), target, ctx,
                                                          gave_way < max_restarts));
            if (refreshed) {
                info.content_checksum = refreshed->content_checksum;
                info.restarts = gave_way;
                return info;
            }
        }
    }

    // The first pass of copy_file_in_two_passes: the file as it is, read through the
    // connection's own file object with no transaction (so no lock: a writer goes on). Progress
    // is reported, since no writer waits for the callback. Only a stop request fails it: a read
    // that comes up short (a writer shrank the file) or a write that fails leaves a partial
    // copy, which the pass under SHARED compares and completes page by page anyway.
    [[nodiscard]] static result<void> copy_file_unlocked(sqlite3* source, int target_fd,
                                                         const std::filesystem::path& target,
                                                         const snapshot_context& ctx) {
        DBSAFE_TRY(sqlite3_file* const file, detail::database_file_object(source));
        sqlite3_int64 bytes = 0;
        if (file->pMethods->xFileSize(file, &bytes) != SQLITE_OK) return success();
        auto page_size = detail::query_int(source, "PRAGMA page_size");
        if (!page_size || page_size.value() <= 0) return success();
        const auto copied = detail::copy_database_file(
            source, page_size.value(), bytes / page_size.value(),
            online_backup{.pages_per_step = -1}.pages_per_read(page_size.value()), false, target_fd,
            target, ctx);
        if (!copied && copied.error().is(errc::cancelled)) return copied.as_failure();
        return success();
    }

    // ctx.while_reading on the copy just fed to the sink, inside its read transaction, with
    // the connection query-only (a check judges the snapshot; on a copy it could not write
    // either). A rollback-journal source holds SHARED through the check, so the check gives
    // way to writers as the copy does: SQLite's progress handler asks every 100 k
    // virtual-machine steps (about a millisecond) whether another connection holds RESERVED,
    // and if one does, interrupts the check; false then says "gave way", and the caller copies
    // in steps into the staged file instead (the check then runs on that copy, after SHARED
    // is released). A writer so waits for the check at most about a millisecond plus its busy
    // handler's next sleep. A WAL source blocks no writer by reading.
    [[nodiscard]] static result<bool> check_while_reading(sqlite3* source,
                                                          const snapshot_info& info,
                                                          bool rollback_journal,
                                                          const snapshot_context& ctx) {
        struct watch {
            sqlite3_file* file = nullptr;
            bool gave_way = false;
        } w;
        if (rollback_journal) {
            DBSAFE_TRY(w.file, detail::database_file_object(source));
            sqlite3_progress_handler(
                source, 100'000,
                [](void* p) {
                    auto* self = static_cast<watch*>(p);
                    if (detail::writer_holds_reserved(self->file)) self->gave_way = true;
                    return self->gave_way ? 1 : 0;
                },
                &w);
        }
        struct restore_connection {
            sqlite3* db;
            bool watched;
            ~restore_connection() {
                if (watched) sqlite3_progress_handler(db, 0, nullptr, nullptr);
                (void)detail::exec(db, "PRAGMA query_only = OFF");
            }
        } restore{source, rollback_journal};
        DBSAFE_TRYV(detail::exec(source, "PRAGMA query_only = ON"));
        auto checked = ctx.while_reading(source, info);
        if (w.gave_way) return false;
        DBSAFE_TRYV(checked);
        return true;
    }

  public:
    [[nodiscard]] result<snapshot_info> copy(sqlite3* source, const std::filesystem::path& target,
                                             const snapshot_context& ctx) const {
        if (pages_per_step == 0 || pages_per_step < -1) {
            return error(errc::invalid_argument,
                         "online_backup.pages_per_step must be -1 (all) or positive, not " +
                             std::to_string(pages_per_step));
        }
        // SQLite answers every step with SQLITE_BUSY while the source connection itself has a
        // write transaction open: say so now instead of waiting out the busy timeout and then
        // blaming "another process".
        if (sqlite3_txn_state(source, "main") == SQLITE_TXN_WRITE) {
            return error(errc::in_transaction,
                         "cannot back up " + detail::database_name(source) +
                             ": the connection passed in has an open write transaction (it holds "
                             "the lock dbsafe would wait for); commit or roll back first");
        }
        // Hold one read transaction on a private WAL source (a stable snapshot for all steps),
        // and on a private rollback-journal source for the file copy (SHARED, see above).
        bool holding = false;
        bool file_is_snapshot = false;
        bool yields = false;  // a rollback-journal file copy that gives way to writers
        bool rollback_journal = false;
        const char* source_file = sqlite3_db_filename(source, "main");
        const bool private_file = ctx.private_source && sqlite3_get_autocommit(source) != 0 &&
                                  source_file != nullptr && *source_file != '\0';
        std::optional<detail::polling_busy_wait> prompt_waits;
        if (private_file) {
            DBSAFE_TRY(const std::string mode, detail::query_text(source, "PRAGMA journal_mode"));
            const bool wal = mode == "wal";
            const bool file_copy = fast_io;
            rollback_journal = !wal;
            // Every read transaction below must find a gap between a busy writer's commits.
            if (rollback_journal) prompt_waits.emplace(source, ctx.busy_timeout);
            yields = rollback_journal && pages_per_step != -1;
            if (wal && file_copy) {
                // Moves committed frames into the file so the transaction below can read the
                // file alone. PASSIVE never waits for or blocks anyone; if writers keep it from
                // finishing, the copy simply takes the backup API path.
                (void)detail::exec(source, "PRAGMA wal_checkpoint(PASSIVE)");
            }
            if (wal || file_copy) {
                DBSAFE_TRYV(detail::exec(source, "BEGIN"));
                holding = true;
                auto started = detail::query_int(source, "SELECT count(*) FROM sqlite_schema");
                if (!started) {
                    (void)detail::exec(source, "ROLLBACK");
                    holding = false;
                    // A rollback-journal source a writer keeps locked: the stepped copy below
                    // waits its turn with its own bounded retries and message.
                    if (wal) return started.as_failure();
                }
                file_is_snapshot =
                    holding && file_copy && (!wal || detail::reads_only_database_file(source));
            }
        }
        struct end_read {
            sqlite3* db;
            bool active;
            ~end_read() {
                if (active) (void)detail::exec(db, "ROLLBACK");
            }
        } end_read_guard{source, holding};

        int yielded = 0;  // a file copy given up for a writer: one restart
        if (file_is_snapshot) {
            snapshot_info info;
            DBSAFE_TRY(info.page_size, detail::query_int(source, "PRAGMA page_size"));
            DBSAFE_TRY(info.page_count, detail::query_int(source, "PRAGMA page_count"));
            snapshot_sink* const sink = ctx.while_reading ? ctx.sink : nullptr;
            DBSAFE_TRY(info.content_checksum,
                       detail::copy_database_file(source, info.page_size, info.page_count,
                                                  pages_per_read(info.page_size), yields, target,
                                                  ctx, sink));
            if (info.content_checksum && sink != nullptr) {
                DBSAFE_TRY(const bool kept,
                           check_while_reading(source, info, rollback_journal, ctx));
                if (kept) {
                    DBSAFE_TRYV(sink->complete(*info.content_checksum));
                    info.into_sink = true;
                } else {
                    info.content_checksum.reset();  // gave way to a writer: copy in steps
                }
            }
            // Copied, or a writer holds RESERVED: either way end the read transaction now, so
            // no writer waits for the progress callback or for the copy in steps.
            end_read_guard.active = false;
            DBSAFE_TRYV(detail::exec(source, "ROLLBACK"));
            if (info.into_sink) {
                if (ctx.on_progress) {
                    const auto pages = static_cast<std::uint64_t>(info.page_count);
                    ctx.on_progress(
                        progress{pages, pages, static_cast<std::uint64_t>(info.page_size)});
                }
                return info;
            }
            if (info.content_checksum) return detail::finish_snapshot(target, info, ctx);
            yielded = 1;
            if (yields) {  // a private rollback-journal source, stepped: see above
                DBSAFE_TRY(info, copy_file_in_two_passes(source, target, ctx));
                info.restarts += yielded;
                return detail::finish_snapshot(target, info, ctx);
            }
        }

        // The staging file is private until the storage target fsyncs and publishes it, so its
        // page writes may be gathered into large ones (detail/fast_copy_vfs.hpp).
        DBSAFE_TRY(auto dest, detail::open_database(target, detail::open_mode::read_write,
                                                    static_cast<int>(ctx.busy_timeout.count()),
                                                    fast_io ? detail::fast_write_vfs() : nullptr));
        DBSAFE_TRYV(detail::exec(dest.get(), "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF"));

        detail::backup_handle backup(sqlite3_backup_init(dest.get(), "main", source, "main"));
        if (!backup) {
            const int rc = sqlite3_errcode(dest.get());
            return sqlite_error(rc, "cannot start backup of " + detail::database_name(source) +
                                        " into " + target.string() + ": " +
                                        detail::describe(dest.get(), rc));
        }

        // A private rollback-journal source finishes from its file after max_restarts.
        const bool final_from_file = private_file && yields && fast_io;
        detail::backup_steps steps{
            .pages_per_step = pages_per_step,
            .max_restarts = std::max(max_restarts - yielded, 1),
            .give_up_at_max_restarts = final_from_file,
            .busy_timeout = ctx.busy_timeout,
            .page_size = 0,
            .on_progress = ctx.on_progress,
            .stop = ctx.stop,
            .timed_out =
                [&](std::chrono::milliseconds waited) {
                    return error(errc::busy_timeout,
                                 "database " + detail::database_name(source) +
                                     " stayed locked for " + std::to_string(waited.count()) +
                                     " ms during backup: another process holds a write lock; "
                                     "retry later or raise the busy timeout");
                },
            .failed =
                [&](int rc) {
                    const std::string what = detail::describe(dest.get(), rc);
                    const bool full = (rc & 0xff) == SQLITE_FULL;
                    return sqlite_error(
                        rc, "backup of " + detail::database_name(source) + " into " +
                                target.string() + " failed: " + what +
                                (full ? " (free space on the backup volume and retry)" : ""));
                },
            .cancelled =
                [&] {
                    return error(errc::cancelled, "backup of " + detail::database_name(source) +
                                                      " cancelled; no backup was written");
                }};
        DBSAFE_TRY(steps.page_size, detail::query_int(source, "PRAGMA page_size"));
        DBSAFE_TRY(const auto stepped, detail::run_backup_steps(backup.get(), steps));
        if (stepped.gave_up) {
            backup.reset();  // rolls the unfinished destination back
            dest.reset();
            DBSAFE_TRY(snapshot_info info, copy_file_in_two_passes(source, target, ctx));
            info.restarts += stepped.restarts + yielded;
            return detail::finish_snapshot(target, info, ctx);
        }
        snapshot_info info;
        info.page_count = stepped.page_count;
        info.restarts = stepped.restarts + yielded;
        backup.reset();
        DBSAFE_TRY(info.page_size, detail::query_int(dest.get(), "PRAGMA page_size"));
        dest.reset();
        return detail::finish_snapshot(target, info, ctx);
    }
};

}  // namespace dbsafe
