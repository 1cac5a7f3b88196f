// keep_kinds{backup_kind::pre_migration, ...}: keeps every backup of the listed kinds, whatever
// its age ("kept: kind pre_migration"). Its keeps are pinned: a size cap never deletes them,
// because the user named these kinds as the backups they must be able to go back to.
#pragma once

#include <algorithm>
#include <chrono>
#include <initializer_list>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "dbsafe/backup_kind.hpp"
#include "dbsafe/manifest.hpp"
#include "dbsafe/retention/retention_policy.hpp"

namespace dbsafe {

struct keep_kinds {
    std::vector<backup_kind> kinds{backup_kind::pre_migration};

    keep_kinds() = default;
    keep_kinds(std::initializer_list<backup_kind> ks) : kinds(ks) {}
    explicit keep_kinds(std::vector<backup_kind> ks) : kinds(std::move(ks)) {}

    [[nodiscard]] std::vector<retention_decision> plan(
        std::span<const manifest> backups, std::chrono::system_clock::time_point) const {
        std::string names;
        for (const auto k : kinds) names += (names.empty() ? "" : ", ") + std::string(to_string(k));
        std::vector<retention_decision> out;
        out.reserve(backups.size());
        for (const auto& m : backups) {
            const bool keep = std::find(kinds.begin(), kinds.end(), m.kind) != kinds.end();
            const std::string kind(to_string(m.kind));
            out.push_back({m.id,
                           keep,
                           {keep ? "kept: kind " + kind
                                 : "deleted: kind " + kind + " is not kept by kind" +
                                       (names.empty() ? "" : " (only " + names + ")")},
                           keep});
        }
        return out;
    }
};

static_assert(retention_policy<keep_kinds>);

}  // namespace dbsafe
