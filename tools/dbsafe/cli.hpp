// Shared plumbing of the dbsafe commands: exit codes, error printing, JSON output, the
// progress bar, and the vault the flags describe.
#pragma once

#include <CLI/CLI.hpp>
#include <dbsafe/dbsafe.hpp>
#if defined(DBSAFE_CLI_WITH_ZSTD)
#include <dbsafe/backends/zstd_archive.hpp>
#endif
#if defined(DBSAFE_CLI_WITH_SHA256)
#include <dbsafe/backends/sha256_seal.hpp>
#endif
#if defined(DBSAFE_CLI_WITH_PAGES)
#include <dbsafe/backends/page_repository.hpp>
#endif
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_hint.hpp"

namespace dbsafe::cli {

enum exit_code : int { ok = 0, failed = 1, usage = 2 };

// Options every command that touches a backup directory shares.
struct common_options {
    std::string dir;
    bool json = false;
};

// --dir, taken from the environment's DBSAFE_DIR when the command line has none (a flag wins
// over the environment): a user who always backs up to one place sets it once.
inline constexpr const char* dir_variable = "DBSAFE_DIR";
// The configuration file's path when --config does not give one (config_file.cpp).
inline constexpr const char* config_variable = "DBSAFE_CONFIG";
inline CLI::Option* add_dir_option(CLI::App* cmd, std::string& dir, const std::string& what) {
    return cmd->add_option("--dir", dir, what + " (default: $DBSAFE_DIR)")->envname(dir_variable);
}

// --json: every command prints exactly one JSON document on stdout, on success and on failure.
// main() switches it on when `--json` is on the command line, before anything runs.
void set_json_mode(bool on);
bool json_mode();
// -q / --quiet and -v / --verbose, set while the command line is parsed (every command has
// them). Quiet: no text on stdout (JSON still printed), no progress, no notes; errors still go
// to stderr. Verbose: commands add lines saying how the work was done.
bool quiet_mode();
bool verbose_mode();

// "dbsafe: <message>" on stderr, for what is not an error (debris found, ...); not with -q.
void print_note(const std::string& message);

// Prints a command's JSON document on stdout (absolute paths, invalid UTF-8 replaced); a
// command calls it once.
void print_json(const nlohmann::json& j);

// A path as JSON shows it: absolute (made so without resolving symlinks).
std::string json_path(const std::string& p);

// Prints "dbsafe: <message>" on stderr, then "dbsafe: hint: <command>" when cli_hint() has one
// for it, and, in --json mode when the command printed no document yet, {"error": {"code",
// "message", "path"[, "hint"][, "cause"]}} on stdout. Returns exit_code::usage for a
// malformed backup id (a typing error, like any other bad flag value), else exit_code::failed.
int report(const dbsafe::error& e);

// A usage error found after parsing (exit 2), reported like report() with code "usage".
int usage_error(const std::string& message);

// The storage every command reads a backup directory through. With the page repository built
// it is page_repository, which reads page snapshots `<id>.pages`, plain `<id>.db` and zstd
// `<id>.db.zst` backups alike; else zstd_archive (plain and zstd), else local_directory. Each
// lists, removes and sweeps debris exactly as local_directory does. `backup` chooses the format
// of the backups it writes (--format, --compress, the location's configured default).
#if defined(DBSAFE_CLI_WITH_PAGES)
inline constexpr bool with_pages = true;
using cli_storage = page_repository;
// The format new backups in `dir` take when no flag chooses: the one `dbsafe init` configured
// there, else files. A repository config this dbsafe cannot read is an error (upgrade dbsafe).
inline result<location_format> default_format_of(const std::string& dir) {
    DBSAFE_TRY(const auto configured, page_repository::configured_format(dir));
    return configured.value_or(location_format::files);
}
// Reads every format; writes the location's default format, and files uncompressed: restore's
// safety and migrate's pre-migration backups cost no compression, and in a location set up for
// pages they cost only the pages that changed.
inline cli_storage plain_writing_storage(const std::string& dir) {
    auto format = default_format_of(dir);
    return page_repository{dir,
                           {.write_pages = format && format.value() == location_format::pages,
                            .files = {.level = 0, .threads = 0, .scratch = {}}}};
}
#elif defined(DBSAFE_CLI_WITH_ZSTD)
inline constexpr bool with_pages = false;
using cli_storage = zstd_archive;
// Reads both formats, writes plain backups: restore's safety and migrate's pre-migration
// backups stay uncompressed, so taking them (and recovering from them) costs no compression.
inline cli_storage plain_writing_storage(const std::string& dir) {
    return zstd_archive{dir, {.level = 0, .threads = 0, .scratch = {}}};
}
#else
inline constexpr bool with_pages = false;
using cli_storage = local_directory;
inline cli_storage plain_writing_storage(const std::string& dir) { return local_directory{dir}; }
#endif

// What a page-repository command or flag says in a build without it (exit 1).
inline error pages_unavailable(const std::string& what) {
    return error(errc::unsupported,
                 "this dbsafe was built without the page repository: " + what +
                     " is not available (install libzstd-dev and libssl-dev, and rebuild with "
                     "-DDBSAFE_WITH_PAGES=ON)");
}

// The tool's SQLite checks read backups through a memory map (twice as fast; see
// verify/sqlite_checks.hpp); main() turns a SIGBUS into an error. DBSAFE_NO_MMAP=1 reads them
// page by page, so a disk's read error comes back as SQLite's message for the file.
inline bool checks_memory_mapped() {
    const char* off = std::getenv("DBSAFE_NO_MMAP");
    return off == nullptr || *off == '\0' || *off == '0';
}

// The checks `backup` and `verify` run: standard_checks, plus, in builds with OpenSSL, the
// SHA-256 seal, checked wherever a manifest carries one. `seal_new` (backup --sha256) records
// a seal on new backups; `require_seal` (verify --require-seal) fails backups without one.
#if defined(DBSAFE_CLI_WITH_SHA256)
inline constexpr bool with_sha256 = true;
// sha256_seal with its recording switched at run time, so one vault type serves both.
struct cli_seal {
    bool seal_new = false;
    sha256_seal check{};
    [[nodiscard]] result<void> record(const std::filesystem::path& f, manifest& m) const {
        return seal_new ? check.record(f, m) : success();
    }
    [[nodiscard]] result<void> verify(const backup_file& f) const { return check.verify(f); }
    // A seal is taken from the file; without one to record or require there is nothing to do.
    [[nodiscard]] bool needs_file_of_fresh_snapshot() const {
        return seal_new || check.require_seal;
    }
};
using cli_checks = all_of<standard_checks, cli_seal>;
inline cli_checks make_cli_checks(standard_checks base, bool seal_new, bool require_seal) {
    return cli_checks(std::move(base),
                      cli_seal{.seal_new = seal_new, .check = {.require_seal = require_seal}});
}
#else
inline constexpr bool with_sha256 = false;
using cli_checks = standard_checks;
inline cli_checks make_cli_checks(standard_checks base, bool /*seal_new*/, bool /*require_seal*/) {
    return base;
}
#endif

// What a SHA-256 flag says in a build without OpenSSL (exit 1, before anything is read).
inline error sha256_unavailable(const std::string& flag) {
    return error(errc::unsupported, "this dbsafe was built without OpenSSL: " + flag +
                                        " is not available (install OpenSSL's libcrypto, e.g. "
                                        "libssl-dev, and rebuild with -DDBSAFE_WITH_SHA256=ON)");
}

// A vault configured from flags: verification level and required tables.
using cli_vault = basic_vault<online_backup, standard_checks, keep_all, cli_storage>;

// A manifest as the CLI prints it in --json (the manifest plus the absolute path).
nlohmann::json manifest_json(const manifest& m);

// A duration for people, rounded as a person reads it: "0.02 s", "1.4 s", "42 s",
// "2 min 3 s", "1 h 5 min". --json keeps the exact seconds.
inline std::string format_seconds(double s) {
    if (!(s >= 0)) s = 0;  // NaN or a clock that went back
    char text[64];
    if (s < 1) {
        std::snprintf(text, sizeof text, "%.2f s", s);
    } else if (s < 10) {
        std::snprintf(text, sizeof text, "%.1f s", s);
    } else if (s < 60) {
        std::snprintf(text, sizeof text, "%.0f s", s);
    } else if (s < 3600) {
        const auto whole = static_cast<long long>(std::llround(s));
        std::snprintf(text, sizeof text, "%lld min %lld s", whole / 60, whole % 60);
    } else {
        const auto minutes = static_cast<long long>(std::llround(s / 60));
        std::snprintf(text, sizeof text, "%lld h %lld min", minutes / 60, minutes % 60);
    }
    return text;
}

// One line per backup for people.
std::string manifest_line(const manifest& m);

// Progress on stderr, only when stderr is a terminal (and neither --json nor --quiet): a line
// per phase, kept with its size, time and rate when the phase ends, or erased (transient: for
// `verify`, whose result line per backup is what a reader scans).
enum class progress_display { kept, transient };
progress_callback make_progress_bar(progress_display display = progress_display::kept);

bool parse_check_level(const std::string& text, check_level& out);

// Each command adds its subcommand; the returned callback runs it and yields the exit code.
void add_backup_command(CLI::App& app, std::function<int()>& run);
void add_list_command(CLI::App& app, std::function<int()>& run);
void add_verify_command(CLI::App& app, std::function<int()>& run);
void add_restore_command(CLI::App& app, std::function<int()>& run);
void add_migrate_command(CLI::App& app, std::function<int()>& run);
void add_recover_command(CLI::App& app, std::function<int()>& run);
void add_prune_command(CLI::App& app, std::function<int()>& run);
void add_health_command(CLI::App& app, std::function<int()>& run);
void add_init_command(CLI::App& app, std::function<int()>& run);
void add_stats_command(CLI::App& app, std::function<int()>& run);
// Registered last: it prints the commands and flags registered before it, itself included.
void add_completion_command(CLI::App& app, std::function<int()>& run);

// `dbsafe config show`, and the configuration file's settings added to a command line as the
// flags they name where the command line (and, for dir, DBSAFE_DIR) has none (config_file.cpp).
void add_config_command(CLI::App& app, std::function<int()>& run);
void add_diff_command(CLI::App& app, std::function<int()>& run);
result<std::vector<std::string>> with_configured_flags(CLI::App& app,
                                                       std::vector<std::string> args);

// dbsafe(1) in roff, from the commands and flags registered in `app` (`dbsafe help --man`).
std::string manual_page(const CLI::App& app);

}  // namespace dbsafe::cli
