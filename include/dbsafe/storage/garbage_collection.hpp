// Garbage collection: what a storage target that shares data between backups (a page
// repository keeps each page once, for every snapshot that holds it) must do after backups are
// removed, since removing a backup's own files cannot free what other backups may still need.
// prune() calls it after its removals when the storage has it (`collects_garbage`); storage
// targets whose backups own all their files (local_directory, zstd_archive) do not have it.
// The core knows only this vocabulary, never a backend: the report joins prune's as data.
#pragma once

#include <chrono>
#include <concepts>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dbsafe/error.hpp"

namespace dbsafe {

struct gc_options {
    bool dry_run = false;  // compute and report what would be removed; change nothing
    // Temporary files younger than this may belong to a backup in progress (as prune's).
    std::chrono::seconds debris_grace{std::chrono::hours{24}};
    std::optional<std::chrono::system_clock::time_point> now{};  // empty: the system clock
    // Backups to count as removed: a dry run of prune passes those it would delete, so the
    // report says what the real run would collect.
    std::vector<std::string> assume_removed{};
};

struct gc_report {
    bool dry_run = false;
    std::uint64_t live_pages = 0;       // pages some remaining backup needs
    std::uint64_t packs_removed = 0;    // no remaining backup needs any of their pages
    std::uint64_t packs_rewritten = 0;  // mostly garbage: their live pages were copied out
    std::uint64_t packs_written = 0;    // the new packs holding those live pages
    std::uint64_t index_files_removed = 0;
    std::uint64_t lists_removed = 0;
    std::uint64_t caches_removed = 0;      // change caches of snapshots that are gone
    std::uint64_t temp_files_removed = 0;  // debris of killed writers, older than the grace
    std::uint64_t bytes_removed = 0;       // deleted (or, in a dry run, that would be)
    std::uint64_t bytes_written = 0;       // the new packs and the consolidated index
    // Problems that made the collection keep something it would otherwise remove (a pack it
    // could not read is kept, never dropped), each a sentence a person can act on.
    std::vector<std::string> notes{};
    // Removals that failed: what stays is garbage the next collection removes, never a loss.
    std::vector<std::string> failures{};

    [[nodiscard]] std::uint64_t bytes_freed() const noexcept {
        return bytes_removed > bytes_written ? bytes_removed - bytes_written : 0;
    }
};

// A storage target whose backups share data that only a collection frees.
template <class S>
concept collects_garbage = requires(S& s, const gc_options& o) {
    { s.collect_garbage(o) } -> std::same_as<result<gc_report>>;
};

}  // namespace dbsafe
