// dbsafe migrate DB --dir DIR --sql FILE [--schema ...] [--verify full|quick] [--json]
// Runs an SQL file under the migration guard: an interrupted earlier migration is rolled back
// first (vault.recover), then a verified pre-migration backup (no backup, no migration), then
// the statements — in one transaction when SQLite allows it — while a migration record in DIR
// lets a crash be rolled back; any error rolls the database back to that backup.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <variant>

#include "cli.hpp"
#include "recover_output.hpp"
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

// The offset of the first byte that is not part of valid UTF-8, or npos.
std::size_t invalid_utf8_at(const std::string& s) {
    std::size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        std::size_t n = c < 0x80           ? 1
                        : (c >> 5) == 0x6  ? 2
                        : (c >> 4) == 0xE  ? 3
                        : (c >> 3) == 0x1E ? 4
                                           : 0;
        if (n == 0 || i + n > s.size() || (n == 2 && c < 0xC2) || (n == 4 && c > 0xF4)) return i;
        for (std::size_t k = 1; k < n; ++k) {
            if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return i;
        }
        i += n;
    }
    return std::string::npos;
}

// The SQL file, as text. Anything else is refused before the database is touched: a directory
// (0.1 "migrated" it with 0 statements), an unreadable file, NUL bytes (SQLite stops reading at
// the first one, so 0.1 silently dropped the rest) and bytes that are not UTF-8 (a binary file,
// or another encoding that would put mojibake into the database). A UTF-8 BOM is skipped.
result<std::string> read_sql_file(const std::string& path) {
    const auto refuse = [&](const std::string& why) {
        return error(errc::invalid_argument,
                     "cannot migrate with SQL file " + path + ": " + why + "; nothing was done",
                     path);
    };
    const auto os_refusal = [&](int err) {  // keeps errno's code: not_found stays not_found
        std::string why = std::strerror(err);
        if (err == EACCES || err == EPERM) why += " (check permissions of the path)";
        const std::string message =
            "cannot read SQL file " + path + ": " + why + "; nothing was done";
        return err == ENOENT ? error(errc::not_found, message, path)
                             : errno_error(err, message, path);
    };
    // O_NONBLOCK: a FIFO given as --sql must not hang the command (it is refused below).
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return os_refusal(errno);
    struct closer {
        int fd;
        explicit closer(int f) : fd(f) {}
        closer(const closer&) = delete;
        closer& operator=(const closer&) = delete;
        ~closer() { ::close(fd); }
    } const owner(fd);
    struct stat st {};
    if (::fstat(fd, &st) != 0) return os_refusal(errno);
    if (S_ISDIR(st.st_mode)) return refuse("it is a directory (give one .sql file)");
    if (!S_ISREG(st.st_mode)) return refuse("it is not a regular file (a FIFO or a device)");
    if (::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) return os_refusal(errno);
    std::string sql;
    char buf[65536];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n == 0) break;
        if (n < 0) {
            if (errno == EINTR) continue;
            return refuse(std::string("read error: ") + std::strerror(errno));
        }
        sql.append(buf, static_cast<std::size_t>(n));
    }
    if (sql.starts_with("\xEF\xBB\xBF")) sql.erase(0, 3);
    if (const auto nul = sql.find('\0'); nul != std::string::npos) {
        return refuse("it contains a NUL byte at offset " + std::to_string(nul) +
                      " (a binary file, or UTF-16: save it as UTF-8 text)");
    }
    if (const auto bad = invalid_utf8_at(sql); bad != std::string::npos) {
        return refuse("byte " + std::to_string(bad) +
                      " is not UTF-8 (a binary file, or another encoding: convert it, e.g. "
                      "`iconv -f latin1 -t utf-8`)");
    }
    return sql;
}

// One statement of the file as the scan before the migration sees it: its text, its first
// keyword (upper case) and, for PRAGMA, the pragma's name (lower case, schema dropped).
struct scanned_statement {
    std::string text;
    std::string keyword;
    std::string pragma;
};

// Skips blanks, comments and empty statements (';') from `i`.
std::size_t skip_blank(const std::string& s, std::size_t i) {
    while (i < s.size()) {
        if (std::isspace(static_cast<unsigned char>(s[i])) != 0 || s[i] == ';') {
            ++i;
        } else if (s.compare(i, 2, "--") == 0) {
            i = s.find('\n', i);
            if (i == std::string::npos) return s.size();
        } else if (s.compare(i, 2, "/*") == 0) {
            i = s.find("*/", i + 2);
            if (i == std::string::npos) return s.size();
            i += 2;
        } else {
            break;
        }
    }
    return i;
}

