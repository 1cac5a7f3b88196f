// The snapshot_strategy concept: copy a consistent image of a live database into an empty,
// already created file. Models: online_backup (SQLite's backup API) and vacuum_into.
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <concepts>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <stop_token>
#include <string_view>

#include "dbsafe/checksum.hpp"
#include "dbsafe/detail/journal_header.hpp"
#include "dbsafe/error.hpp"
#include "dbsafe/progress.hpp"
#include "dbsafe/snapshot_sink.hpp"

namespace dbsafe {

struct snapshot_info {
    std::int64_t page_size = 0;
    std::int64_t page_count = 0;
    // Times other connections' writes restarted the copy: a stepped copy started over, or a
    // rollback-journal file copy gave way to a writer and the copy went on in steps.
    int restarts = 0;
    // The checksum of the finished copy, when the strategy hashed the bytes as it wrote them;
    // the vault then does not read the copy again to hash it.
    std::optional<checksum> content_checksum{};
    // The image went to snapshot_context::sink (completed there) and the target file is
    // empty; while_reading ran. content_checksum is then set.
    bool into_sink = false;
};

struct snapshot_context {
    progress_callback on_progress{};  // may be empty
    std::stop_token stop{};           // checked between steps
    // True when dbsafe opened the source connection itself, so the strategy may hold a read
    // transaction on it. False for a caller's connection, whose transaction state is theirs.
    bool private_source = false;
    // True when the storage target fsyncs the copy itself (staged_backup::fsynced), so
    // starting its write-back early pays; false when the target only reads it and drops it.
    bool target_fsynced = true;
    // How long a copy waits for other connections' locks (vault_options::busy_timeout): the
    // one setting for every wait of a backup, so a caller's timeout is never outwaited.
    std::chrono::milliseconds busy_timeout{10'000};
    // The storage target's sink (staged_backup::sink), when the vault lets the snapshot use
    // it: a snapshot read straight from the database file then feeds the sink instead of
    // writing the target file (snapshot_sink.hpp) and runs `while_reading` before it lets go
    // of the read transaction. Other paths ignore both and write the file.
    snapshot_sink* sink = nullptr;
    // Runs on the source connection inside the read transaction of a copy fed to `sink`, after
    // its last byte: it sees exactly the snapshot the sink received (the vault describes and
    // verifies the snapshot there). Its failure fails the copy.
    std::function<result<void>(sqlite3*, const snapshot_info&)> while_reading{};
};

namespace detail {

// The last steps every strategy shares once its copy is complete: report 100 %, and make the
// copy a self-contained rollback-journal database (see journal_header.hpp).
inline result<snapshot_info> finish_snapshot(const std::filesystem::path& target,
                                             const snapshot_info& info,
                                             const snapshot_context& ctx) {
    if (ctx.on_progress) {
        const auto pages = static_cast<std::uint64_t>(info.page_count);
        ctx.on_progress(progress{pages, pages, static_cast<std::uint64_t>(info.page_size)});
    }
    DBSAFE_TRYV(make_rollback_journal_mode(target));
    return info;
}

}  // namespace detail

template <class S>
concept snapshot_strategy = requires(const S& s, sqlite3* source,
                                     const std::filesystem::path& target,
                                     const snapshot_context& ctx) {
    { s.copy(source, target, ctx) } -> std::same_as<result<snapshot_info>>;
    { s.method_name() } -> std::convertible_to<std::string_view>;
};

}  // namespace dbsafe
