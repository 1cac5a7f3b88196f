// dbsafe restore DB --dir DIR (--id ID | --latest) [--schema user_version|migrations:TABLE|
//                sql:QUERY] [--require-table NAME]... [--verify full|quick]
//                [--allow-newer-schema] [--json]
#include <iostream>

#include "backup_dir.hpp"
#include "cli.hpp"
#include "schema_option.hpp"

namespace dbsafe::cli {
namespace {

struct restore_args {
    std::string database;
    common_options common;
    std::string id;
    bool latest = false;
    std::string schema = "user_version";
    std::vector<std::string> required;
    std::string verify = "full";
    bool allow_newer = false;
    double space_factor = 2.0;
    int busy_timeout_ms = 10000;
};

// --latest: the newest backup that is not a safety backup. Safety backups are restore's own
// recovery points; picking one would make a second `restore --latest` undo the first.
result<std::string> latest_id(const schema_vault& vault) {
    DBSAFE_TRY(const listing l, vault.list());
    for (const auto& m : l.backups) {
        if (m.kind != backup_kind::safety) return m.id;
    }
    return error(errc::not_found, "no backup to restore in " + vault.storage.location().string() +
                                      " (safety backups are only restored by --id)");
}

int run_restore(const restore_args& a) {
    if (auto present = require_backup_dir(a.common.dir); !present) return report(present.error());
    check_level level{};
    parse_check_level(a.verify, level);
    schema_vault vault{.storage = plain_writing_storage(a.common.dir),
                       .snapshot = {},
                       .verification = standard_checks{.level = level,
                                                       .required = a.required,
                                                       .memory_mapped = checks_memory_mapped()},
                       .retention = {},
                       .options = {.space_factor = a.space_factor,
                                   .busy_timeout = std::chrono::milliseconds(a.busy_timeout_ms)},
                       .schema = parse_schema_policy(a.schema).value()};
    std::string id = a.id;
    if (a.latest) {
        auto found = latest_id(vault);
        if (!found) return report(found.error());
        id = found.value();
    }
    restore_options opts;
    opts.id = id;
    opts.allow_newer_schema = a.allow_newer;
    opts.required_tables = a.required;
    opts.on_progress = make_progress_bar();
    opts.memory_mapped_check = checks_memory_mapped();
    auto done = vault.restore(a.database, opts);
    if (!done) return report(done.error());
    const restore_report& r = done.value();
    if (a.common.json) {
        nlohmann::json j = {{"database", r.database},
                            {"restored", manifest_json(r.restored)},
                            {"safety_backup", manifest_json(r.safety)},
                            {"seconds",
                             {{"verify", r.verify_seconds},
                              {"safety_backup", r.safety_seconds},
                              {"copy", r.copy_seconds},
                              {"check", r.check_seconds},
                              {"total", r.total_seconds}}}};
        std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    } else {
        std::cout << "restored " << r.restored.id << " (" << to_string(r.restored.kind) << ", "
                  << detail::format_iso8601(r.restored.created_at) << ", schema "
                  << r.restored.schema_version << ") into " << r.database << "\n"
                  << "  safety backup of the previous content: " << r.safety.id << " in "
                  << a.common.dir << "\n"
                  << "  verify " << r.verify_seconds << " s, safety backup " << r.safety_seconds
                  << " s, copy " << r.copy_seconds << " s, check " << r.check_seconds
                  << " s, total " << r.total_seconds << " s\n";
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
    cmd->add_option("database", args->database, "The live SQLite database file")->required();
    cmd->add_option("--dir", args->common.dir, "Backup directory")->required();
    auto* id = cmd->add_option("--id", args->id, "The backup to restore (see `dbsafe list`)");
    auto* latest = cmd->add_flag("--latest", args->latest,
                                 "Restore the newest backup that is not a safety backup");
    id->excludes(latest);
    add_schema_option(cmd, args->schema);
    cmd->add_option("--require-table", args->required,
                    "A table the backup and the restored database must contain");
    cmd->add_option("--verify", args->verify,
                    "Check of the backup before restoring: full (integrity_check, default) | "
                    "quick (quick_check)")
        ->check(CLI::IsMember({"full", "quick"}));
    cmd->add_flag("--allow-newer-schema", args->allow_newer,
                  "Restore even if the backup's schema is newer than the live database's");
    cmd->add_option("--space-factor", args->space_factor,
                    "Free space required for the safety backup, in multiples of database + WAL "
                    "(default 2, 0 = off)")
        ->check(CLI::Range(0.0, 100.0));
    cmd->add_option("--busy-timeout", args->busy_timeout_ms,
                    "Milliseconds to wait for other connections' locks (default 10000)")
        ->check(CLI::NonNegativeNumber);
    cmd->add_flag("--json", args->common.json, "Print the outcome as one JSON line");
    cmd->callback([args, &run] {
        if (args->id.empty() && !args->latest) throw CLI::RequiredError("--id or --latest");
        run = [args] { return run_restore(*args); };
    });
}

}  // namespace dbsafe::cli
