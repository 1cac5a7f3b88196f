// dbsafe backup DB --dir DIR [--kind K] [--method backup-api|vacuum] [--verify full|quick|none]
//                  [--require-table NAME]... [--json]
#include <iostream>

#include "cli.hpp"

namespace dbsafe::cli {
namespace {

struct backup_args {
    std::string database;
    common_options common;
    std::string kind = "manual";
    std::string method = "backup-api";
    std::string verify = "full";
    std::vector<std::string> required;
    double space_factor = 2.0;
    int pages_per_step = 1024;
    int busy_timeout_ms = 10000;
};

template <class Snapshot>
int run_backup(const backup_args& a, Snapshot snapshot, backup_kind kind, check_level level) {
    basic_vault<Snapshot, standard_checks, keep_all, local_directory> vault{
        .storage = local_directory{a.common.dir},
        .snapshot = std::move(snapshot),
        .verification = standard_checks{.level = level, .required = a.required},
        .retention = {},
        .options = {.space_factor = a.space_factor,
                    .busy_timeout = std::chrono::milliseconds(a.busy_timeout_ms)}};
    auto made = vault.backup(a.database, {.kind = kind, .on_progress = make_progress_bar()});
    if (!made) return report(made.error());
    const manifest& m = made.value();
    if (a.common.json) {
        std::cout << manifest_json(m).dump() << "\n";
    } else {
        std::cout << "backed up " << a.database << " -> " << m.data_path.string() << "\n"
                  << "  id " << m.id << ", " << to_string(m.kind) << ", "
                  << detail::format_bytes(m.size_bytes) << ", schema " << m.schema_version
                  << ", xxh3-128 " << m.checksum.hex << "\n"
                  << "  verified (" << a.verify << (a.required.empty() ? "" : " + required tables")
                  << ") in " << m.seconds << " s\n";
    }
    return exit_code::ok;
}

}  // namespace

void add_backup_command(CLI::App& app, std::function<int()>& run) {
    auto args = std::make_shared<backup_args>();
    auto* cmd = app.add_subcommand("backup", "Take a verified backup of a live database");
    cmd->add_option("database", args->database, "The SQLite database file")->required();
    cmd->add_option("--dir", args->common.dir, "Backup directory (created 0700 when missing)")
        ->required();
    cmd->add_option("--kind", args->kind, "manual | pre_migration | safety")
        ->check(CLI::IsMember({"manual", "pre_migration", "safety"}));
    cmd->add_option("--method", args->method, "backup-api (default) | vacuum (compacted copy)")
        ->check(CLI::IsMember({"backup-api", "vacuum"}));
    cmd->add_option("--verify", args->verify,
                    "full (integrity_check, default) | quick (quick_check) | none; the checksum "
                    "and required tables are always checked")
        ->check(CLI::IsMember({"full", "quick", "none"}));
    cmd->add_option("--require-table", args->required, "A table the backup must contain");
    cmd->add_option("--space-factor", args->space_factor,
                    "Free space required, in multiples of database + WAL (default 2, 0 = off)")
        ->check(CLI::Range(0.0, 100.0));
    cmd->add_option("--pages-per-step", args->pages_per_step,
                    "Pages copied per backup step (-1 = all at once)");
    cmd->add_option("--busy-timeout", args->busy_timeout_ms,
                    "Milliseconds to wait for a locked database (default 10000)")
        ->check(CLI::NonNegativeNumber);
    cmd->add_flag("--json", args->common.json, "Print the manifest as one JSON line");
    cmd->callback([args, &run] {
        run = [args] {
            check_level level{};
            parse_check_level(args->verify, level);
            const backup_kind kind = *parse_backup_kind(args->kind);
            if (args->method == "vacuum") return run_backup(*args, vacuum_into{}, kind, level);
            return run_backup(*args,
                              online_backup{.pages_per_step = args->pages_per_step,
                                            .busy_timeout = std::chrono::milliseconds(
                                                args->busy_timeout_ms)},
                              kind, level);
        };
    });
}

}  // namespace dbsafe::cli