std::string word_at(const std::string& s, std::size_t& i) {
    std::string w;
    while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) != 0 || s[i] == '_')) {
        w += s[i++];
    }
    return w;
}

// Splits the file into statements where SQLite would (sqlite3_complete knows strings,
// comments and trigger bodies), dropping empty ones.
std::vector<scanned_statement> scan_statements(const std::string& sql) {
    std::vector<scanned_statement> out;
    const auto add = [&](std::string text) {
        scanned_statement st;
        std::size_t i = skip_blank(text, 0);
        st.keyword = word_at(text, i);
        if (st.keyword.empty() && i >= text.size()) return;  // blanks, comments, a lone ';'
        for (auto& c : st.keyword)
            c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        if (st.keyword == "PRAGMA") {
            i = skip_blank(text, i);
            st.pragma = word_at(text, i);
            if (i < text.size() && text[i] == '.') {
                ++i;
                st.pragma = word_at(text, i);
            }
            for (auto& c : st.pragma)
                c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        st.text = std::move(text);
        out.push_back(std::move(st));
    };
    std::size_t start = 0;
    for (std::size_t i = 0; i < sql.size(); ++i) {
        if (sql[i] != ';') continue;
        std::string chunk = sql.substr(start, i + 1 - start);
        if (sqlite3_complete(chunk.c_str()) != 0) {
            add(std::move(chunk));
            start = i + 1;
        }
    }
    if (start < sql.size()) add(sql.substr(start));
    return out;
}

std::string shortened(const std::string& text) {
    const auto first = text.find_first_not_of(" \t\r\n");
    std::string t = first == std::string::npos ? text : text.substr(first);
    while (!t.empty() &&
           (t.back() == ';' || std::isspace(static_cast<unsigned char>(t.back())) != 0)) {
        t.pop_back();
    }
    return t.size() > 80 ? t.substr(0, 77) + "..." : t;
}

// Why the file cannot run as one transaction (empty: it can). Its own transaction control,
// VACUUM, and PRAGMAs other than user_version/application_id (journal_mode, page_size,
// foreign_keys, ... are refused or silently ignored inside a transaction) run statement by
// statement instead; the migration record still rolls a crash back.
std::string transaction_breaker(const std::vector<scanned_statement>& statements) {
    static constexpr const char* control[] = {"BEGIN", "COMMIT", "END", "ROLLBACK", "VACUUM"};
    for (std::size_t n = 0; n < statements.size(); ++n) {
        const auto& st = statements[n];
        const bool breaks =
            std::find(std::begin(control), std::end(control), st.keyword) != std::end(control) ||
            (st.keyword == "PRAGMA" && st.pragma != "user_version" &&
             st.pragma != "application_id");
        if (breaks) {
            return "statement " + std::to_string(n + 1) + " (`" + shortened(st.text) + "`)";
        }
    }
    return {};
}

// Runs every statement of `sql` in order; names the one that failed.
result<int> run_statements(sqlite3* db, const std::string& sql, const std::string& file) {
    const char* next = sql.c_str();
    int count = 0;
    while (*next != '\0') {
        sqlite3_stmt* raw = nullptr;
        const char* tail = nullptr;
        int rc = sqlite3_prepare_v2(db, next, -1, &raw, &tail);
        const std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> st(raw, sqlite3_finalize);
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
                                          "`) failed: " + sqlite3_errmsg(db) + " (" +
                                          sqlite3_errstr(code) + ")");
        };
        if (rc != SQLITE_OK) return fail(rc);
        while ((rc = sqlite3_step(raw)) == SQLITE_ROW) {
        }
        if (rc != SQLITE_DONE) return fail(rc);
    }
    return count;
}

