// dbsafe migrate DB --dir DIR --sql FILE [--schema ...] [--verify full|quick] [--json]
// Runs an SQL file under the migration guard: a verified pre-migration backup first (no backup,
// no migration), then the statements; any error rolls the database back to that backup.
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli.hpp"
#include "schema_option.hpp"
#include "units_option.hpp"

namespace dbsafe::cli {
namespace {

struct migrate_args {
    std::string database;
    common_options common;
    std::string sql_file;
    std::string schema = "user_version";
    std::string verify = "full";
    double space_factor = 2.0;
    int busy_timeout_ms = 10000;
};

// Runs every statement of `sql` in order; names the one that failed.
result<int> run_statements(sqlite3* db, const std::string& sql, const std::string& file) {
    const char* next = sql.c_str();
    int count = 0;
    while (*next != '\0') {
        sqlite3_stmt* raw = nullptr;
        const char* tail = nullptr;
        int rc = sqlite3_prepare_v2(db, next, -1, &raw, &tail);
        const detail::statement st(raw);
        std::string text(next,
                         tail != nullptr ? tail : next + std::char_traits<char>::length(next));
        next = tail != nullptr ? tail : next + text.size();
        if (rc == SQLITE_OK && raw == nullptr) continue;  // whitespace or a comment
        ++count;
        const auto fail = [&](int code) {
            if (text.size() > 120) text = text.substr(0, 117) + "...";
            const auto first = text.find_first_not_of(" \t\r\n");
            return sqlite_error(code, "statement " + std::to_string(count) + " of " + file + " (`" +
                                          (first == std::string::npos ? text : text.substr(first)) +
                                          "`) failed: " + detail::describe(db, code));
        };
        if (rc != SQLITE_OK) return fail(rc);
        while ((rc = sqlite3_step(raw)) == SQLITE_ROW) {
        }
        if (rc != SQLITE_DONE) return fail(rc);
    }
    return count;
}

int run_migrate(const migrate_args& a) {
    std::ifstream in(a.sql_file, std::ios::binary);
    if (!in) {
        return report(
            error(errc::not_found, "cannot read SQL file " + a.sql_file + ": nothing was done"));
    }
    std::ostringstream text;
    text << in.rdbuf();
    const std::string sql = text.str();

    check_level level{};
    parse_check_level(a.verify, level);
    schema_vault vault{.storage = plain_writing_storage(a.common.dir),
                       .snapshot = {},
                       .verification = standard_checks{.level = level,
                                                       .required = {},
                                                       .memory_mapped = checks_memory_mapped()},
                       .retention = {},
                       .options = {.space_factor = a.space_factor,
                                   .busy_timeout = std::chrono::milliseconds(a.busy_timeout_ms)},
                       .schema = parse_schema_policy(a.schema).value()};
    auto opened =
        detail::open_and_probe(a.database, detail::open_mode::read_write, a.busy_timeout_ms);
    if (!opened) return report(opened.error());
    sqlite3* db = opened.value().get();
    auto before = vault.schema.read(db);
    if (!before) return report(before.error());

    int statements = 0;
    auto guarded = run_guarded(vault, db, [&](sqlite3* c) -> result<void> {
        DBSAFE_TRY(statements, run_statements(c, sql, a.sql_file));
        return success();
    });
    if (!guarded) return report(guarded.error());
    auto after = vault.schema.read(db);
    if (!after) return report(after.error());
    const manifest& pre = guarded.value();
    if (a.common.json) {
        nlohmann::json j = {{"database", json_path(a.database)},
                            {"sql", json_path(a.sql_file)},
                            {"statements", statements},
                            {"schema_policy", vault.schema.name()},
                            {"schema_before", before.value().version},
                            {"schema_after", after.value().version},
                            {"pre_migration_backup", manifest_json(pre)}};
        print_json(j);
    } else {
        std::cout << "migrated " << a.database << " with " << a.sql_file << " (" << statements
                  << " statements): " << vault.schema.name() << " " << before.value().describe()
                  << " -> " << after.value().describe() << "\n"
                  << "  pre-migration backup " << pre.id << " in " << a.common.dir << "\n";
    }
    return exit_code::ok;
}

}  // namespace

void add_migrate_command(CLI::App& app, std::function<int()>& run) {
    auto args = std::make_shared<migrate_args>();
    auto* cmd = app.add_subcommand(
        "migrate",
        "Run an SQL migration under a guard: pre-migration backup first, automatic rollback "
        "on any error");
    cmd->add_option("database", args->database, "The live SQLite database file")->required();
    cmd->add_option("--dir", args->common.dir, "Backup directory for the pre-migration backup")
        ->required();
    cmd->add_option("--sql", args->sql_file, "The SQL file to run")->required();
    add_schema_option(cmd, args->schema);
    cmd->add_option("--verify", args->verify,
                    "Check of the pre-migration backup: full (integrity_check, default) | quick")
        ->check(CLI::IsMember({"full", "quick"}));
    cmd->add_option("--space-factor", args->space_factor,
                    "Free space required for the backups, in multiples of database + WAL "
                    "(default 2, 0 = off)")
        ->check(finite_range(0.0, 100.0));
    cmd->add_option("--busy-timeout", args->busy_timeout_ms,
                    "Milliseconds to wait for other connections' locks (default 10000)")
        ->check(CLI::NonNegativeNumber);
    cmd->add_flag("--json", args->common.json, "Print the outcome as one JSON line");
    cmd->callback([args, &run] { run = [args] { return run_migrate(*args); }; });
}

}  // namespace dbsafe::cli
