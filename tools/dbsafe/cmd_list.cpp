// dbsafe list --dir DIR [--json]
#include <iostream>

#include "backup_dir.hpp"
#include "cli.hpp"

namespace dbsafe::cli {

void add_list_command(CLI::App& app, std::function<int()>& run) {
    auto args = std::make_shared<common_options>();
    auto* cmd = app.add_subcommand("list", "List the backups in a directory, newest first");
    cmd->add_option("--dir", args->dir, "Backup directory")->required();
    cmd->add_flag("--json", args->json, "Print one JSON array of manifests");
    cmd->callback([args, &run] {
        run = [args] {
            if (auto present = require_backup_dir(args->dir); !present) {
                return report(present.error());
            }
            const cli_storage storage{args->dir};
            auto listed = storage.list();
            if (!listed) return report(listed.error());
            const auto& l = listed.value();
            if (args->json) {
                nlohmann::json out = nlohmann::json::array();
                for (const auto& m : l.backups) out.push_back(manifest_json(m));
                std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                          << "\n";
            } else {
                if (l.backups.empty()) std::cout << "no backups in " << args->dir << "\n";
                for (const auto& m : l.backups) std::cout << manifest_line(m) << "\n";
            }
            // Debris and damaged backups are reported, never hidden: a backup was interrupted,
            // or a manifest was damaged or edited. Other files in the directory are not dbsafe's.
            for (const auto& d : l.damaged) {
                std::cerr << "dbsafe: damaged backup: " << d.reason << "\n";
            }
            for (const auto& d : l.leftovers) {
                std::cerr << "dbsafe: debris, not a backup: " << d.path.string() << " (" << d.reason
                          << "); `dbsafe prune` removes it\n";
            }
            return static_cast<int>(exit_code::ok);
        };
    });
}

}  // namespace dbsafe::cli
