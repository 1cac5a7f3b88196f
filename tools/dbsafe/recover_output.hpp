// What `recover`, `migrate` and `restore` print about an interrupted migration they rolled back.
#pragma once

#include <string>

#include "cli.hpp"

namespace dbsafe::cli {

inline nlohmann::json recovery_json(const recovery_report& r) {
    if (!r.rolled_back) return nullptr;
    return {{"database", r.record.database},
            {"rolled_back_to", manifest_json(r.restore.restored)},
            {"safety_backup", manifest_json(r.restore.safety)},
            {"record", r.record_path.string()},
            {"interrupted_migration",
             {{"pid", r.record.pid},
              {"host", r.record.host},
              {"started_at", format_iso8601(r.record.started_at)}}}};
}

inline std::string recovery_line(const recovery_report& r) {
    return "recovered an interrupted migration of " + r.record.database + " (started by pid " +
           std::to_string(r.record.pid) + " on " + r.record.host + " at " +
           format_iso8601(r.record.started_at) + "): rolled back to pre-migration backup " +
           r.record.backup_id + "; the content before this recovery is in safety backup " +
           r.restore.safety.id;
}

}  // namespace dbsafe::cli
