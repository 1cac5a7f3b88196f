// Helpers shared by the retention rules: the order they reason in (newest first) and the bytes
// a backup occupies on disk.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <span>
#include <vector>

#include "dbsafe/manifest.hpp"

namespace dbsafe::detail {

// Indices into `backups`, newest first; equal times are ordered by id (descending) as
// local_directory::list() does, so every rule and every listing agree on which is "newest".
inline std::vector<std::size_t> newest_first(std::span<const manifest> backups) {
    std::vector<std::size_t> order(backups.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        const auto& x = backups[a];
        const auto& y = backups[b];
        return x.created_at != y.created_at ? x.created_at > y.created_at : x.id > y.id;
    });
    return order;
}

// What the backup occupies on disk: the compressed size for an archive; for a page snapshot,
// the bytes it added to the repository (its new pages, lists and object: pages it shares with
// earlier snapshots are theirs), not the database image it reconstructs to, or a size cap would
// delete nearly every page snapshot; else the database image.
inline std::uint64_t disk_bytes(const manifest& m) {
    if (m.pages) return m.pages->bytes_added;
    return m.compression ? m.compression->compressed_size : m.size_bytes;
}

}  // namespace dbsafe::detail
