// The command-line half of an error's advice. The library says what to do in its own terms
// (restore_options::replace_damaged, vault.recover()); a person at a shell needs the command
// that does it. report() adds it, built from the error (its code, its causes, its path) and the
// arguments of the command that failed, so the library never has to know the tool exists.
#pragma once

#include <dbsafe/error.hpp>
#include <dbsafe/health.hpp>
#include <dbsafe/storage/backup_file_names.hpp>
#include <filesystem>
#include <string>

namespace dbsafe::cli {

// What the running command was asked, as far as its hints need it.
struct invocation {
    std::string command{};   // "restore", "migrate", ...
    std::string database{};  // DB, when the command takes one
    std::string dir{};       // --dir
    std::string id{};        // --id (restore: also the backup --latest chose)
    std::string to{};        // restore --to
};

// Commands call set_invocation once they know their arguments; report() reads it.
void set_invocation(invocation at);
const invocation& current_invocation();

// The id of a backup from the path of its data file (`<id>.db`, `<id>.db.zst`).
inline std::string backup_id_of(const std::string& data_path) {
    const std::string name = std::filesystem::path(data_path).filename().string();
    const auto end = name.find(".db");
    return end == std::string::npos || end == 0 ? std::string("ID") : name.substr(0, end);
}

inline const error* cause_with(const error& e, errc code) {
    for (const error* c = &e; c != nullptr; c = c->cause.get()) {
        if (c->is(code)) return c;
    }
    return nullptr;
}

// The command to run for `e`, or "" when the message says all there is.
inline std::string cli_hint(const error& e, const invocation& at) {
    const std::string db = at.database.empty() ? std::string("DB") : at.database;
    const std::string dir = at.dir.empty() ? std::string("DIR") : at.dir;
    const std::string id = at.id.empty() ? std::string("ID") : at.id;
    const bool waits = at.command == "backup" || at.command == "restore" ||
                       at.command == "migrate" || at.command == "recover";
    // A restore or migration whose automatic recovery failed too: the backup to go back to.
    if (const error* r = cause_with(e, errc::recovery_failed); r != nullptr) {
        const std::string back = backup_id_of(r->path);
        if (at.command == "migrate") {
            return "once the cause is fixed, run `dbsafe recover " + db + " --dir " + dir +
                   "` (or restore the pre-migration backup: `dbsafe restore " + db + " --dir " +
                   dir + " --id " + back + "`)";
        }
        return "stop the application and run `dbsafe restore " + db + " --dir " + dir + " --id " +
               back + "`";
    }
    // An interrupted migration that could not be rolled back: its record stays.
    if (e.path.ends_with(migration_record_suffix)) {
        return "fix the cause and run `dbsafe recover " + db + " --dir " + dir +
               "` again, or restore another backup (`dbsafe restore " + db + " --dir " + dir +
               " --id ID`, which clears the record once it succeeded)";
    }
    if (e.is(errc::busy_timeout) && waits) {
        return "close or finish the other connections, or wait longer with --busy-timeout MS";
    }
    if (e.is(errc::not_a_database) && at.command == "restore" && at.to.empty() &&
        !at.database.empty() && e.path == at.database) {
        return "if " + db +
               " is your damaged database, stop the application and rerun with "
               "--replace-damaged (a byte copy of it is kept as a safety backup), or write the "
               "backup to a new file: `dbsafe restore --to NEW_PATH --dir " +
               dir + " --id " + id + "`";
    }
    if (e.code == std::errc::file_exists && at.command == "restore" && !at.to.empty()) {
        return "restore into that database with `dbsafe restore " + at.to + " --dir " + dir +
               " --id " + id + "`";
    }
    if (e.is(errc::other_database)) {
        return "`dbsafe list --dir " + dir + " --db " + db + "` lists the backups of " + db +
               "; if it really is that database moved or renamed, rerun with "
               "--allow-other-database";
    }
    if (e.is(errc::schema_newer) && at.command == "restore") {
        return "--allow-newer-schema restores it anyway (only for a deliberate downgrade of the "
               "application)";
    }
    if (e.is(errc::invalid_id) || (e.is(errc::not_found) && !at.id.empty())) {
        return "`dbsafe list --dir " + dir + "` shows the ids";
    }
    if (e.is(errc::invalid_manifest)) {
        return "check the backup's data with `dbsafe verify --file DATA_FILE`, or remove its "
               "files if you no longer need them";
    }
    if (e.is(errc::verification_failed) && at.command == "backup") {
        return "restore the newest backup with `dbsafe restore " + db + " --dir " + dir +
               " --latest` (it keeps the damaged database as a safety backup)";
    }
    return {};
}

// The command that answers a health finding, or "" when the message says all there is.
inline std::string health_hint(health_check check, const invocation& at) {
    const std::string dir = at.dir.empty() ? std::string("DIR") : at.dir;
    switch (check) {
        case health_check::no_backup:
            return "take one with `dbsafe backup " + (at.database.empty() ? "DB" : at.database) +
                   " --dir " + dir + "`";
        case health_check::too_old:
            return "check the schedule or cron job that runs `dbsafe backup`";
        case health_check::too_large:
            return "`dbsafe prune --dir " + dir + "` (e.g. with --max-total-size)";
        case health_check::debris:
            return "`dbsafe prune --dir " + dir + "` removes it";
        case health_check::repository_damaged:
            return "`dbsafe verify --dir " + dir +
                   " --read-data` reads every page and names every backup a damage affects";
        case health_check::verification_failed:
        case health_check::damaged_backup:
            break;
    }
    return {};
}

}  // namespace dbsafe::cli
