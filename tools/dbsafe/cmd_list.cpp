// dbsafe list --dir DIR [--db PATH] [--kind K]... [--last N] [--json]
#include <algorithm>
#include <chrono>
#include <iostream>

#include "backup_dir.hpp"
#include "cli.hpp"
#include "units_option.hpp"

namespace dbsafe::cli {

struct list_args : common_options {
    std::string db;                  // only the backups of this database
    std::vector<std::string> kinds;  // only backups of these kinds
    std::size_t last = 0;            // only the N newest of those (0: all)
};

// How long ago, as a person scans a column: "42 s", "5 min", "3 h", "12 d".
std::string format_age(std::chrono::system_clock::time_point created,
                       std::chrono::system_clock::time_point now) {
    const auto s = std::chrono::duration_cast<std::chrono::seconds>(now - created).count();
    if (s < 0) return "future";  // a clock set back since: the column says so, not "-5 s"
    if (s < 60) return std::to_string(s) + " s";
    if (s < 3600) return std::to_string(s / 60) + " min";
    if (s < 48 * 3600) return std::to_string(s / 3600) + " h";
    return std::to_string(s / 86400) + " d";
}

// The table `list` prints: a header, then one row per backup, newest first, columns padded to
// their widest cell. The id comes first, so `cut -d' ' -f1` still gives the ids.
void print_table(const std::vector<manifest>& backups) {
    const auto now = std::chrono::system_clock::now();
    std::vector<std::vector<std::string>> rows{
        {"ID", "AGE", "KIND", "SIZE", "FORMAT", "VERIFIED", "SOURCE"}};
    for (const auto& m : backups) {
        const std::string format = m.pages         ? "pages"
                                   : m.compression ? m.compression->algorithm
                                                   : "file";
        std::string source = m.source_path;
        if (m.pages) {
            source += "  (pages " + std::to_string(m.pages->pages_new) + "/" +
                      std::to_string(m.page_count) + " new, +" +
                      format_bytes(m.pages->bytes_added) + ")";
        }
        rows.push_back({m.id, format_age(m.created_at, now), std::string(to_string(m.kind)),
                        format_bytes(m.size_bytes), format, m.verified ? m.verified->checks : "no",
                        source});
    }
    std::vector<std::size_t> width(rows.front().size(), 0);
    for (const auto& r : rows) {
        for (std::size_t c = 0; c < r.size(); ++c) width[c] = std::max(width[c], r[c].size());
    }
    for (const auto& r : rows) {
        std::string line;
        for (std::size_t c = 0; c < r.size(); ++c) {
            line += r[c];
            if (c + 1 < r.size()) line += std::string(width[c] - r[c].size() + 2, ' ');
        }
        std::cout << line << "\n";
    }
}

// --kind and --last, after --db: the N newest of the kinds asked for.
void keep_asked_for(listing& l, const list_args& a) {
    if (!a.kinds.empty()) {
        std::erase_if(l.backups, [&](const manifest& m) {
            return std::find(a.kinds.begin(), a.kinds.end(), to_string(m.kind)) == a.kinds.end();
        });
    }
    if (a.last != 0 && l.backups.size() > a.last) l.backups.resize(a.last);  // newest first
}

void add_list_command(CLI::App& app, std::function<int()>& run) {
    auto args = std::make_shared<list_args>();
    auto* cmd = app.add_subcommand("list", "List the backups in a directory, newest first");
    add_dir_option(cmd, args->dir, "Backup directory")->required();
    cmd->add_option("--db", args->db, "Only the backups of this database (its path)");
    cmd->add_option("--kind", args->kinds,
                    "Only backups of this kind (manual | pre_migration | safety; repeatable)")
        ->check(kind_validator());
    cmd->add_option("--last", args->last, "Only the N newest (after --db and --kind)")
        ->check(CLI::Range(std::size_t{1}, std::size_t{1'000'000}));
    cmd->add_flag("--json", args->json, "Print one JSON array of manifests");
    cmd->callback([args, &run] {
        run = [args] {
            set_invocation({.command = "list", .dir = args->dir});
            if (auto present = require_backup_dir(args->dir); !present) {
                return report(present.error());
            }
            const cli_storage storage{args->dir};
            auto listed = storage.list();
            if (!listed) return report(listed.error());
            auto& l = listed.value();
            if (!args->db.empty()) keep_backups_of(l, args->db);
            keep_asked_for(l, *args);
            if (args->json) {
                nlohmann::json out = nlohmann::json::array();
                for (const auto& m : l.backups) out.push_back(manifest_json(m));
                print_json(out);
            } else {
                if (l.backups.empty()) {
                    std::cout << "no backups" << (args->db.empty() ? "" : " of " + args->db)
                              << (args->kinds.empty() ? "" : " of the kinds asked for") << " in "
                              << args->dir << "\n";
                }
                if (!l.backups.empty()) print_table(l.backups);
            }
            // Debris and damaged backups are reported, never hidden: a backup was interrupted,
            // or a manifest was damaged or edited. Other files in the directory are not dbsafe's.
            for (const auto& d : l.damaged) {
                print_note("damaged backup: " + d.reason);
            }
            for (const auto& d : l.leftovers) {
                print_note("debris, not a backup: " + d.path.string() + " (" + d.reason +
                           "); `dbsafe prune` removes it");
            }
            return static_cast<int>(exit_code::ok);
        };
    });
}

}  // namespace dbsafe::cli
