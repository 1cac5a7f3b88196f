// dbsafe backup DB --dir DIR [--kind K] [--method backup-api|vacuum] [--verify full|quick|none]
//                  [--require-table NAME]... [--format pages|files] [--compress zstd[:LEVEL]]
//                  [--threads N] [--sha256] [--no-change-cache] [--json]
#include <cstdint>
#include <iostream>
#include <type_traits>

#include "cli.hpp"
#include "units_option.hpp"

namespace dbsafe::cli {
namespace {

struct backup_args {
    std::string database;
    common_options common;
    std::string kind = "manual";
    std::string method = "backup-api";
    std::string verify = "full";
    std::vector<std::string> required;
    double space_factor = 2.0;
    int pages_per_step = 1024;
    int busy_timeout_ms = 10000;
    std::string format;  // "pages" | "files"; empty: the location's configured default, else files
    std::string compress;          // empty: a plain <id>.db; "zstd" or "zstd:LEVEL": <id>.db.zst
    int threads = 0;               // compression workers, 0 = one per core
    bool sha256 = false;           // seal the backup (manifest `seal`), builds with OpenSSL only
    bool no_change_cache = false;  // page backups: hash every page, keep no change cache
};

// The pages of the backup just committed whose address the change cache gave (not hashed
// again). Only the page repository knows it, for its last commit: the manifest does not keep
// it, since it says how this backup was taken, not what it holds.
template <class Storage>
std::uint64_t pages_from_change_cache([[maybe_unused]] const Storage& storage) {
#if defined(DBSAFE_CLI_WITH_PAGES)
    if constexpr (std::is_same_v<Storage, page_repository>) {
        return storage.last_commit().pages_from_cache;
    }
#endif
    return 0;
}

template <class Snapshot, class Storage>
int run_backup(const backup_args& a, Snapshot snapshot, Storage storage, backup_kind kind,
               check_level level) {
    basic_vault<Snapshot, cli_checks, keep_all, Storage> vault{
        .storage = std::move(storage),
        .snapshot = std::move(snapshot),
        .verification = make_cli_checks(
            standard_checks{
                .level = level, .required = a.required, .memory_mapped = checks_memory_mapped()},
            a.sha256, a.sha256),
        .retention = {},
        .options = {.space_factor = a.space_factor,
                    .busy_timeout = std::chrono::milliseconds(a.busy_timeout_ms)}};
    auto made = vault.backup(a.database, {.kind = kind, .on_progress = make_progress_bar()});
    if (!made) return report(made.error());
    const manifest& m = made.value();
    const std::uint64_t from_cache = pages_from_change_cache(vault.storage);
    if (a.common.json) {
        nlohmann::json j = manifest_json(m);
        if (m.pages) j["pages"]["pages_from_cache"] = from_cache;
        print_json(j);
    } else {
        std::cout << "backed up " << a.database << " -> " << m.data_path.string() << "\n"
                  << "  id " << m.id << ", " << to_string(m.kind) << ", "
                  << format_bytes(m.size_bytes) << ", schema " << m.schema_version << ", xxh3-128 "
                  << m.checksum.hex << "\n";
        if (m.seal) std::cout << "  sealed: " << m.seal->algorithm << " " << m.seal->hex << "\n";
        if (m.compression) {
            std::cout << "  " << m.compression->algorithm << " level " << m.compression->level
                      << ": " << format_bytes(m.compression->compressed_size) << "\n";
        }
        if (m.pages) {
            std::cout << "  pages: " << m.page_count << " total, " << m.pages->pages_new << " new, "
                      << format_bytes(m.pages->bytes_added) << " added to the repository, "
                      << from_cache << " from the change cache\n";
        }
        if (verbose_mode()) {
            std::cout << "  method " << m.method << ", from " << m.source_path << ", page size "
                      << m.page_size << ", " << m.page_count << " pages\n";
        }
        std::cout << "  verified (" << a.verify << (a.required.empty() ? "" : " + required tables")
                  << ") in " << format_seconds(m.seconds) << "\n";
    }
    return exit_code::ok;
}

template <class Snapshot>
int run_backup(const backup_args& a, Snapshot snapshot, backup_kind kind, check_level level) {
    // --compress asks for a file; otherwise --format, else what `dbsafe init` chose here.
    bool pages = a.format == "pages";
    if (a.format.empty() && a.compress.empty() && with_pages) {
#if defined(DBSAFE_CLI_WITH_PAGES)
        auto configured = default_format_of(a.common.dir);
        if (!configured) return report(configured.error());
        pages = configured.value() == location_format::pages;
#endif
    }
    // A file backup hashes no pages: the flag would do nothing, which a user measuring or
    // avoiding the cache must not take for its effect.
    if (a.no_change_cache && !pages) {
        const std::string why = !a.compress.empty() ? "--compress writes a file"
                                : a.format == "files"
                                    ? "--format files writes a file"
                                    : "new backups in " + a.common.dir + " are files by default";
        return usage_error("--no-change-cache is for page backups only, and " + why +
                           ": take a page backup (--format pages, without --compress), or drop "
                           "--no-change-cache");
    }
    if (pages) {
#if defined(DBSAFE_CLI_WITH_PAGES)
        return run_backup(
            a, std::move(snapshot),
            page_repository{a.common.dir,
                            {.write_pages = true, .change_cache = !a.no_change_cache}},
            kind, level);
#else
        return report(pages_unavailable("--format pages"));
#endif
    }
    if (a.compress.empty()) {
        return run_backup(a, std::move(snapshot), local_directory{a.common.dir}, kind, level);
    }
#if defined(DBSAFE_CLI_WITH_ZSTD)
    const int compress_level = a.compress == "zstd" ? 3 : std::stoi(a.compress.substr(5));
    return run_backup(a, std::move(snapshot),
                      zstd_archive{a.common.dir, {.level = compress_level, .threads = a.threads}},
                      kind, level);
#else
    return report(error(errc::unsupported,
                        "this dbsafe was built without the zstd backend: --compress is not "
                        "available (rebuild with libzstd, -DDBSAFE_WITH_ZSTD=ON)"));
#endif
}

}  // namespace

void add_backup_command(CLI::App& app, std::function<int()>& run) {
    auto args = std::make_shared<backup_args>();
    auto* cmd = app.add_subcommand("backup", "Take a verified backup of a live database");
    cmd->add_option("database", args->database, "The SQLite database file")->required();
    add_dir_option(cmd, args->common.dir, "Backup directory (created 0700 when missing)")
        ->required();
    cmd->add_option("--kind", args->kind, "manual | pre_migration | safety")
        ->check(CLI::IsMember({"manual", "pre_migration", "safety"}));
    cmd->add_option("--method", args->method, "backup-api (default) | vacuum (compacted copy)")
        ->check(CLI::IsMember({"backup-api", "vacuum"}));
    cmd->add_option("--verify", args->verify,
                    "full (integrity_check, default) | quick (quick_check) | none; the checksum "
                    "and required tables are always checked")
        ->check(CLI::IsMember({"full", "quick", "none"}));
    cmd->add_option("--require-table", args->required, "A table the backup must contain");
    cmd->add_option("--space-factor", args->space_factor,
                    "Free space required, in multiples of database + WAL (default 2, 0 = off)")
        ->check(finite_range(0.0, 100.0));
    cmd->add_option("--pages-per-step", args->pages_per_step,
                    "Pages copied per backup step (-1 = all at once)");
    cmd->add_option("--busy-timeout", args->busy_timeout_ms,
                    "Milliseconds to wait for a locked database (default 10000)")
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--format", args->format,
                    "pages (store only the pages no backup here holds yet) | files (one file "
                    "per backup); default: what `dbsafe init` chose for --dir, else files")
        ->check(CLI::IsMember({"pages", "files"}));
    cmd->add_option("--compress", args->compress,
                    "zstd[:LEVEL]: store a zstd archive <id>.db.zst (level 1-19, default 3)")
        ->check([](const std::string& v) -> std::string {
            if (v == "zstd") return {};
            if (v.starts_with("zstd:") && v.size() > 5 && v.size() <= 7 &&
                v.find_first_not_of("0123456789", 5) == std::string::npos) {
                const int n = std::stoi(v.substr(5));
                if (n >= 1 && n <= 19) return {};
            }
            return "--compress takes zstd or zstd:LEVEL with LEVEL 1-19, not '" + v + "'";
        });
    cmd->add_option("--threads", args->threads,
                    "Compression threads for --compress (default 0 = one per core)")
        ->check(CLI::Range(0, 256));
    cmd->add_flag("--sha256", args->sha256,
                  "Seal the backup: record its SHA-256 in the manifest (tamper evidence, checked "
                  "by verify); needs a build with OpenSSL");
    cmd->add_flag("--no-change-cache", args->no_change_cache,
                  "Page backups: hash every page instead of taking the unchanged pages' addresses "
                  "from the change cache, and write no cache");
    cmd->add_flag("--json", args->common.json, "Print the manifest as one JSON line");
    cmd->callback([args, &run] {
        run = [args] {
            set_invocation(
                {.command = "backup", .database = args->database, .dir = args->common.dir});
            if (args->sha256 && !with_sha256) return report(sha256_unavailable("--sha256"));
            if (args->no_change_cache && !with_pages) {
                return report(pages_unavailable("--no-change-cache"));
            }
            if (args->format == "pages" && !args->compress.empty()) {
                return usage_error(
                    "--compress and --format pages do not go together: page snapshots are "
                    "always zstd-compressed in the repository; drop --compress, or use "
                    "--format files for a single compressed file");
            }
            check_level level{};
            parse_check_level(args->verify, level);
            const backup_kind kind = *parse_backup_kind(args->kind);
            if (args->method == "vacuum") return run_backup(*args, vacuum_into{}, kind, level);
            return run_backup(*args, online_backup{.pages_per_step = args->pages_per_step}, kind,
                              level);
        };
    });
}

}  // namespace dbsafe::cli
