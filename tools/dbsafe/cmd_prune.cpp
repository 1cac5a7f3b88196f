// dbsafe prune --dir DIR [--keep-within 30d] [--keep-last N] [--keep-hourly N] [--keep-daily N]
//              [--keep-weekly N] [--keep-monthly N] [--keep-yearly N] [--keep-kind KIND]...
//              [--max-total-size 10GiB] [--now ISO8601] [--allow-future-now]
//              [--allow-delete-newest] [--debris-grace 24h] [--dry-run] [--json]
//
// No keep flag means the default policy (30 days, pre_migration kept, newest kept); keep flags
// replace it; --max-total-size trims either. Whatever the flags, the newest backup of each
// database is kept unless --allow-delete-newest. Every flag value is checked while parsing, so a
// bad one (a zero-length window, a --now more than a day ahead without --allow-future-now) is a
// usage error (exit 2) before anything is listed, let alone deleted.
#include <iostream>
#include <optional>

#include "backup_dir.hpp"
#include "cli.hpp"
#include "units_option.hpp"

namespace dbsafe::cli {
namespace {

struct prune_args {
    common_options common;
    std::string keep_within;
    std::size_t keep_last = 0;
    std::size_t keep_hourly = 0;
    std::size_t keep_daily = 0;
    std::size_t keep_weekly = 0;
    std::size_t keep_monthly = 0;
    std::size_t keep_yearly = 0;
    std::vector<std::string> keep_kinds;
    std::string max_total_size;
    std::string now;
    std::string debris_grace = "24h";
    bool dry_run = false;
    std::string db;
    bool allow_future_now = false;
    bool allow_delete_newest = false;
};

// The flags as a policy. Values were validated by the option checks, so value() cannot throw.
retention_rules policy_from(const prune_args& a) {
    retention_rules rules;
    if (!a.keep_within.empty()) rules.add(keep_within{parse_duration(a.keep_within).value()});
    if (a.keep_last != 0) rules.add(keep_last{a.keep_last});
    if (a.keep_hourly != 0) rules.add(keep_hourly{a.keep_hourly});
    if (a.keep_daily != 0) rules.add(keep_daily{a.keep_daily});
    if (a.keep_weekly != 0) rules.add(keep_weekly{a.keep_weekly});
    if (a.keep_monthly != 0) rules.add(keep_monthly{a.keep_monthly});
    if (a.keep_yearly != 0) rules.add(keep_yearly{a.keep_yearly});
    if (!a.keep_kinds.empty()) {
        std::vector<backup_kind> kinds;
        for (const auto& k : a.keep_kinds) kinds.push_back(*parse_backup_kind(k));
        rules.add(keep_kinds{std::move(kinds)});
    }
    if (!rules.has_keep_rules()) rules.add(default_retention{});
    if (!a.max_total_size.empty()) rules.add(max_total_size{parse_size(a.max_total_size).value()});
    return rules;
}

std::string joined(const std::vector<std::string>& parts) {
    std::string out;
    for (const auto& p : parts) out += (out.empty() ? "" : "; ") + p;
    return out;
}

int run_prune(const prune_args& a) {
    set_invocation({.command = "prune", .dir = a.common.dir});
    if (auto present = require_backup_dir(a.common.dir); !present) return report(present.error());
    basic_vault<online_backup, standard_checks, retention_rules, cli_storage> vault{
        .storage = cli_storage{a.common.dir},
        .snapshot = {},
        .verification = {},
        .retention = policy_from(a),
        .options = {}};
    prune_options opts{.dry_run = a.dry_run,
                       .debris_grace = parse_duration(a.debris_grace).value(),
                       .now = std::nullopt,
                       .protected_ids = {},
                       .database = a.db,
                       .allow_delete_newest = a.allow_delete_newest};
    if (!a.now.empty()) opts.now = parse_iso8601(a.now);
    auto pruned = vault.prune(opts);
    if (!pruned) return report(pruned.error());
    const prune_report& r = pruned.value();

    std::ostream& notes = a.common.json ? std::cerr : std::cout;
    if (a.common.json) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& b : r.backups) {
            out.push_back({{"id", b.backup.id},
                           {"kind", std::string(to_string(b.backup.kind))},
                           {"created_at", format_iso8601(b.backup.created_at)},
                           {"action", b.decision.keep ? "keep" : "delete"},
                           {"reasons", b.decision.reasons}});
        }
        print_json(out);
    } else {
        if (r.dry_run) std::cout << "dry run: nothing is deleted\n";
        if (r.backups.empty()) std::cout << "no backups in " << a.common.dir << "\n";
        for (const auto& b : r.backups) {
            const char* action = b.decision.keep ? "keep    "
                                 : r.dry_run     ? "would delete  "
                                                 : "delete  ";
            std::cout << action << manifest_line(b.backup) << "  (" << joined(b.decision.reasons)
                      << ")\n";
        }
    }
    std::size_t failures = 0;
    for (const auto& b : r.backups) {
        if (!b.failure) continue;
        ++failures;
        std::cerr << "dbsafe: could not delete backup " << b.backup.id << ": " << b.failure->message
                  << "\n";
    }
    for (const auto& d : r.debris) {
        if (d.action == debris_action::failed) ++failures;
        const std::string what = d.item.path.string() + " (" + d.item.reason + ")";
        switch (d.action) {
            case debris_action::removed:
                notes << "removed debris " << what << "\n";
                break;
            case debris_action::would_remove:
                notes << "would remove debris " << what << "\n";
                break;
            case debris_action::left_recent:
            case debris_action::left_foreign:
                notes << "left " << what << ": " << d.note << "\n";
                break;
            case debris_action::failed:
                std::cerr << "dbsafe: could not remove " << what << ": " << d.note << "\n";
                break;
        }
    }
    if (!a.common.json) {
        const std::size_t deleted = r.deletions();
        std::cout << (r.dry_run ? "would delete " : "deleted ") << deleted
                  << (deleted == 1 ? " backup" : " backups") << " (" << format_bytes(r.bytes_freed)
                  << "), kept " << r.backups.size() - deleted << "\n";
    }
    return failures == 0 ? exit_code::ok : exit_code::failed;
}

}  // namespace

