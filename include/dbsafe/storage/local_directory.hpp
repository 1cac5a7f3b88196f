// local_directory: backups as `<id>.db` + `<id>.json` in one directory.
//
// Commit protocol (a kill -9 at any point leaves either no backup or a whole one):
//   snapshot into <id>.db.tmp (created 0600, O_EXCL, O_NOFOLLOW) -> fsync -> rename to <id>.db
//   -> write <id>.json.tmp -> fsync -> rename to <id>.json -> fsync the directory.
// A backup exists exactly when its manifest exists; anything else with a name dbsafe creates is
// debris, which list() reports and prune() sweeps; names dbsafe does not create are ignored
// (see backup_file_names.hpp). Removal goes the other way: manifest first, then data.
#pragma once

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "dbsafe/backup_id.hpp"
#include "dbsafe/error.hpp"
#include "dbsafe/manifest.hpp"
#include "dbsafe/storage/backup_file_names.hpp"
#include "dbsafe/storage/file_operations.hpp"
#include "dbsafe/storage/storage_target.hpp"

namespace dbsafe {

// Whether `dir` can be a local backup directory: a URL ("s3://bucket/x") cannot, and is refused
// with errc::unsupported (taken as a path it would become a local folder named "s3:"). Every
// local_directory operation checks it; a program checks it up front to report it before
// anything else (such as "does not exist").
inline result<void> require_local_path(const std::filesystem::path& dir) {
    return file_ops::refuse_url(dir);
}

class local_directory {
  public:
    local_directory() = default;
    explicit local_directory(std::filesystem::path dir) : dir_(std::move(dir)) {}

    [[nodiscard]] const std::filesystem::path& location() const noexcept { return dir_; }

    [[nodiscard]] std::filesystem::path data_path(std::string_view id) const {
        return dir_ / (std::string(id) + ".db");
    }
    [[nodiscard]] std::filesystem::path manifest_path(std::string_view id) const {
        return dir_ / (std::string(id) + ".json");
    }

    result<staged_backup> stage(std::string_view id) {
        DBSAFE_TRYV(validate_id(id));
        DBSAFE_TRYV(file_ops::ensure_directory(dir_));
        if (std::error_code ec; std::filesystem::exists(manifest_path(id), ec)) {
            // file_exists, not invalid_id: the id is well-formed, and the vault retries a
            // colliding id with a fresh one on exactly this code.
            return error(
                std::make_error_code(std::errc::file_exists),
                "a backup with id " + std::string(id) + " already exists in " + dir_.string());
        }
        staged_backup staged{std::string(id), data_path(id)};
        staged.path += ".tmp";
        DBSAFE_TRY(auto fd, file_ops::create_exclusive(staged.path));
        return staged;
    }

    result<manifest> commit(const staged_backup& staged, manifest m) {
        m.file = staged.id + ".db";
        const auto data = data_path(staged.id);
        DBSAFE_TRYV(file_ops::sync_file(staged.path));
        DBSAFE_TRYV(file_ops::rename_no_replace(staged.path, data));
        auto published = file_ops::publish_small_file(manifest_path(staged.id), manifest_text(m));
        if (!published) {
            (void)file_ops::remove_file(data);  // no manifest, no backup: do not leave debris
            return published.as_failure();
        }
        if (auto synced = file_ops::sync_directory(dir_); !synced) {
            // Published but not durable: withdraw it (manifest first), so a failed commit
            // always means "no backup" and a caller's retry does not leave two.
            withdraw(staged.id, data);
            return synced.error().within("", " (the backup was withdrawn; retry the backup)");
        }
        m.data_path = data;
        return m;
    }

    // Removes a just-published backup, manifest first; best effort, for failed commits.
    void withdraw(std::string_view id, const std::filesystem::path& data) noexcept {
        try {
            (void)file_ops::remove_file(manifest_path(id));
            (void)file_ops::remove_file(data);
        } catch (...) {  // path allocation; withdraw must not throw
        }
    }

    void discard(const staged_backup& staged) noexcept {
        try {
            (void)file_ops::remove_file(staged.path);
            for (const char* suffix : {"-journal", "-wal", "-shm"}) {
                auto p = staged.path;
                p += suffix;
                (void)file_ops::remove_file(p);
            }
        } catch (...) {  // path concatenation can throw bad_alloc; discard must not
        }
    }

