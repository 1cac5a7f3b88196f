// dbsafe stats --dir DIR [--json]
// What the page repository in DIR holds: its size on disk, the unique pages, how much the
// page snapshots share (deduplication ratio) and what the same backups would take as files.
#include <iostream>

#include "backup_dir.hpp"
#include "cli.hpp"

namespace dbsafe::cli {
namespace {

int run_stats(const common_options& a) {
    set_invocation({.command = "stats", .dir = a.dir});
    if (auto present = require_backup_dir(a.dir); !present) return report(present.error());
#if defined(DBSAFE_CLI_WITH_PAGES)
    const page_repository repository{a.dir};
    auto stats = repository.stats();
    if (!stats) return report(stats.error());
    const repository_stats& s = stats.value();
    auto format = page_repository::configured_format(a.dir);
    if (!format) return report(format.error());
    const std::string default_format = format.value() == location_format::pages ? "pages" : "files";
    if (a.json) {
        print_json({{"dir", json_path(a.dir)},
                    {"default_format", default_format},
                    {"snapshots", s.snapshots},
                    {"packs", s.packs},
                    {"unique_pages", s.unique_pages},
                    {"stored_bytes", s.stored_bytes},
                    {"logical_bytes", s.logical_bytes},
                    {"plain_equivalent_bytes", s.plain_equivalent_bytes},
                    {"dedup_ratio", s.dedup_ratio}});
    } else {
        std::cout << a.dir << ": " << s.snapshots << " page snapshot"
                  << (s.snapshots == 1 ? "" : "s") << " (new backups: " << default_format << ")\n"
                  << "  repository size     " << format_bytes(s.stored_bytes)
                  << " (packs, index, page lists, snapshot objects)\n"
                  << "  unique pages        " << s.unique_pages << " in " << s.packs << " pack"
                  << (s.packs == 1 ? "" : "s") << "\n"
                  << "  snapshots' size     " << format_bytes(s.logical_bytes) << "\n";
        std::cout << "  deduplication       ";
        if (s.stored_bytes == 0) {
            std::cout << "-\n";
        } else {
            std::cout << std::fixed;
            std::cout.precision(1);
            std::cout << s.dedup_ratio << "x\n";
        }
        std::cout << "  as plain files      " << format_bytes(s.plain_equivalent_bytes)
                  << " (every backup here as a plain <id>.db)\n";
    }
    return exit_code::ok;
#else
    return report(pages_unavailable("dbsafe stats"));
#endif
}

}  // namespace

void add_stats_command(CLI::App& app, std::function<int()>& run) {
    auto args = std::make_shared<common_options>();
    auto* cmd = app.add_subcommand(
        "stats", "Size, unique pages and deduplication of a directory's page repository");
    add_dir_option(cmd, args->dir, "Backup directory")->required();
    cmd->add_flag("--json", args->json, "Print one JSON object");
    cmd->callback([args, &run] { run = [args] { return run_stats(*args); }; });
}

}  // namespace dbsafe::cli
