// The storage_target concept: where backups live. A target stages a new backup as an empty
// private file, publishes it atomically with its manifest, lists what it holds (and the debris
// a crash left), hands a backup out as a plain SQLite file for verify/restore, and removes one.
#pragma once

#include <concepts>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dbsafe/error.hpp"
#include "dbsafe/manifest.hpp"
#include "dbsafe/progress.hpp"
#include "dbsafe/snapshot_sink.hpp"

namespace dbsafe {

// A backup being written: the snapshot goes to `path`, an empty 0600 file created for it.
struct staged_backup {
    std::string id;
    std::filesystem::path path;
    // False when the target only reads this file (to compress it, say) and removes it: it
    // never reaches the disk on purpose, so the snapshot must not start writing it back.
    bool fsynced = true;
    // Set by a target that stores the snapshot from its pages as they are read (the page
    // repository): a snapshot read straight from the database file feeds it and leaves `path`
    // empty (snapshot_sink.hpp). Unset, or not completed, the target reads `path`.
    std::shared_ptr<snapshot_sink> sink{};
};

// A file with a name dbsafe creates (storage/backup_file_names.hpp) that is not a complete
// backup: a temp file, data without its manifest, a FIFO or device planted under such a name.
// Reported by list/verify/health, swept by prune after its grace period. Files with any other
// name are never debris: they are not dbsafe's.
struct debris {
    std::filesystem::path path;
    std::string reason;
};

struct listing {
    std::vector<manifest> backups;  // newest first; every field they are selected by checked
    std::vector<debris> leftovers;  // debris, which prune sweeps
    // Backups whose manifest fails its checks (does not parse, its own checksum or created_at
    // disagrees, its data file is missing or of another size): `path` is the manifest. Never
    // selected, never deleted by retention or prune; verify fails them, health reports them.
    std::vector<debris> damaged{};
};

// A backup as a plain SQLite file to read. For a compressed target the file is a temporary
// copy, removed when this object goes away.
class readable_backup {
  public:
    readable_backup(manifest m, std::filesystem::path p, std::function<void()> cleanup = {})
        : description(std::move(m)), path(std::move(p)), cleanup_(std::move(cleanup)) {}
    // A private temporary copy that open() made (decompressed, rebuilt from pages) and that
    // is removed when this object goes away: its holder may move the file instead of copying
    // it (restore by file renames it into place when it can, saving a copy of the database).
    static readable_backup temporary_copy(manifest m, std::filesystem::path p) {
        auto removed = p;
        readable_backup r(std::move(m), std::move(p), [removed] {
            std::error_code ec;
            std::filesystem::remove(removed, ec);
        });
        r.movable_ = true;
        return r;
    }
    readable_backup(readable_backup&& o) noexcept
        : description(std::move(o.description)),
          path(std::move(o.path)),
          cleanup_(std::exchange(o.cleanup_, {})),
          movable_(o.movable_) {}
    readable_backup& operator=(readable_backup&&) = delete;
    readable_backup(const readable_backup&) = delete;
    readable_backup& operator=(const readable_backup&) = delete;
    ~readable_backup() {
        if (cleanup_) cleanup_();
    }

    manifest description;
    std::filesystem::path path;
    // True for a temporary_copy: nothing else uses the file, it may be moved.
    [[nodiscard]] bool movable() const noexcept { return movable_; }

  private:
    std::function<void()> cleanup_;
    bool movable_ = false;
};

template <class S>
concept storage_target = requires(S& s, const S& cs, const staged_backup& staged, manifest m,
                                  std::string_view id) {
    { cs.location() } -> std::convertible_to<std::filesystem::path>;
    { s.stage(id) } -> std::same_as<result<staged_backup>>;
    { s.commit(staged, std::move(m)) } -> std::same_as<result<manifest>>;
    { s.discard(staged) }
    noexcept;
    { cs.list() } -> std::same_as<result<listing>>;
    { cs.open(id) } -> std::same_as<result<readable_backup>>;
    { s.remove(id) } -> std::same_as<result<void>>;
    { s.remove_debris(std::declval<const debris&>()) } -> std::same_as<result<void>>;
};

// Optional: a target whose open() writes a temporary copy (zstd_archive decompresses,
// page_repository rebuilds from pages) may also take a progress callback and report that work
// as progress_phase::unpack, in bytes of the database written. The vault's verify and restore
// use it when it is there.
template <class S>
concept reports_unpacking = requires(const S& cs, std::string_view id,
                                     const progress_callback& cb) {
    { cs.open(id, cb) } -> std::same_as<result<readable_backup>>;
};

// open(id, on_progress) where the target reports its unpacking, open(id) elsewhere.
template <class S>
result<readable_backup> open_with_progress(const S& storage, std::string_view id,
                                           const progress_callback& on_progress) {
    if constexpr (reports_unpacking<S>) {
        return storage.open(id, on_progress);
    } else {
        return storage.open(id);
    }
}

}  // namespace dbsafe
