// Why a backup was taken. Retention treats kinds differently (pre_migration backups are kept
// by default), and `list` shows them, so every backup records its kind.
#pragma once

#include <optional>
#include <string_view>

namespace dbsafe {

enum class backup_kind {
    manual,         // asked for by a person or a schedule
    pre_migration,  // taken by migration_guard before a schema change
    safety,         // taken by restore() before it overwrites the live database
};

constexpr std::string_view to_string(backup_kind k) noexcept {
    switch (k) {
        case backup_kind::manual:
            return "manual";
        case backup_kind::pre_migration:
            return "pre_migration";
        case backup_kind::safety:
            return "safety";
    }
    return "manual";
}

constexpr std::optional<backup_kind> parse_backup_kind(std::string_view s) noexcept {
    if (s == "manual") return backup_kind::manual;
    if (s == "pre_migration" || s == "pre-migration") return backup_kind::pre_migration;
    if (s == "safety") return backup_kind::safety;
    return std::nullopt;
}

}  // namespace dbsafe
