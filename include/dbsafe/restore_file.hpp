// Restore by file: the cases the page copy of restore.hpp cannot serve, because there is no
// live database SQLite can open:
//  - the live database is missing: the backup becomes a new file (nothing to keep);
//  - `restore --to PATH` (basic_vault::restore_to): the same, into a path that must be new;
//  - the live database is damaged beyond opening (truncated, page 1 garbage): with
//    restore_options::replace_damaged, a byte copy of the damaged file is kept as the safety
//    backup (SQLite cannot read it, so it cannot copy it page by page), then the file is
//    replaced.
// The new content is written beside the target as `<target>.dbsafe-<id>-<random>.tmp` (O_EXCL,
// O_NOFOLLOW, flock()ed while in use), or, when the backup was handed out as a private
// temporary copy on the same file system (a rebuilt page snapshot, a decompressed archive),
// that copy is renamed to this name instead of copied; then fsynced, checked (checksum of a
// copy against the manifest, quick_check, required tables, the caller's hook), renamed into
// place, and the directory fsynced: a kill -9 at any moment leaves the target as it was
// (missing, or the damaged file) or the whole backup, plus at most the temporary file, which
// names the backup it came from. The next restore by file into the same target removes such
// leftovers (those no live process holds locked), so a crash never blocks a retry nor leaves
// a database-sized file for good.
// A rename replaces the file under any process that still has it open: it keeps writing to the
// old, unlinked file. The replacement is therefore explicit (replace_damaged), and its
// messages say to stop the application first.
#pragma once

#include <fcntl.h>
#include <sys/file.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dbsafe/backup_id.hpp"
#include "dbsafe/backup_kind.hpp"
#include "dbsafe/checksum.hpp"
#include "dbsafe/detail/fast_copy_vfs.hpp"
#include "dbsafe/detail/posix_file.hpp"
#include "dbsafe/detail/sqlite.hpp"
#include "dbsafe/error.hpp"
#include "dbsafe/free_space.hpp"
#include "dbsafe/manifest.hpp"
#include "dbsafe/source_identity.hpp"
#include "dbsafe/storage/storage_target.hpp"