int run_migrate(const migrate_args& a) {
    set_invocation({.command = "migrate", .database = a.database, .dir = a.common.dir});
    auto read = read_sql_file(a.sql_file);
    if (!read) return report(read.error());
    const std::string sql = std::move(read).value();
    const auto scanned = scan_statements(sql);
    for (std::size_t n = 0; n < scanned.size(); ++n) {
        if (scanned[n].keyword == "ATTACH" || scanned[n].keyword == "DETACH") {
            return report(error(errc::unsupported,
                                "statement " + std::to_string(n + 1) + " of " + a.sql_file + " (`" +
                                    shortened(scanned[n].text) +
                                    "`) attaches or detaches a database: a guarded migration "
                                    "backs up and rolls back only " +
                                    a.database +
                                    ", so ATTACH and DETACH are refused; migrate each database "
                                    "with its own file. Nothing was done"));
        }
    }
    const std::string breaker = transaction_breaker(scanned);

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
    auto opened = open_and_probe(a.database, open_mode::read_write, a.busy_timeout_ms);
    if (!opened) return report(opened.error());
    sqlite3* db = opened.value().get();
    // This connection is the CLI's own: every lock it takes for the rest of the command (the
    // pre-migration backup's reads, the migration's BEGIN IMMEDIATE and commit, a rollback's
    // restore) is asked for every 250 us. Beside a rollback-journal writer committing back to
    // back, SQLite's default handler (sleeps growing to 100 ms) missed the gaps between its
    // commits until the busy timeout ran out, the migration failed and so did its rollback.
    const dbsafe::polling_busy_wait prompt_waits(db, std::chrono::milliseconds(a.busy_timeout_ms));

    // An earlier migration a crash interrupted is rolled back first, whatever this file holds.
    auto recovered = vault.recover(db);
    if (!recovered) {
        return report(recovered.error().within("migration of " + a.database + " blocked"));
    }
    const recovery_report& recovery = recovered.value();
    if (recovery.rolled_back && !a.common.json) std::cout << recovery_line(recovery) << "\n";

    if (scanned.empty()) {  // only blanks and comments: say so, take no backup
        if (a.common.json) {
            nlohmann::json j = {{"database", a.database},
                                {"sql", a.sql_file},
                                {"statements", 0},
                                {"nothing_to_migrate", true},
                                {"recovered", recovery_json(recovery)},
                                {"pre_migration_backup", nullptr}};
            std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
        } else {
            std::cout << "nothing to migrate: " << a.sql_file
                      << " holds no SQL statement (only blanks or comments); " << a.database
                      << " was not changed and no backup was taken\n";
        }
        return exit_code::ok;
    }

    // --schema migrations:TABLE: a table that exists neither now nor after the file ran is a
    // typo, which would silently turn restore's schema check off.
    const auto& policy = vault.schema;
    if (auto present = migration_table_present(db, policy); !present) {
        return report(present.error());
    } else if (!present.value() && !mentions(sql, migration_table_name(policy))) {
        return report(
            missing_migration_table(db, policy, "and " + a.sql_file + " does not create it"));
    }
    auto before = vault.schema.read(db);
    if (!before) return report(before.error());

    int statements = 0;
    const bool one_transaction = breaker.empty();
    auto guarded = run_guarded(vault, db, [&](sqlite3* c) -> result<void> {
        if (one_transaction) DBSAFE_TRYV(exec(c, "BEGIN IMMEDIATE"));
        DBSAFE_TRY(statements, run_statements(c, sql, a.sql_file));
        DBSAFE_TRY(const bool present, migration_table_present(c, policy));
        if (!present) return missing_migration_table(c, policy, "after " + a.sql_file + " ran");
        if (one_transaction) DBSAFE_TRYV(exec(c, "COMMIT"));
        return success();
    });
    if (!guarded) return report(guarded.error());
    auto after = vault.schema.read(db);
    if (!after) return report(after.error());
    const manifest& pre = guarded.value();
    const std::string how =
        one_transaction ? std::string("one transaction")
                        : "statement by statement: " + breaker + " cannot run inside a transaction";
    if (a.common.json) {
        nlohmann::json j = {{"database", json_path(a.database)},
                            {"sql", json_path(a.sql_file)},
                            {"statements", statements},
                            {"transaction", one_transaction ? "single" : "per_statement"},
                            {"schema_policy", vault.schema.name()},
                            {"schema_before", before.value().version},
                            {"schema_after", after.value().version},
                            {"recovered", recovery_json(recovery)},
                            {"pre_migration_backup", manifest_json(pre)}};
        print_json(j);
    } else {
        std::cout << "migrated " << a.database << " with " << a.sql_file << " (" << statements
                  << " statements, " << how << "): " << vault.schema.name() << " "
                  << before.value().describe() << " -> " << after.value().describe() << "\n"
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
    add_dir_option(cmd, args->common.dir, "Backup directory for the pre-migration backup")
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
