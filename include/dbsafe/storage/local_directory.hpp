// local_directory: backups as `<id>.db` + `<id>.json` in one directory.
//
// Commit protocol (a kill -9 at any point leaves either no backup or a whole one):
//   snapshot into <id>.db.tmp (created 0600, O_EXCL, O_NOFOLLOW) -> fsync -> rename to <id>.db
//   -> write <id>.json.tmp -> fsync -> rename to <id>.json -> fsync the directory.
// A backup exists exactly when its manifest exists; anything else is debris, which list()
// reports and prune() sweeps. Removal goes the other way: manifest first, then data.
#pragma once

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "dbsafe/backup_id.hpp"
#include "dbsafe/detail/posix_file.hpp"
#include "dbsafe/error.hpp"
#include "dbsafe/manifest.hpp"
#include "dbsafe/storage/storage_target.hpp"

namespace dbsafe {

namespace detail {

// Reads a small file (a manifest) without following a symlink, refusing anything over `limit`.
inline result<std::string> read_small_file(const std::filesystem::path& p, std::size_t limit) {
    DBSAFE_TRY(auto fd, open_for_read(p));
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return os_error(errno, "cannot stat", p);
    if (!S_ISREG(st.st_mode)) {
        return error(errc::invalid_manifest, p.string() + " is not a regular file");
    }
    if (static_cast<std::size_t>(st.st_size) > limit) {
        return error(errc::invalid_manifest, p.string() + " is " + std::to_string(st.st_size) +
                                                 " bytes, over the " + std::to_string(limit) +
                                                 "-byte limit for a manifest");
    }
    std::string text(static_cast<std::size_t>(st.st_size), '\0');
    DBSAFE_TRY(const std::size_t n,
               read_at(fd.get(), std::as_writable_bytes(std::span(text)), 0, p));
    text.resize(n);
    return text;
}

// Writes `text` to `final_path` via `<final_path>.tmp`, fsynced, renamed without replacing.
inline result<void> publish_small_file(const std::filesystem::path& final_path,
                                       std::string_view text) {
    std::filesystem::path tmp = final_path;
    tmp += ".tmp";
    DBSAFE_TRY(auto fd, create_exclusive(tmp));
    auto written = write_all(fd.get(), std::as_bytes(std::span(text)), tmp);
    if (written) written = sync_fd(fd.get(), tmp);
    fd.reset();
    if (written) written = rename_no_replace(tmp, final_path);
    if (!written) (void)remove_file(tmp);
    return written;
}

}  // namespace detail

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
        DBSAFE_TRYV(detail::ensure_directory(dir_));
        if (std::error_code ec; std::filesystem::exists(manifest_path(id), ec)) {
            // file_exists, not invalid_id: the id is well-formed, and the vault retries a
            // colliding id with a fresh one on exactly this code.
            return error(
                std::make_error_code(std::errc::file_exists),
                "a backup with id " + std::string(id) + " already exists in " + dir_.string());
        }
        staged_backup staged{std::string(id), data_path(id)};
        staged.path += ".tmp";
        DBSAFE_TRY(auto fd, detail::create_exclusive(staged.path));
        return staged;
    }

    result<manifest> commit(const staged_backup& staged, manifest m) {
        m.file = staged.id + ".db";
        const auto data = data_path(staged.id);
        DBSAFE_TRYV(detail::sync_file(staged.path));
        DBSAFE_TRYV(detail::rename_no_replace(staged.path, data));
        auto published = detail::publish_small_file(manifest_path(staged.id), to_json(m).dump(2));
        if (!published) {
            (void)detail::remove_file(data);  // no manifest, no backup: do not leave debris
            return published.as_failure();
        }
        if (auto synced = detail::sync_directory(dir_); !synced) {
            // Published but not durable: withdraw it (manifest first), so a failed commit
            // always means "no backup" and a caller's retry does not leave two.
            withdraw(staged.id, data);
            return error(synced.error().code,
                         synced.error().message + " (the backup was withdrawn; retry the backup)");
        }
        m.data_path = data;
        return m;
    }

    // Removes a just-published backup, manifest first; best effort, for failed commits.
    void withdraw(std::string_view id, const std::filesystem::path& data) noexcept {
        try {
            (void)detail::remove_file(manifest_path(id));
            (void)detail::remove_file(data);
        } catch (...) {  // path allocation; withdraw must not throw
        }
    }

    void discard(const staged_backup& staged) noexcept {
        try {
            (void)detail::remove_file(staged.path);
            for (const char* suffix : {"-journal", "-wal", "-shm"}) {
                auto p = staged.path;
                p += suffix;
                (void)detail::remove_file(p);
            }
        } catch (...) {  // path concatenation can throw bad_alloc; discard must not
        }
    }

    [[nodiscard]] result<listing> list() const {
        DBSAFE_TRYV(detail::refuse_url(dir_));
        listing out;
        std::error_code ec;
        if (!std::filesystem::exists(dir_, ec)) return out;  // no directory: no backups yet
        std::vector<std::string> names;
        for (auto it = std::filesystem::directory_iterator(dir_, ec);
             !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
            names.push_back(it->path().filename().string());
        }
        if (ec) {
            return errno_error(
                ec.value(), "cannot list backup directory " + dir_.string() + ": " + ec.message());
        }
        std::sort(names.begin(), names.end());
        const auto has = [&](const std::string& n) {
            return std::binary_search(names.begin(), names.end(), n);
        };
        for (const auto& name : names) {
            const auto path = dir_ / name;
            if (name.ends_with(".tmp")) {
                out.leftovers.push_back({path, "temporary file of an unfinished write"});
            } else if (name.ends_with(".json")) {
                const std::string id = name.substr(0, name.size() - 5);
                auto m = load_manifest(id);
                if (!m && m.error().code.category() == std::generic_category()) {
                    // An OS error (EIO, EACCES) says nothing about the manifest: it may describe
                    // a complete backup. As debris, `restore --latest` would silently pick an
                    // older backup and prune would skip a due deletion yet report success.
                    return error(m.error().code, "cannot list backup directory " + dir_.string() +
                                                     ": " + m.error().message +
                                                     " (it may be a complete backup, so nothing "
                                                     "was decided: retry once it is readable)");
                }
                if (!m) {
                    out.leftovers.push_back({path, m.error().message});
                } else if (!has(m.value().file)) {
                    out.leftovers.push_back(
                        {path, "manifest whose data file " + m.value().file + " is missing"});
                } else {
                    out.backups.push_back(std::move(m).value());
                }
            } else if (name.ends_with(".db") || name.find(".db.") != std::string::npos ||
                       name.ends_with("-journal") || name.ends_with("-wal") ||
                       name.ends_with("-shm")) {
                const auto stem = name.substr(0, name.find(".db"));
                if (!has(stem + ".json")) {
                    out.leftovers.push_back({path,
                                             "data file without a manifest (a backup "
                                             "interrupted before it was published)"});
                }
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
        const auto path = dir_ / m.file;
        if (std::error_code ec; !std::filesystem::is_regular_file(path, ec)) {
            return error(errc::not_found, "data file " + path.string() + " of backup " + m.id +
                                              " is missing: the backup is incomplete");
        }
        m.data_path = path;
        return readable_backup(std::move(m), path);
    }

    // Manifest first, then data: a crash in between leaves debris, never a manifest that
    // points at nothing.
    result<void> remove(std::string_view id) {
        DBSAFE_TRY(auto m, load_manifest(id));
        DBSAFE_TRYV(detail::remove_file(manifest_path(id)));
        DBSAFE_TRYV(detail::remove_file(dir_ / m.file));
        return detail::sync_directory(dir_);
    }

    result<void> remove_debris(const debris& d) {
        if (d.path.parent_path() != dir_) {
            return error(errc::invalid_argument,
                         d.path.string() + " is not inside " + dir_.string());
        }
        DBSAFE_TRYV(detail::remove_file(d.path));
        return detail::sync_directory(dir_);
    }

    [[nodiscard]] result<manifest> load_manifest(std::string_view id) const {
        DBSAFE_TRYV(validate_id(id));
        DBSAFE_TRYV(detail::refuse_url(dir_));
        const auto path = manifest_path(id);
        auto text = detail::read_small_file(path, max_manifest_bytes);
        if (!text) {
            if (text.error().is(errc::not_found)) {
                return error(errc::not_found, "no backup with id " + std::string(id) + " in " +
                                                  dir_.string() +
                                                  " (run `dbsafe list` to see the ids)");
            }
            return text.as_failure();
        }
        DBSAFE_TRY(auto m, parse_manifest(text.value(), path.string()));
        if (m.id != id) {
            return error(errc::invalid_manifest, "manifest " + path.string() + " names id " + m.id +
                                                     ", not " + std::string(id) +
                                                     " (it was renamed or edited)");
        }
        m.data_path = dir_ / m.file;
        return m;
    }

  private:
    std::filesystem::path dir_;
};

static_assert(storage_target<local_directory>);

}  // namespace dbsafe
