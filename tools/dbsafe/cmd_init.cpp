// dbsafe init --dir DIR --format pages|files [--json]
// Chooses the format new backups in DIR take when `backup` is given no --format: written once
// to DIR/pages/config.json, so every later backup, safety backup and pre-migration backup there
// follows it without a flag.
#include <iostream>

#include "cli.hpp"

namespace dbsafe::cli {
namespace {

struct init_args {
    common_options common;
    std::string format;
};

int run_init(const init_args& a) {
    set_invocation({.command = "init", .dir = a.common.dir});
#if defined(DBSAFE_CLI_WITH_PAGES)
    const location_format format =
        a.format == "pages" ? location_format::pages : location_format::files;
    if (auto made = page_repository::init(a.common.dir, format); !made) {
        return report(made.error());
    }
    const auto config = (std::filesystem::path(a.common.dir) / "pages" / "config.json").string();
    if (a.common.json) {
        print_json({{"dir", json_path(a.common.dir)},
                    {"format", a.format},
                    {"config", json_path(config)}});
    } else {
        std::cout << "initialized " << a.common.dir << ": new backups are "
                  << (format == location_format::pages ? "page snapshots (only the pages no "
                                                         "backup here holds yet are stored)"
                                                       : "files (one per backup)")
                  << "\n  config " << config << "; `backup --format` still chooses per backup\n";
    }
    return exit_code::ok;
#else
    return report(pages_unavailable("dbsafe init"));
#endif
}

}  // namespace

void add_init_command(CLI::App& app, std::function<int()>& run) {
    auto args = std::make_shared<init_args>();
    auto* cmd = app.add_subcommand(
        "init", "Choose the format of new backups in a directory (pages: deduplicated)");
    add_dir_option(cmd, args->common.dir, "Backup directory (created 0700 when missing)")
        ->required();
    cmd->add_option("--format", args->format,
                    "pages (each backup stores only the pages that changed) | files (one file "
                    "per backup)")
        ->required()
        ->check(CLI::IsMember({"pages", "files"}));
    cmd->add_flag("--json", args->common.json, "Print one JSON object");
    cmd->callback([args, &run] { run = [args] { return run_init(*args); }; });
}

}  // namespace dbsafe::cli
