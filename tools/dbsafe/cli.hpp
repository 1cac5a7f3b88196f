// Shared plumbing of the dbsafe commands: exit codes, error printing, JSON output, the
// progress bar, and the vault the flags describe.
#pragma once

#include <CLI/CLI.hpp>
#include <dbsafe/dbsafe.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace dbsafe::cli {

enum exit_code : int { ok = 0, failed = 1, usage = 2 };

// Options every command that touches a backup directory shares.
struct common_options {
    std::string dir;
    bool json = false;
};

// Prints "dbsafe: <message>" on stderr; returns exit_code::failed.
int report(const dbsafe::error& e);

// A vault configured from flags: verification level and required tables.
using cli_vault = basic_vault<online_backup, standard_checks, keep_all, local_directory>;

// A manifest as the CLI prints it in --json (the manifest plus the absolute path).
nlohmann::json manifest_json(const manifest& m);

// One line per backup for people.
std::string manifest_line(const manifest& m);

// Progress bar on stderr, only when stderr is a terminal.
progress_callback make_progress_bar();

bool parse_check_level(const std::string& text, check_level& out);

// Each command adds its subcommand; the returned callback runs it and yields the exit code.
void add_backup_command(CLI::App& app, std::function<int()>& run);
void add_list_command(CLI::App& app, std::function<int()>& run);
void add_verify_command(CLI::App& app, std::function<int()>& run);

}  // namespace dbsafe::cli