namespace dbsafe::detail {

// A non-empty `-wal` or `-journal` beside `target` holds changes that belong to the file at
// `target` (a WAL's committed transactions, a hot journal's rollback). SQLite would apply it to
// whatever file is put there, so nothing is written there while one exists.
inline result<void> refuse_journal_beside(const std::filesystem::path& target,
                                          const std::string& what) {
    for (const char* suffix : {"-wal", "-journal"}) {
        auto side = target;
        side += suffix;
        if (file_size_or_zero(side) > 0 || std::filesystem::is_symlink(side)) {
            return error(errc::invalid_argument,
                         "not restoring into " + target.string() + ": " + side.string() +
                             " exists beside it and may hold changes of " + what +
                             " that SQLite would apply to the restored file. Stop every "
                             "application using " +
                             target.string() +
                             " (closing it cleanly folds the file in); if it is still there, "
                             "move it aside (keep it) and retry (nothing was changed)");
        }
    }
    return success();
}

// Copies `from` into the open, empty `to_fd` and fsyncs it.
inline result<void> copy_bytes(const std::filesystem::path& from, int to_fd,
                               const std::filesystem::path& to) {
    DBSAFE_TRY(auto in, open_for_read(from));
    std::vector<std::byte> buf(std::size_t{4} << 20);
    for (std::uint64_t offset = 0;;) {
        DBSAFE_TRY(const std::size_t n, read_at(in.get(), buf, offset, from));
        if (n == 0) break;
        DBSAFE_TRYV(write_all(to_fd, std::span(buf).first(n), to));
        offset += n;
    }
    return sync_fd(to_fd, to);
}

// Keeps the damaged live file, byte for byte, as a backup of kind `safety` (method
// "file-copy": not an SQLite image, its checksum proves the copy is faithful).
template <class Vault>
result<manifest> keep_damaged_copy(Vault& vault, const std::filesystem::path& file) {
    DBSAFE_TRYV(check_free_space(file, vault.storage.location(), vault.options.space_factor,
                                 vault.options.free_space));
    const auto created = vault.now();
    auto staged = vault.storage.stage(make_backup_id(created, backup_kind::safety));
    for (int attempt = 0; !staged && attempt < 8 && staged.error().code == std::errc::file_exists;
         ++attempt) {
        staged = vault.storage.stage(make_backup_id(created, backup_kind::safety));
    }
    if (!staged) return staged.as_failure();
    const staged_backup& s = staged.value();
    auto copied = [&]() -> result<manifest> {
        DBSAFE_TRY(auto fd, open_for_writing(s.path));
        DBSAFE_TRYV(copy_bytes(file, fd.get(), s.path));
        manifest m;
        m.id = s.id;
        m.kind = backup_kind::safety;
        m.created_at = created;
        record_source(m, file);
        m.size_bytes = file_size_or_zero(s.path);
        DBSAFE_TRY(m.checksum, hash_file(s.path));
        m.sqlite_version = sqlite3_libversion();
        m.method = std::string(file_copy_method);
        return vault.storage.commit(s, std::move(m));
    }();
    if (!copied) vault.storage.discard(s);
    return copied;
}

// `<target name>.dbsafe-<backup id>-<16 hex digits>.tmp`, and SQLite's side files of one.
inline bool is_restore_temp_name(const std::string& name, const std::string& target_name) {
    std::string_view rest(name);
    const std::string prefix = target_name + ".dbsafe-";
    if (!rest.starts_with(prefix)) return false;
    rest.remove_prefix(prefix.size());
    for (const std::string_view side : {"-journal", "-wal", "-shm"}) {
        if (rest.ends_with(side)) {
            rest.remove_suffix(side.size());
            break;
        }
    }
    if (!rest.ends_with(".tmp") || rest.size() < 4 + 17) return false;
    rest.remove_suffix(4);
    const auto tail = rest.substr(rest.size() - 16);
    if (rest[rest.size() - 17] != '-' ||
        tail.find_first_not_of("0123456789abcdef") != std::string_view::npos) {
        return false;
    }
    return parse_generated_id(rest.substr(0, rest.size() - 17)).has_value();
}

// Removes the temporary files a killed restore left beside `target`: only dbsafe's names, only
// regular files, and only those whose flock() no live restore holds (it keeps its own locked
// from creation to rename). Best effort: what cannot be removed now is left for the next time.
inline void remove_stale_restore_temps(const std::filesystem::path& target) {
    const auto dir = target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
    const std::string target_name = target.filename().string();
    std::error_code ec;
    std::vector<std::filesystem::path> stale;
    for (auto it = std::filesystem::directory_iterator(dir, ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
        const auto name = it->path().filename().string();
        if (!is_restore_temp_name(name, target_name) || !is_regular_no_follow(it->path())) {
            continue;
        }
        if (!name.ends_with(".tmp")) {  // a side file: stale once its temporary file is gone
            const auto main_name = name.substr(0, name.rfind(".tmp") + 4);
            std::error_code gone;  // not `ec`: that one ends the directory walk
            if (!std::filesystem::exists(dir / main_name, gone) && !gone) {
                stale.push_back(it->path());
            }
            continue;
        }
        const int fd = ::open(it->path().c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) continue;
        const unique_fd owner(fd);
        if (::flock(fd, LOCK_EX | LOCK_NB) != 0) continue;  // a restore is writing it
        // Unlinked while locked: a restore that had just created it fails its rename (the name
        // is gone) instead of publishing a file it did not finish.
        (void)remove_file(it->path());
        for (const char* side : {"-journal", "-wal", "-shm"}) {
            (void)remove_file(it->path().string() + side);
        }
    }
    for (const auto& p : stale) (void)remove_file(p);
}

struct new_file_checks {
    // restore.hpp's check of a restored database (the vault's verifier, required tables, the
    // caller's hook), passed in to keep one definition.
    std::function<result<void>(sqlite3*)> check;
    // Backups are rollback-journal images. When the replaced file's header still says WAL
    // (a truncated database), the new file is put back in WAL mode, as the application had it.
    bool wal_mode = false;
};

// Gives the private temporary file `image` the name `tmp` and locks it; an empty result when
// it cannot be moved: another file system, or one without an atomic no-replace rename. The
// caller then copies it, the path every other backup takes, so a move is only ever a saving.
inline std::optional<unique_fd> move_into_place(const std::filesystem::path& image,
                                                const std::filesystem::path& tmp) {
    auto fd = open_for_read(image);  // fsync and flock both work on it
    if (!fd || ::flock(fd.value().get(), LOCK_EX | LOCK_NB) != 0) return std::nullopt;
    if (!rename_no_replace(image, tmp)) return std::nullopt;
    return std::move(fd).value();
}

// Writes the verified backup `image` (an uncompressed SQLite file whose checksum is
// `expected`) to `target` via a temporary file beside it. `replace`: an existing file at
// `target` is replaced (the damaged-database case); otherwise `target` must not exist.
// `movable`: `image` is a private temporary copy (readable_backup::movable): on the same file
// system it is renamed to the temporary name instead of copied, which saves writing the whole
// database once more (a page snapshot or a zstd archive is rebuilt into such a copy).
inline result<void> write_database_file(const std::filesystem::path& image,
                                        const checksum& expected,
                                        const std::filesystem::path& target, const std::string& id,
                                        bool replace, const new_file_checks& checks,
                                        bool movable = false) {
    const auto dir = target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
    if (std::error_code ec; !std::filesystem::is_directory(dir, ec)) {
        return error(errc::not_found, "not restoring into " + target.string() + ": directory " +
                                          dir.string() +
                                          " does not exist; create it first (nothing was "
                                          "changed)");
    }
    remove_stale_restore_temps(target);
    auto tmp = target;
    tmp += ".dbsafe-" + id + "-" + random_hex(16) + ".tmp";
    // Locked until the rename: remove_stale_restore_temps() in another restore leaves it alone.
    std::optional<unique_fd> moved;
    if (movable) moved = move_into_place(image, tmp);
    const bool was_moved = moved.has_value();
    if (!was_moved) {
        DBSAFE_TRY(auto created, create_exclusive(tmp));
        if (::flock(created.get(), LOCK_EX | LOCK_NB) != 0) {
            const int err = errno;
            (void)remove_file(tmp);
            return os_error(err, "cannot lock", tmp);
        }
        moved = std::move(created);
    }
    unique_fd& fd = *moved;
    auto written = [&]() -> result<void> {
        if (was_moved) {
            // The very file the caller verified (open() wrote it without fsync): no copy, so
            // nothing to compare it with again.
            DBSAFE_TRYV(sync_fd(fd.get(), tmp));
        } else {
            DBSAFE_TRYV(copy_bytes(image, fd.get(), tmp));
            DBSAFE_TRY(const auto actual, hash_file(tmp));
            if (actual != expected) {
                return error(errc::checksum_mismatch,
                             "the copy " + tmp.string() + " hashes to " + actual.hex +
                                 ", not the backup's " + expected.hex +
                                 " (a disk or memory error while copying; retry)");
            }
        }
        {
            // Through the reading shim, so the check can be measured (detail/read_meter.hpp);
            // the file is private to this restore until the rename.
            DBSAFE_TRY(auto db, open_database(tmp, open_mode::read_write, 5000, fast_read_vfs()));
            DBSAFE_TRYV(checks.check(db.get()));
            if (checks.wal_mode) DBSAFE_TRYV(exec(db.get(), "PRAGMA journal_mode=WAL"));
        }
        // Opening a WAL image leaves nothing once closed; be sure before the rename.
        for (const char* suffix : {"-wal", "-shm", "-journal"}) {
            auto side = tmp;
            side += suffix;
            DBSAFE_TRYV(remove_file(side));
        }
        DBSAFE_TRYV(replace ? rename_replace(tmp, target) : rename_no_replace(tmp, target));
        return sync_directory(dir);
    }();  // fd (and its lock) is closed only now, after the rename
    if (!written) {
        fd.reset();
        (void)remove_file(tmp);
    }
    return written;
}

}  // namespace dbsafe::detail
