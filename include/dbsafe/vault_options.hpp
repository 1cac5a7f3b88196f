// The options of a vault and of one backup: plain values, shared by basic_vault and by what is
// built on a vault (restore, the migration guard, backup_async), which name them in vault_like.
#pragma once

#include <chrono>
#include <functional>
#include <stop_token>

#include "dbsafe/backup_kind.hpp"
#include "dbsafe/free_space.hpp"
#include "dbsafe/progress.hpp"
#include "dbsafe/prune.hpp"

namespace dbsafe {

struct vault_options {
    double space_factor = 2.0;      // free space needed, in multiples of database + WAL; 0 = off
    free_space_probe free_space{};  // empty: statvfs on the storage location
    std::function<std::chrono::system_clock::time_point()> clock{};  // empty: system_clock::now
    std::chrono::milliseconds busy_timeout{10'000};  // waiting for the live database's locks
    auto_prune prune_after_backup{};  // apply the retention policy after each published backup
};

struct backup_options {
    backup_kind kind = backup_kind::manual;
    progress_callback on_progress{};  // called between copy steps, on the copying thread
    std::stop_token stop{};           // cancellation, checked between copy steps
    // false: record the checksum but skip the vault's verifier. Restore's safety backup does
    // this: it must keep the live database exactly as it is, even a damaged one (restoring is
    // how a damaged database gets repaired), and its checksum proves the copy is faithful.
    bool verify = true;
};

}  // namespace dbsafe
