// dbsafe recover DB --dir DIR [--busy-timeout MS] [--json]
// Finishes a guarded migration of DB that a crash interrupted: when DIR holds its record, rolls
// DB back to the pre-migration backup (a restore, with its safety backup) and removes the
// record. Nothing to do is a success. `migrate` and `restore` do the same implicitly.
#include <iostream>

#include "cli.hpp"
#include "recover_output.hpp"

namespace dbsafe::cli {
namespace {

struct recover_args {
    std::string database;
    common_options common;
    double space_factor = 2.0;
    int busy_timeout_ms = 10000;
};

int run_recover(const recover_args& a) {
    set_invocation({.command = "recover", .database = a.database, .dir = a.common.dir});
    cli_vault vault{.storage = plain_writing_storage(a.common.dir),
                    .snapshot = {},
                    .verification = standard_checks{.level = check_level::full,
                                                    .required = {},
                                                    .memory_mapped = checks_memory_mapped()},
                    .retention = {},
                    .options = {.space_factor = a.space_factor,
                                .busy_timeout = std::chrono::milliseconds(a.busy_timeout_ms)}};
    auto done = vault.recover(a.database);
    if (!done) return report(done.error());
    const recovery_report& r = done.value();
    if (a.common.json) {
        nlohmann::json j = {{"database", canonical_source_path(a.database)},
                            {"rolled_back", r.rolled_back},
                            {"recovery", recovery_json(r)}};
        std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    } else if (r.rolled_back) {
        std::cout << recovery_line(r) << "\n";
    } else {
        std::cout << "nothing to recover: no interrupted migration of " << a.database << " in "
                  << a.common.dir << "\n";
    }
    return exit_code::ok;
}

}  // namespace

void add_recover_command(CLI::App& app, std::function<int()>& run) {
    auto args = std::make_shared<recover_args>();
    auto* cmd = app.add_subcommand(
        "recover",
        "Roll a database back to its pre-migration backup if a guarded migration of it was "
        "interrupted (a crash, kill -9); does nothing otherwise");
    cmd->add_option("database", args->database, "The live SQLite database file")->required();
    add_dir_option(cmd, args->common.dir,
                   "Backup directory the migration used (holds its record and backup)")
        ->required();
    cmd->add_option("--space-factor", args->space_factor,
                    "Free space required for the safety backup, in multiples of database + WAL "
                    "(default 2, 0 = off)")
        ->check(CLI::Range(0.0, 100.0));
    cmd->add_option("--busy-timeout", args->busy_timeout_ms,
                    "Milliseconds to wait for other connections' locks (default 10000)")
        ->check(CLI::NonNegativeNumber);
    cmd->add_flag("--json", args->common.json, "Print the outcome as one JSON line");
    cmd->callback([args, &run] { run = [args] { return run_recover(*args); }; });
}

}  // namespace dbsafe::cli
