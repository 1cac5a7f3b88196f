// dbsafe diff --dir DIR ID1 ID2 [--json]: what differs between two backups, table by table:
// tables only one of them has, and row counts that differ (plus schema version and size).
// Both are read as restore reads them (a compressed or page backup through a temporary copy),
// each checked against its manifest's checksum first, read-only; the backups never change.
#include <iostream>
#include <map>
#include <optional>

#include "backup_dir.hpp"
#include "cli.hpp"
#include "id_choice.hpp"

namespace dbsafe::cli {
namespace {

struct diff_args {
    common_options common;
    std::string from;
    std::string to;
};

struct backup_tables {
    manifest description;
    std::map<std::string, std::int64_t> rows;  // table -> row count
};

// A table name as an SQL identifier: "name", with " doubled.
std::string quoted_identifier(const std::string& name) {
    std::string q = "\"";
    for (const char c : name) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
}

result<backup_tables> read_tables(const cli_storage& storage, const std::string& id) {
    DBSAFE_TRY(readable_backup opened, storage.open(id));
    // A temporary copy (decompressed, rebuilt from pages) was checked against the manifest's
    // checksum by open() as it was written: hashing it again would only re-read it.
    DBSAFE_TRYV(checksum_matches{}.verify(backup_file{.path = opened.path,
                                                      .description = &opened.description,
                                                      .checksum_fresh = opened.movable()}));
    DBSAFE_TRY(auto db, open_and_probe(opened.path.string(), open_mode::read_only));
    backup_tables out{opened.description, {}};
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db.get(),
                           "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT "
                           "LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
                           -1, &st, nullptr) != SQLITE_OK) {
        sqlite3_finalize(st);
        return error(errc::not_a_database,
                     "cannot list the tables of backup " + id + ": " + sqlite3_errmsg(db.get()),
                     opened.path.string());
    }
    std::vector<std::string> names;
    while (sqlite3_step(st) == SQLITE_ROW) {
        names.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
    }
    sqlite3_finalize(st);
    for (const auto& name : names) {
        DBSAFE_TRY(const auto n,
                   query_int(db.get(), "SELECT count(*) FROM " + quoted_identifier(name)));
        out.rows[name] = n;
    }
    return out;
}

int run_diff(const diff_args& a) {
    set_invocation({.command = "diff", .dir = a.common.dir});
    if (auto present = require_backup_dir(a.common.dir); !present) return report(present.error());
    const cli_storage storage{a.common.dir};
    auto listed = storage.list();
    if (!listed) return report(listed.error());
    std::string ids[2] = {a.from, a.to};
    for (auto& id : ids) {
        auto found = resolve_listed_id(listed.value(), id, a.common.dir);
        if (!found) return report(found.error());
        id = found.value();
    }
    auto from = read_tables(storage, ids[0]);
    if (!from) return report(from.error());
    auto to = read_tables(storage, ids[1]);
    if (!to) return report(to.error());

    std::map<std::string, std::pair<std::optional<std::int64_t>, std::optional<std::int64_t>>> all;
    for (const auto& [name, n] : from.value().rows) all[name].first = n;
    for (const auto& [name, n] : to.value().rows) all[name].second = n;
    nlohmann::json tables = nlohmann::json::array();
    std::size_t same = 0;
    std::vector<std::string> lines;
    for (const auto& [name, counts] : all) {
        const auto& [before, after] = counts;
        if (before && after && *before == *after) {
            ++same;
            continue;
        }
        const auto value = [](const std::optional<std::int64_t>& n) {
            return n ? nlohmann::json(*n) : nlohmann::json(nullptr);
        };
        tables.push_back({{"name", name}, {"from", value(before)}, {"to", value(after)}});
        if (!before) {
            lines.push_back("+ " + name + ": only in the second, " + std::to_string(*after) +
                            " rows");
        } else if (!after) {
            lines.push_back("- " + name + ": only in the first, " + std::to_string(*before) +
                            " rows");
        } else {
            const auto change = *after - *before;
            lines.push_back("~ " + name + ": " + std::to_string(*before) + " -> " +
                            std::to_string(*after) + " rows (" + (change > 0 ? "+" : "") +
                            std::to_string(change) + ")");
        }
    }
    const manifest& m1 = from.value().description;
    const manifest& m2 = to.value().description;
    if (a.common.json) {
        print_json({{"from", manifest_json(m1)},
                    {"to", manifest_json(m2)},
                    {"tables", tables},
                    {"tables_unchanged", same}});
        return exit_code::ok;
    }
    std::cout << "from " << m1.id << " (schema " << m1.schema_version << ", "
              << format_bytes(m1.size_bytes) << ")\n"
              << "to   " << m2.id << " (schema " << m2.schema_version << ", "
              << format_bytes(m2.size_bytes) << ")\n";
    for (const auto& l : lines) std::cout << l << "\n";
    if (lines.empty()) std::cout << "no table or row count differs; ";
    std::cout << same << " table" << (same == 1 ? "" : "s") << " with the same row count\n";
    return exit_code::ok;
}

}  // namespace

void add_diff_command(CLI::App& app, std::function<int()>& run) {
    auto args = std::make_shared<diff_args>();
    auto* cmd = app.add_subcommand(
        "diff", "What differs between two backups: tables only one has, row counts that differ");
    add_dir_option(cmd, args->common.dir, "Backup directory")->required();
    cmd->add_option("from", args->from, "The first backup: id, start of an id, or latest")
        ->required()
        ->check(id_or_prefix_validator());
    cmd->add_option("to", args->to, "The second backup: id, start of an id, or latest")
        ->required()
        ->check(id_or_prefix_validator());
    cmd->add_flag("--json", args->common.json,
                  "Print one JSON object: {\"from\": manifest, \"to\": manifest, \"tables\": "
                  "[{\"name\", \"from\", \"to\"}], \"tables_unchanged\"}");
    cmd->callback([args, &run] { run = [args] { return run_diff(*args); }; });
}

}  // namespace dbsafe::cli
