// dbsafe health --dir DIR [--max-age 26h] [--max-total-size SIZE] [--check full|quick|none]
//               [--debris-grace 24h] [--db PATH] [--json]
// Exit 0 when healthy, 1 when unhealthy (every finding listed), 2 on a usage error: made for
// cron jobs and monitoring probes.
#include <iostream>

#include "backup_dir.hpp"
#include "cli.hpp"
#include "units_option.hpp"

namespace dbsafe::cli {
namespace {

struct health_args {
    common_options common;
    std::string max_age;
    std::string max_total_size;
    std::string check = "full";
    std::string debris_grace = "24h";
    std::string db;
};

int run_health(const health_args& a) {
    set_invocation({.command = "health", .database = a.db, .dir = a.common.dir});
    if (auto present = require_backup_dir(a.common.dir); !present) return report(present.error());
    check_level level{};
    parse_check_level(a.check, level);
    const cli_vault vault{
        .storage = cli_storage{a.common.dir},
        .snapshot = {},
        .verification = standard_checks{.level = level, .memory_mapped = checks_memory_mapped()},
        .retention = {},
        .options = {}};
    health_options opts{.max_age = std::nullopt,
                        .max_total_size = std::nullopt,
                        .verify_newest = true,
                        .debris_grace = parse_duration(a.debris_grace).value(),
                        .now = std::nullopt,
                        .database = a.db};
    if (!a.max_age.empty()) opts.max_age = parse_duration(a.max_age).value();
    if (!a.max_total_size.empty()) opts.max_total_size = parse_size(a.max_total_size).value();
    auto checked = vault.health(opts);
    if (!checked) return report(checked.error());
    const health_report& r = checked.value();

    if (a.common.json) {
        nlohmann::json findings = nlohmann::json::array();
        for (const auto& f : r.findings) {
            nlohmann::json finding = {{"check", std::string(to_string(f.check))},
                                      {"message", f.message}};
            if (auto hint = health_hint(f.check, current_invocation()); !hint.empty()) {
                finding["hint"] = std::move(hint);
            }
            findings.push_back(std::move(finding));
        }
        nlohmann::json newest = nullptr;
        if (r.newest) {
            newest = {{"id", r.newest->id},
                      {"kind", std::string(to_string(r.newest->kind))},
                      {"created_at", format_iso8601(r.newest->created_at)}};
        }
        print_json(nlohmann::json{{"healthy", r.healthy()},
                                  {"backups", r.backup_count},
                                  {"total_bytes", r.total_bytes},
                                  {"newest", newest},
                                  {"findings", findings}});
    } else {
        std::cout << (r.healthy() ? "healthy: " : "UNHEALTHY: ") << r.backup_count
                  << (r.backup_count == 1 ? " backup, " : " backups, ")
                  << format_bytes(r.total_bytes) << " in " << a.common.dir << "\n";
        if (r.newest) std::cout << "  newest: " << manifest_line(*r.newest) << "\n";
        for (const auto& f : r.findings) {
            std::cout << "  - " << f.message << "\n";
            if (auto hint = health_hint(f.check, current_invocation()); !hint.empty()) {
                std::cout << "    hint: " << hint << "\n";
            }
        }
    }
    return r.healthy() ? exit_code::ok : exit_code::failed;
}

}  // namespace

void add_health_command(CLI::App& app, std::function<int()>& run) {
    auto args = std::make_shared<health_args>();
    auto* cmd = app.add_subcommand(
        "health", "Check that backups exist, are recent, fit the budget and verify (exit 0/1)");
    add_dir_option(cmd, args->common.dir, "Backup directory")->required();
    cmd->add_option(
        "--db", args->db,
        "Only the backups of this database (its path; see `dbsafe list`, SOURCE column)");
    cmd->add_option("--max-age", args->max_age,
                    "Unhealthy when the newest backup is older than this (h d w m y, e.g. 26h)")
        ->check(duration_validator());
    cmd->add_option("--max-total-size", args->max_total_size,
                    "Unhealthy when the backups occupy more than this (KiB MiB GiB TiB)")
        ->check(size_validator());
    cmd->add_option("--check", args->check,
                    "How to verify the newest backup: full (integrity_check, default) | quick | "
                    "none (checksum only)")
        ->check(CLI::IsMember({"full", "quick", "none"}));
    cmd->add_option("--debris-grace", args->debris_grace,
                    "Ignore debris younger than this: it may be a backup in progress (default 24h)")
        ->check(duration_validator());
    cmd->add_flag("--json", args->common.json,
                  "Print {healthy, backups, total_bytes, newest, findings: [{check, message}]}");
    cmd->callback([args, &run] { run = [args] { return run_health(*args); }; });
}

}  // namespace dbsafe::cli
