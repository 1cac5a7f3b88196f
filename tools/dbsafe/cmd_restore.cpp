// dbsafe restore DB --dir DIR (--id ID|PREFIX|latest | --latest | --before TIME)
//                [--schema user_version|migrations:TABLE|sql:QUERY] [--require-table NAME]...
//                [--verify full|quick] [--full-check]
//                [--allow-newer-schema] [--allow-other-database] [--replace-damaged] [--json]
// dbsafe restore [DB] --to NEW_PATH --dir DIR (--id ... | --latest | --before TIME): the backup
//                as a new file; no live database is touched (DB names whose newest backup
//                --latest and --before take). Which ids are accepted: id_choice.hpp.
#include <iostream>

#include "backup_dir.hpp"
#include "cli.hpp"
#include "id_choice.hpp"
#include "schema_option.hpp"
#include "units_option.hpp"

namespace dbsafe::cli {
namespace {

struct restore_args {
    std::string database;
    common_options common;
    std::string id;
    bool latest = false;
    std::string before;  // --before TIME: --latest among the backups taken before TIME
    std::string schema = "user_version";
    std::vector<std::string> required;
    std::string verify = "full";
    bool full_check = false;
    bool allow_newer = false;
    bool allow_other_database = false;
    bool replace_damaged = false;
    std::string to;
    double space_factor = 2.0;
    int busy_timeout_ms = 10000;
};

// --latest: the newest backup OF THIS DATABASE (source_identity.hpp) that is not a safety
// backup. Safety backups are restore's own recovery points; picking one would make a second
// `restore --latest` undo the first. Backups of other databases in the same directory are
// never candidates, --allow-other-database or not: that flag needs an explicit --id.
// `before`: only backups created before that time (--before).
result<std::string> latest_id(const schema_vault& vault, const std::string& database,
                              std::optional<std::chrono::system_clock::time_point> before) {
    DBSAFE_TRY(listing l, vault.list());
    const std::size_t all = l.backups.size();
    keep_backups_of(l, database);
    for (const auto& m : l.backups) {
        if (m.kind != backup_kind::safety && (!before || m.created_at < *before)) return m.id;
    }
    const std::string dir = vault.storage.location().string();
    const std::size_t others = all - l.backups.size();
    const std::string when =
        before ? " taken before " + format_iso8601(*before) +
                     (l.backups.empty() ? std::string()
                                        : " (its oldest backup: " + l.backups.back().id + ")")
               : std::string();
    return error(errc::not_found,
                 "no backup of " + canonical_source_path(database) + when + " to restore in " +
                     dir + " (safety backups are only restored by --id" +
                     (others == 0 ? std::string()
                                  : "; the " + std::to_string(others) +
                                        " other backup(s) there are of other databases: `dbsafe "
                                        "list --dir " +
                                        dir +
                                        "` shows their sources; if this database was moved, "
                                        "restore one by --id with --allow-other-database") +
                     ")");
}

int run_restore(const restore_args& a) {
    invocation at{
        .command = "restore", .database = a.database, .dir = a.common.dir, .id = a.id, .to = a.to};
    set_invocation(at);
    if (auto present = require_backup_dir(a.common.dir); !present) return report(present.error());
    check_level level{};
    parse_check_level(a.verify, level);
    schema_vault vault{.storage = plain_writing_storage(a.common.dir),
                       .snapshot = {},
                       .verification = standard_checks{.level = level,
                                                       .required = a.required,
                                                       .memory_mapped = checks_memory_mapped(),
                                                       .full_check = a.full_check},
                       .retention = {},
                       .options = {.space_factor = a.space_factor,
                                   .busy_timeout = std::chrono::milliseconds(a.busy_timeout_ms)},
                       .schema = parse_schema_policy(a.schema).value()};
    if (!a.allow_newer) {
        if (auto checked =
                require_live_migration_table(a.database, vault.schema, a.busy_timeout_ms);
            !checked) {
            return report(checked.error());
        }
    }
    std::string id = a.id;
    if (a.latest || id == latest_word || !a.before.empty()) {
        std::optional<std::chrono::system_clock::time_point> before;
        if (!a.before.empty()) {
            auto parsed = parse_before(a.before, std::chrono::system_clock::now());
            if (!parsed) return report(parsed.error());
            before = parsed.value();
        }
        auto found = latest_id(vault, a.database, before);
        if (!found) return report(found.error());
        id = found.value();
    } else if (!validate_id(id)) {  // the start of an id
        auto listed = vault.list();
        if (!listed) return report(listed.error());
        auto found = resolve_id_prefix(listed.value(), id, a.common.dir);
        if (!found) return report(found.error());
        id = found.value();
    }
    if (id != a.id) {  // messages name the backup restored, not what was typed
        at.id = id;
        set_invocation(at);
    }
    restore_options opts;
    opts.id = id;
    opts.allow_newer_schema = a.allow_newer;
    opts.required_tables = a.required;
    opts.on_progress = make_progress_bar();
    opts.memory_mapped_check = checks_memory_mapped();
    opts.allow_other_database = a.allow_other_database;
    opts.replace_damaged = a.replace_damaged;
    auto done = a.to.empty() ? vault.restore(a.database, opts) : vault.restore_to(a.to, opts);
    if (!done) return report(done.error());
    const restore_report& r = done.value();
    if (a.common.json) {
        nlohmann::json j = {{"database", json_path(r.database)},
                            {"restored", manifest_json(r.restored)},
                            {"safety_backup", r.safety.id.empty() ? nlohmann::json(nullptr)
                                                                  : manifest_json(r.safety)},
                            {"image_proven", r.image_proven},
                            {"seconds",
                             {{"verify", r.verify_seconds},
                              {"safety_backup", r.safety_seconds},
                              {"copy", r.copy_seconds},
                              {"check", r.check_seconds},
                              {"total", r.total_seconds}}}};
        print_json(j);
    } else {
        std::cout << "restored " << r.restored.id << " (" << to_string(r.restored.kind) << ", "
                  << format_iso8601(r.restored.created_at) << ", schema "
                  << r.restored.schema_version << ") into " << r.database << "\n";
        if (r.safety.id.empty()) {
            std::cout << "  (a new file: there was no previous content to keep)\n";
        } else {
            std::cout << "  safety backup of the previous content: " << r.safety.id << " in "
                      << a.common.dir << "\n";
        }
        std::cout << "  verify " << format_seconds(r.verify_seconds) << ", safety backup "
                  << format_seconds(r.safety_seconds) << ", copy " << format_seconds(r.copy_seconds)
                  << ", check " << format_seconds(r.check_seconds) << ", total "
                  << format_seconds(r.total_seconds) << "\n";
        if (verbose_mode()) {
            // The verifier's own rule (standard_checks::relies_on_creation_check).
            const bool relied = vault.verification.relies_on_creation_check(
                backup_file{r.restored.data_path, &r.restored});
            std::cout << "  backup checked by "
                      << (relied ? "its checksum: " + r.restored.verified->checks +
                                       " passed when it was taken"
                                 : vault.verification.attested_checks() + " and its checksum")
                      << "\n  restored database checked by "
                      << (r.image_proven
                              ? "reading it back: it is the backup's image, byte for byte"
                              : "quick_check")
                      << "\n";
        }
    }
    return exit_code::ok;
}

}  // namespace

void add_restore_command(CLI::App& app, std::function<int()>& run) {
    auto args = std::make_shared<restore_args>();
    auto* cmd = app.add_subcommand(
        "restore",
        "Restore a backup into a live database (verified; a safety backup is taken first and "
        "restored automatically if anything fails)");
    cmd->add_option("database", args->database,
                    "The live SQLite database file (with --to: optional, names the database "
                    "whose newest backup --latest takes)");
    cmd->add_option("--to", args->to,
                    "Write the backup to this NEW file instead (refused if it exists); no live "
                    "database is touched");
    add_dir_option(cmd, args->common.dir, "Backup directory")->required();
    auto* id = cmd->add_option("--id", args->id,
                               "The backup to restore (see `dbsafe list`): its id, any start of "
                               "it only one backup has, or latest (as --latest)")
                   ->check(id_or_prefix_validator());
    auto* latest = cmd->add_flag("--latest", args->latest,
                                 "Restore the newest backup of the database that is not a safety "
                                 "backup");
    auto* before = cmd->add_option("--before", args->before,
                                   "Restore the newest backup of the database (not a safety "
                                   "backup) taken before a UTC time (2026-11-30, "
                                   "2026-11-30T23:47) or a span ago (6h, 2d, 1w)")
                       ->check(before_validator());
    id->excludes(latest);
    before->excludes(id);
    before->excludes(latest);
    add_schema_option(cmd, args->schema);
    cmd->add_option("--require-table", args->required,
                    "A table the backup and the restored database must contain");
    cmd->add_option("--verify", args->verify,
                    "Check of the backup before restoring: full (integrity_check, default) | "
                    "quick (quick_check)")
        ->check(CLI::IsMember({"full", "quick"}));
    cmd->add_flag("--full-check", args->full_check,
                  "Run the SQLite check even on a backup that passed it at creation (by default "
                  "one whose checksum still matches is re-hashed, not re-checked)");
    cmd->add_flag("--allow-newer-schema", args->allow_newer,
                  "Restore even if the backup's schema is newer than the live database's");
    cmd->add_flag("--allow-other-database", args->allow_other_database,
                  "Restore a backup (by --id) whose source is another database, e.g. this "
                  "database before it was moved or renamed");
    cmd->add_flag("--replace-damaged", args->replace_damaged,
                  "Replace a live database SQLite cannot open (truncated, damaged header), "
                  "keeping a byte copy of it as the safety backup; stop the application first");
    cmd->add_option("--space-factor", args->space_factor,
                    "Free space required for the safety backup, in multiples of database + WAL "
                    "(default 2, 0 = off)")
        ->check(finite_range(0.0, 100.0));
    cmd->add_option("--busy-timeout", args->busy_timeout_ms,
                    "Milliseconds to wait for other connections' locks (default 10000)")
        ->check(CLI::NonNegativeNumber);
    cmd->add_flag("--json", args->common.json, "Print the outcome as one JSON line");
    cmd->callback([args, &run] {
        if (args->id.empty() && !args->latest && args->before.empty()) {
            throw CLI::RequiredError("--id, --latest or --before");
        }
        if (args->database.empty() && args->to.empty()) {
            throw CLI::RequiredError("database (or --to NEW_PATH)");
        }
        if (args->database.empty() &&
            (args->latest || args->id == latest_word || !args->before.empty())) {
            const std::string flag = !args->before.empty() ? "--before"
                                     : args->latest        ? "--latest"
                                                           : "--id latest";
            throw CLI::ValidationError(flag,
                                       "with --to, name the database whose newest backup "
                                       "to take (dbsafe restore DB --to NEW_PATH " +
                                           flag + (args->before.empty() ? "" : " TIME") +
                                           "), or give a backup's id");
        }
        run = [args] { return run_restore(*args); };
    });
}

}  // namespace dbsafe::cli