    // Looks only at names dbsafe creates (storage/backup_file_names.hpp); anything else in the
    // directory is not listed, not debris, never touched. A missing directory lists as empty
    // (the CLI's commands refuse it, see tools/dbsafe/cli.hpp).
    [[nodiscard]] result<listing> list() const {
        DBSAFE_TRYV(file_ops::refuse_url(dir_));
        listing out;
        std::error_code ec;
        if (!std::filesystem::exists(dir_, ec)) return out;  // no directory: no backups yet
        struct entry {
            std::string name;
            detail::backup_file_name parsed;
            std::filesystem::file_type type;
        };
        std::vector<entry> entries;
        for (auto it = std::filesystem::directory_iterator(dir_, ec);
             !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
            std::string name = it->path().filename().string();
            auto parsed = detail::parse_backup_file_name(name);
            if (!parsed) continue;  // not dbsafe's
            std::error_code type_ec;
            const auto type = it->symlink_status(type_ec).type();  // never follows a symlink
            if (type_ec) continue;  // gone since the directory was read
            entries.push_back({std::move(name), std::move(*parsed), type});
        }
        if (ec) {
            return errno_error(
                ec.value(), "cannot list backup directory " + dir_.string() + ": " + ec.message());
        }
        std::sort(entries.begin(), entries.end(),
                  [](const entry& a, const entry& b) { return a.name < b.name; });
        std::vector<std::string> names;
        for (const auto& e : entries) names.push_back(e.name);
        const auto has_manifest = [&](const std::string& id) {
            return std::binary_search(names.begin(), names.end(), id + ".json");
        };
        using std::filesystem::file_type;
        for (const auto& e : entries) {
            const auto path = dir_ / e.name;
            if (e.type == file_type::directory) continue;  // not something dbsafe would remove
            const bool planted = e.type != file_type::regular && e.type != file_type::symlink;
            if (e.parsed.role == detail::backup_file_role::temporary) {
                out.leftovers.push_back({path, planted ? "not a regular file (planted under the "
                                                         "name of a dbsafe temporary file)"
                                                       : "temporary file of an unfinished write"});
            } else if (e.parsed.role == detail::backup_file_role::data) {
                if (!has_manifest(e.parsed.id)) {
                    out.leftovers.push_back(
                        {path, planted ? "not a regular file (planted under the name of a "
                                         "backup's data file)"
                                       : "data file without a manifest (a backup interrupted "
                                         "before it was published)"});
                }
            } else if (planted) {
                // A FIFO or device named like a manifest: never opened, swept like debris.
                out.leftovers.push_back(
                    {path, "not a regular file (planted under the name of a manifest)"});
            } else {
                auto m = load_manifest(e.parsed.id);
                if (!m && m.error().code.category() == std::generic_category()) {
                    // An OS error (EIO, EACCES) says nothing about the manifest: it may describe
                    // a complete backup. As debris, `restore --latest` would silently pick an
                    // older backup and prune would skip a due deletion yet report success.
                    return m.error().within("cannot list backup directory " + dir_.string(),
                                            " (it may be a complete backup, so nothing was "
                                            "decided: retry once it is readable)");
                }
                std::error_code gone;
                if (m) {
                    out.backups.push_back(std::move(m).value());
                } else if (std::filesystem::exists(std::filesystem::symlink_status(path, gone))) {
                    out.damaged.push_back({path, m.error().message});
                }  // else: removed since the directory was read
            }
        }
        std::sort(out.backups.begin(), out.backups.end(), [](const auto& a, const auto& b) {
            return a.created_at != b.created_at ? a.created_at > b.created_at : a.id > b.id;
        });
        return out;
    }

    [[nodiscard]] result<readable_backup> open(std::string_view id) const {
        DBSAFE_TRY(auto m, load_manifest(id));
        if (m.compression) {
            return error(errc::unsupported,
                         "backup " + m.id + " is compressed with " + m.compression->algorithm +
                             ": open it through the matching backend (e.g. dbsafe::zstd_archive)");
        }
        if (m.pages) {
            return error(errc::unsupported,
                         "backup " + m.id +
                             " is stored as pages: open it through the page repository "
                             "(dbsafe::page_repository)");
        }
        const auto path = dir_ / m.file;
        m.data_path = path;
        return readable_backup(std::move(m), path);
    }

    // Manifest first, then data: a crash in between leaves debris, never a manifest that
    // points at nothing.
    result<void> remove(std::string_view id) {
        DBSAFE_TRY(auto m, load_manifest(id));
        DBSAFE_TRYV(file_ops::remove_file(manifest_path(id)));
        DBSAFE_TRYV(file_ops::remove_file(dir_ / m.file));
        return file_ops::sync_directory(dir_);
    }

