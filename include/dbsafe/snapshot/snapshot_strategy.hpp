// The snapshot_strategy concept: copy a consistent image of a live database into an empty,
// already created file. Models: online_backup (SQLite's backup API) and vacuum_into.
#pragma once

#include <sqlite3.h>

#include <concepts>
#include <cstdint>
#include <filesystem>
#include <stop_token>
#include <string_view>

#include "dbsafe/error.hpp"
#include "dbsafe/progress.hpp"

namespace dbsafe {

struct snapshot_context {
    progress_callback on_progress{};  // may be empty
    std::stop_token stop{};           // checked between steps
    // True when dbsafe opened the source connection itself, so the strategy may hold a read
    // transaction on it. False for a caller's connection, whose transaction state is theirs.
    bool private_source = false;
};

struct snapshot_info {
    std::int64_t page_size = 0;
    std::int64_t page_count = 0;
    int restarts = 0;  // times other connections' writes restarted a stepped copy
};

template <class S>
concept snapshot_strategy =
    requires(const S& s, sqlite3* source, const std::filesystem::path& target,
             const snapshot_context& ctx) {
        { s.copy(source, target, ctx) } -> std::same_as<result<snapshot_info>>;
        { s.method_name() } -> std::convertible_to<std::string_view>;
    };

}  // namespace dbsafe
