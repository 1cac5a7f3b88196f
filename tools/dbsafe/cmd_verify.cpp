// dbsafe verify --dir DIR [ID|PREFIX|latest...] [--check full|quick] [--full-check]
//               [--require-seal] [--read-data] [--json]
// dbsafe verify --file PATH [--check full|quick] [--full-check] [--require-seal] [--json]
// In builds with OpenSSL a manifest's SHA-256 seal is checked whenever it has one.
#include <iostream>

#include "backup_dir.hpp"
#include "cli.hpp"
#include "id_choice.hpp"
#include "units_option.hpp"

namespace dbsafe::cli {
namespace {

struct verify_args {
    common_options common;
    std::vector<std::string> ids;
    std::string file;
    std::string check = "full";
    std::vector<std::string> required;
    bool require_seal = false;
    bool full_check = false;
    bool read_data = false;  // the page repository's check reads every page it holds
};

nlohmann::json verdict(const std::string& id, const std::string& path, const result<void>& r) {
    nlohmann::json j = {{"id", id}, {"path", json_path(path)}, {"ok", static_cast<bool>(r)}};
    if (!r) {
        j["error"] = r.error().message;
        j["code"] = r.error().code.message();
    }
    return j;
}

int run_verify(const verify_args& a) {
    set_invocation({.command = "verify",
                    .dir = a.common.dir,
                    .id = a.ids.size() == 1 ? a.ids.front() : std::string()});
    check_level level{};
    parse_check_level(a.check, level);
    if (a.require_seal && !with_sha256) return report(sha256_unavailable("--require-seal"));
    const standard_checks checks{.level = level,
                                 .required = a.required,
                                 .memory_mapped = checks_memory_mapped(),
                                 .full_check = a.full_check};
    // Which SQLite check this run applied to a backup: the JSON says so, since a backup
    // verified at creation is re-hashed, not re-checked (standard_checks.hpp).
    const auto sqlite_check = [&](const std::string& path, const manifest* m) {
        if (checks.relies_on_creation_check(backup_file{path, m})) {
            return "relied on " + m->verified->checks + " at creation, " +
                   format_iso8601(m->verified->at);
        }
        return checks.attested_checks();
    };
    const basic_vault<online_backup, cli_checks, keep_all, cli_storage> vault{
        .storage = cli_storage{a.common.dir},
        .snapshot = {},
        .verification = make_cli_checks(checks, false, a.require_seal),
        .retention = {},
        .options = {}};
    // Each backup's checksum and check, drawn while they run and erased once done: the result
    // lines are what stays.
    const progress_callback progress_bar = make_progress_bar(progress_display::transient);
    nlohmann::json results = nlohmann::json::array();
    nlohmann::json debris_found = nlohmann::json::array();
    nlohmann::json repository = nullptr;  // the page repository's check, when there is one
    bool all_ok = true;
    const auto record = [&](const std::string& id, const std::string& path, const result<void>& r,
                            const manifest* m = nullptr) {
        all_ok = all_ok && static_cast<bool>(r);
        results.push_back(verdict(id, path, r));
        if (r) results.back()["sqlite_check"] = sqlite_check(path, m);
        if (!a.common.json) {
            if (r)
                std::cout << "ok      " << (id.empty() ? path : id)
                          << (verbose_mode()
                                  ? "  (" + results.back()["sqlite_check"].get<std::string>() + ")"
                                  : std::string())
                          << "\n";
            else
                std::cout << "FAILED  " << (id.empty() ? path : id) << ": " << r.error().message
                          << "\n";
        }
    };

    if (!a.file.empty()) {
        // A lone file: use its manifest when one stands beside it (<id>.json), so the checksum
        // is checked too.
        const std::filesystem::path file(a.file);
        const std::string stem =
            file.filename().string().substr(0, file.filename().string().find(".db"));
        const local_directory beside{file.has_parent_path() ? file.parent_path() : "."};
        auto m = validate_id(stem) ? beside.load_manifest(stem) : result<manifest>(error{});
        if (m && m.value().file == file.filename().string() && m.value().compression) {
            // An archive: verify what it decompresses to (cli_storage reads both formats).
            const cli_storage storage{beside.location()};
            auto opened = open_with_progress(storage, stem, progress_bar);
            record(stem, a.file,
                   opened
                       ? vault.verification.verify(backup_file{
                             opened.value().path, &opened.value().description, false, progress_bar})
                       : result<void>(opened.error()),
                   &m.value());
        } else if (m && m.value().file == file.filename().string()) {
            record(stem, a.file,
                   vault.verification.verify(backup_file{a.file, &m.value(), false, progress_bar}),
                   &m.value());
        } else {
            record("", a.file, vault.verify_file(a.file, progress_bar));
        }
    } else {
        if (auto present = require_backup_dir(a.common.dir); !present) {
            return report(present.error());
        }
        std::vector<std::string> ids;
        if (!a.ids.empty()) {
            // Starts of ids and `latest` (id_choice.hpp) become whole ids; one that names no
            // backup, or several, fails as a backup would.
            std::optional<listing> listed;
            for (const auto& text : a.ids) {
                if (validate_id(text)) {
                    ids.push_back(text);
                    continue;
                }
                if (!listed) {
                    auto l = vault.list();
                    if (!l) return report(l.error());
                    listed = std::move(l).value();
                }
                auto found = resolve_listed_id(*listed, text, a.common.dir);
                if (found) {
                    ids.push_back(found.value());
                } else {
                    record(text, (std::filesystem::path(a.common.dir) / text).string(),
                           found.error());
                }
            }
        } else {
            auto listed = vault.list();
            if (!listed) return report(listed.error());
            for (const auto& m : listed.value().backups) ids.push_back(m.id);
            // A damaged backup fails (its manifest cannot be trusted); debris is no backup at
            // all: a note, never a failure.
            for (const auto& d : listed.value().damaged) {
                record(d.path.stem().string(), d.path.string(),
                       error(errc::invalid_manifest, d.reason));
            }
            for (const auto& d : listed.value().leftovers) {
                debris_found.push_back({{"path", d.path.string()}, {"reason", d.reason}});
                print_note("debris, not a backup: " + d.path.string() + " (" + d.reason +
                           "); `dbsafe prune` removes it");
            }
            if (ids.empty() && listed.value().damaged.empty() && !a.common.json) {
                std::cout << "no backups in " << a.common.dir << "\n";
            }
        }
#if defined(DBSAFE_CLI_WITH_PAGES)
        // The repository the page snapshots share, checked as a whole: a damaged pack, index
        // or list is named with the backups it makes unrestorable, even those not listed.
        // Always its structure (no page read) when verifying the whole directory; with
        // --read-data every page is read, decompressed and hashed.
        if ((a.ids.empty() || a.read_data) &&
            std::filesystem::exists(std::filesystem::path(a.common.dir) / "pages")) {
            auto checked =
                vault.storage.check(a.read_data ? check_depth::read_data : check_depth::structure);
            if (!checked) return report(checked.error());
            const check_report& c = checked.value();
            nlohmann::json problems = nlohmann::json::array();
            for (const auto& p : c.problems) {
                problems.push_back(
                    {{"object", p.object}, {"what", p.what}, {"snapshots", p.snapshots}});
                if (!a.common.json) {
                    std::cout << "FAILED  repository: " << p.object << ": " << p.what;
                    if (!p.snapshots.empty()) {
                        std::cout << " (affects";
                        for (const auto& id : p.snapshots) std::cout << " " << id;
                        std::cout << ")";
                    }
                    std::cout << "\n";
                }
            }
            all_ok = all_ok && c.ok();
            repository = {{"depth", std::string(to_string(c.depth))},
                          {"ok", c.ok()},
                          {"snapshots", c.snapshots},
                          {"packs", c.packs},
                          {"pages", c.pages},
                          {"pages_read", c.pages_read},
                          {"problems", problems}};
            if (c.ok() && !a.common.json) {
                std::cout << "ok      repository (" << to_string(c.depth) << "): " << c.snapshots
                          << " page snapshots, " << c.packs << " packs, " << c.pages << " pages"
                          << (a.read_data ? ", " + std::to_string(c.pages_read) + " read" : "")
                          << "\n";
            }
        }
#endif
        for (const auto& id : ids) {
            auto r = vault.verify(id, progress_bar);
            const std::string path = r ? r.value().data_path.string()
                                       : (std::filesystem::path(a.common.dir) / id).string();
            record(id, path, r ? result<void>(success()) : result<void>(r.error()),
                   r ? &r.value() : nullptr);
        }
    }
    if (a.common.json) {
        print_json({{"backups", results}, {"debris", debris_found}, {"repository", repository}});
    }
    if (!all_ok && !a.common.json) {
        std::cerr << "dbsafe: verification failed: do not restore the backups marked FAILED\n";
    }
    return all_ok ? exit_code::ok : exit_code::failed;
}

}  // namespace

void add_verify_command(CLI::App& app, std::function<int()>& run) {
    auto args = std::make_shared<verify_args>();
    auto* cmd = app.add_subcommand(
        "verify", "Re-check backups (checksum, SHA-256 seal if built with OpenSSL, SQLite checks)");
    // Not add_dir_option: --dir and --file exclude each other, so DBSAFE_DIR is taken in the
    // callback below, only when neither is given.
    auto* dir = cmd->add_option("--dir", args->common.dir,
                                "Backup directory (default: $DBSAFE_DIR, unless --file)");
    cmd->add_option("ids", args->ids,
                    "Backup ids, starts of ids only one backup has, or latest (the newest); "
                    "default: every backup in --dir")
        ->check(id_or_prefix_validator());
    auto* file = cmd->add_option("--file", args->file, "Verify one SQLite file instead");
    dir->excludes(file);
    cmd->add_option("--check", args->check, "full (integrity_check, default) | quick")
        ->check(CLI::IsMember({"full", "quick"}));
    cmd->add_option("--require-table", args->required, "A table every backup must contain");
    cmd->add_flag("--full-check", args->full_check,
                  "Run the SQLite check even on backups that passed it at creation (by default "
                  "those whose checksum still matches are re-hashed, not re-checked)");
    cmd->add_flag("--require-seal", args->require_seal,
                  "Fail backups without a SHA-256 seal (seals are checked whenever present); "
                  "needs a build with OpenSSL");
    cmd->add_flag(
        "--read-data", args->read_data,
        "Also read, decompress and hash every page of the directory's page repository (its "
        "structure is checked whenever the whole directory is verified)");
    cmd->add_flag("--json", args->common.json,
                  "Print one JSON object: {\"backups\": [verdicts], \"debris\": [..], "
                  "\"repository\": {check} or null}");
    cmd->callback([args, &run] {
        if (args->common.dir.empty() && args->file.empty()) {
            const char* from_env = std::getenv(dir_variable);
            if (from_env == nullptr || *from_env == '\0') {
                throw CLI::RequiredError("--dir or --file");
            }
            args->common.dir = from_env;
        }
        if (!args->file.empty() && (!args->ids.empty() || args->read_data)) {
            throw CLI::ValidationError(args->ids.empty() ? "--read-data" : "ids",
                                       "backup ids and --read-data need --dir, not --file");
        }
        if (args->read_data && !with_pages) {
            run = [] { return report(pages_unavailable("--read-data")); };
            return;
        }
        run = [args] { return run_verify(*args); };
    });
}

}  // namespace dbsafe::cli