    result<void> remove_debris(const debris& d) {
        if (d.path.parent_path() != dir_) {
            return error(errc::invalid_argument,
                         d.path.string() + " is not inside " + dir_.string());
        }
        // Only names dbsafe creates, never a manifest that is a regular file (that is a backup:
        // remove(id)), never data whose manifest exists (a backup published since the listing).
        const auto name = detail::parse_backup_file_name(d.path.filename().string());
        const bool manifest_file = name && name->role == detail::backup_file_role::manifest &&
                                   file_ops::is_regular_no_follow(d.path);
        std::error_code ec;
        const bool owned_data = name && name->role == detail::backup_file_role::data &&
                                std::filesystem::exists(manifest_path(name->id), ec);
        if (!name || manifest_file || owned_data || ec) {
            return error(errc::invalid_argument, d.path.string() +
                                                     " is not debris dbsafe may remove (not a "
                                                     "name dbsafe creates, or part of a backup)");
        }
        DBSAFE_TRYV(file_ops::remove_file(d.path));
        return file_ops::sync_directory(dir_);
    }

    // Loads and checks a manifest: it must parse, match its own checksum, agree with the time
    // and kind in its id, and describe a data file that is a regular file of the recorded size
    // (compression.compressed_size for an archive, pages.object_size for a page snapshot,
    // size_bytes otherwise). Any disagreement is
    // invalid_manifest naming every field that disagrees; an OS error stays an OS error.
    [[nodiscard]] result<manifest> load_manifest(std::string_view id) const {
        DBSAFE_TRYV(validate_id(id));
        DBSAFE_TRYV(file_ops::refuse_url(dir_));
        const auto path = manifest_path(id);
        auto text = file_ops::read_small_file(path, max_manifest_bytes);
        if (!text) {
            if (text.error().is(errc::not_found)) {
                return error(errc::not_found, "no backup with id " + std::string(id) + " in " +
                                                  dir_.string() + " (vault.list() shows the ids)");
            }
            return text.as_failure();
        }
        DBSAFE_TRY(auto checked, detail::parse_manifest_fields(text.value(), path.string()));
        manifest& m = checked.value;
        if (m.id != id) {
            return error(errc::invalid_manifest, "manifest " + path.string() + " names id " + m.id +
                                                     ", not " + std::string(id) +
                                                     " (it was renamed or edited)");
        }
        m.data_path = dir_ / m.file;
        // The data file as the manifest describes it. When the manifest itself checks out, a
        // problem here is the data's (missing: not_found; other size: checksum_mismatch), else
        // every disagreement is reported together as a damaged manifest.
        std::optional<error> data_problem;
        const std::string advice = " (do not restore it; use another backup)";
        struct stat st {};
        if (::lstat(m.data_path.c_str(), &st) != 0) {
            if (errno != ENOENT) return file_ops::os_error(errno, "cannot stat", m.data_path);
            data_problem = error(errc::not_found, "file: the data file " + m.data_path.string() +
                                                      " of backup " + m.id +
                                                      " is missing: the backup is incomplete");
        } else if (!S_ISREG(st.st_mode)) {
            data_problem = error(errc::invalid_manifest,
                                 "file: " + m.data_path.string() + " of backup " + m.id +
                                     " is not a regular file (a symlink, FIFO, device or "
                                     "directory stands there)" +
                                     advice);
        } else {
            const auto actual = static_cast<std::uint64_t>(st.st_size);
            const bool archive = m.compression.has_value();
            const std::uint64_t recorded = m.pages   ? m.pages->object_size
                                           : archive ? m.compression->compressed_size
                                                     : m.size_bytes;
            if (actual != recorded) {
                data_problem = error(
                    errc::checksum_mismatch,
                    std::string(m.pages   ? "pages.object_size"
                                : archive ? "compression.compressed_size"
                                          : "size_bytes") +
                        ": " + std::to_string(recorded) + " bytes recorded for backup " + m.id +
                        ", but " + m.data_path.string() + " has " + std::to_string(actual) +
                        " (the data file was truncated or changed, or the manifest edited)" +
                        advice);
            }
        }
        if (!checked.disagreements.empty()) {
            if (data_problem) checked.disagreements.push_back(data_problem->message);
            return detail::manifest_disagrees(path.string(), checked.disagreements);
        }
        if (data_problem) return *data_problem;
        return std::move(m);
    }

  private:
    std::filesystem::path dir_;
};

static_assert(storage_target<local_directory>);

}  // namespace dbsafe