void add_prune_command(CLI::App& app, std::function<int()>& run) {
    auto args = std::make_shared<prune_args>();
    auto* cmd = app.add_subcommand(
        "prune", "Delete backups the retention policy no longer keeps, and sweep old debris");
    add_dir_option(cmd, args->common.dir, "Backup directory")->required();
    cmd->add_option("--db", args->db,
                    "Only the backups of this database (its path; see `dbsafe list`); "
                    "retention applies to them alone");
    cmd->add_option("--keep-within", args->keep_within,
                    "Keep backups younger than this (h d w m y, e.g. 30d; not 0)")
        ->check(window_validator());
    cmd->add_option("--keep-last", args->keep_last, "Keep the N newest backups")
        ->check(count_validator());
    cmd->add_option("--keep-hourly", args->keep_hourly,
                    "Keep the newest backup of each of the last N hours with backups (UTC)")
        ->check(count_validator());
    cmd->add_option("--keep-daily", args->keep_daily,
                    "Keep the newest backup of each of the last N days with backups (UTC)")
        ->check(count_validator());
    cmd->add_option("--keep-weekly", args->keep_weekly,
                    "Keep the newest backup of each of the last N ISO weeks with backups")
        ->check(count_validator());
    cmd->add_option("--keep-monthly", args->keep_monthly,
                    "Keep the newest backup of each of the last N months with backups")
        ->check(count_validator());
    cmd->add_option("--keep-yearly", args->keep_yearly,
                    "Keep the newest backup of each of the last N years with backups")
        ->check(count_validator());
    cmd->add_option("--keep-kind", args->keep_kinds,
                    "Keep every backup of this kind (manual | pre_migration | safety); repeatable")
        ->check(kind_validator());
    cmd->add_option("--max-total-size", args->max_total_size,
                    "Then delete oldest first while the kept backups exceed this size (KiB MiB "
                    "GiB TiB); never the newest backup nor a --keep-kind one")
        ->check(size_validator());
    cmd->add_option("--now", args->now,
                    "Judge ages as of this UTC time (ISO 8601, e.g. 2026-11-25T12:00:00Z); more "
                    "than a day ahead of the clock needs --allow-future-now")
        ->check(iso8601_validator());
    cmd->add_flag("--allow-future-now", args->allow_future_now,
                  "Accept a --now more than a day ahead of this machine's clock");
    cmd->add_flag("--allow-delete-newest", args->allow_delete_newest,
                  "Let the policy delete the newest backup of a database too (by default every "
                  "prune keeps it, and the newest non-safety one)");
    cmd->add_option("--debris-grace", args->debris_grace,
                    "Leave debris younger than this: it may be a backup in progress (default 24h)")
        ->check(duration_validator());
    cmd->add_flag("--dry-run", args->dry_run, "Show what would be deleted; change nothing");
    cmd->add_flag("--json", args->common.json,
                  "Print one JSON array of {id, kind, created_at, action, reasons}");
    cmd->callback([args, &run] {
        // A --now far ahead makes every backup look old: confirm it is meant.
        if (!args->now.empty() && !args->allow_future_now) {
            const auto now = parse_iso8601(args->now).value();
            if (now > std::chrono::system_clock::now() + std::chrono::hours{24}) {
                throw CLI::ValidationError(
                    "--now", args->now +
                                 " is more than a day after this machine's clock: every backup "
                                 "would look that much older; add --allow-future-now if you "
                                 "mean it");
            }
        }
        run = [args] { return run_prune(*args); };
    });
}

}  // namespace dbsafe::cli
