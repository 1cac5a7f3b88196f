// zstd_archive: backups stored as zstd archives, `<id>.db.zst` + `<id>.json`.
//
// A decorator over local_directory, not a second directory format: the layout, the manifest,
// listing, debris and removal are local_directory's, unchanged; only the data file is encoded.
// So one directory can hold plain and compressed backups side by side, and a zstd_archive
// reads both (open() of a plain backup is local_directory's open()).
//
// The archive is standard zstd (frames with content checksums): `zstd -d <id>.db.zst` gives
// back the exact database. The manifest's size and checksum are those of the uncompressed
// database; `compression` records algorithm, level and archive size.
//
// The rooms: zstd/stream.hpp (the zstd stream wrappers), zstd/follower.hpp (compressing while
// the snapshot runs, and the archive's layout), zstd/unpack.hpp (decompressing and validating).
// This header is the storage target that composes them.
#pragma once

#include <unistd.h>
#include <zstd.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "dbsafe/backends/zstd/follower.hpp"
#include "dbsafe/backends/zstd/stream.hpp"
#include "dbsafe/backends/zstd/unpack.hpp"
#include "dbsafe/error.hpp"
#include "dbsafe/manifest.hpp"
#include "dbsafe/storage/file_operations.hpp"
#include "dbsafe/storage/local_directory.hpp"
#include "dbsafe/storage/storage_target.hpp"

namespace dbsafe {

struct zstd_settings {
    int level = 3;    // 1 (fast) .. 19 (small), zstd's own default is 3; 0 = write new backups
                      // uncompressed (still reading compressed ones), e.g. restore's safety copy
    int threads = 0;  // compression workers; 0 = one per core
    std::filesystem::path scratch{};  // where open() decompresses to; empty = backup directory
};

class zstd_archive {
  public:
    zstd_archive() = default;
    explicit zstd_archive(std::filesystem::path dir, zstd_settings settings = {})
        : dir_(std::move(dir)), settings_(std::move(settings)) {}

    [[nodiscard]] const std::filesystem::path& location() const noexcept { return dir_.location(); }
    [[nodiscard]] const zstd_settings& settings() const noexcept { return settings_; }
    [[nodiscard]] const local_directory& directory() const noexcept { return dir_; }
    [[nodiscard]] std::filesystem::path archive_path(std::string_view id) const {
        return dir_.location() / (std::string(id) + ".db.zst");
    }
    [[nodiscard]] zstd_commit_stats last_commit() const {
        const std::lock_guard lock(state_->mutex);
        return state_->last;
    }

    // Creates the staged database file (local_directory's stage) and the archive's temp file,
    // and starts compressing the former into the latter as the snapshot writes it.
    result<staged_backup> stage(std::string_view id) {
        if (settings_.level == 0) return dir_.stage(id);
        if (settings_.level < 1 || settings_.level > ZSTD_maxCLevel()) {
            return error(errc::invalid_argument, "zstd level " + std::to_string(settings_.level) +
                                                     " is out of range: use 1.." +
                                                     std::to_string(ZSTD_maxCLevel()) +
                                                     " (3 is the default)");
        }
        if (settings_.threads < 0) {
            return error(errc::invalid_argument,
                         "zstd threads must be 0 (one per core) or more, not " +
                             std::to_string(settings_.threads));
        }
        DBSAFE_TRY(staged_backup staged, dir_.stage(id));
        staged.fsynced = false;  // compressed from the page cache, then removed
        auto pipeline = make_pipeline(staged);
        if (!pipeline) {
            dir_.discard(staged);
            return pipeline.as_failure();
        }
        {
            const std::lock_guard lock(state_->mutex);
            state_->running[staged.id] = std::move(pipeline).value();
        }
        return staged;
    }

    // Same protocol as local_directory: archive .tmp -> fsync -> rename -> manifest .tmp ->
    // fsync -> rename -> fsync directory. The uncompressed staged file is never fsynced, only
    // removed.
    result<manifest> commit(const staged_backup& staged, manifest m) {
        if (settings_.level == 0) return dir_.commit(staged, std::move(m));
        auto pipeline = take(staged.id);
        if (!pipeline) {
            return error(errc::invalid_argument,
                         "backup " + staged.id + " was not staged by this zstd_archive");
        }
        DBSAFE_TRY(const zstd_commit_stats stats, pipeline->finish(m.checksum));
        const auto tmp = pipeline->archive_path();
        pipeline.reset();
        const auto archive = archive_path(staged.id);
        m.file = staged.id + ".db.zst";
        m.compression = compression_info{"zstd", settings_.level, stats.archive_bytes};
        DBSAFE_TRYV(file_ops::rename_no_replace(tmp, archive));
        auto published =
            file_ops::publish_small_file(dir_.manifest_path(staged.id), manifest_text(m));
        if (!published) {
            (void)file_ops::remove_file(archive);  // no manifest, no backup: leave no debris
            return published.as_failure();
        }
        dir_.discard(staged);  // the uncompressed copy: dropped before it ever reaches the disk
        if (auto synced = file_ops::sync_directory(location()); !synced) {
            dir_.withdraw(staged.id, archive);  // failed commit = no backup (local_directory)
            return synced.error().within("", " (the backup was withdrawn; retry the backup)");
        }
        {
            const std::lock_guard lock(state_->mutex);
            state_->last = stats;
        }
        m.data_path = archive;
        return m;
    }

    void discard(const staged_backup& staged) noexcept {
        try {
            auto pipeline = take(staged.id);
            if (pipeline) pipeline->stop();
            pipeline.reset();
            (void)file_ops::remove_file(archive_tmp_path(staged.id));
        } catch (...) {  // string/path allocation can throw; discard must not
        }
        dir_.discard(staged);
    }

    [[nodiscard]] result<listing> list() const { return dir_.list(); }

    // A plain backup is local_directory's; a compressed one is decompressed into a temp file
    // that is removed when the returned readable_backup is destroyed. `on_progress` (may be
    // empty) hears the decompression (progress_phase::unpack).
    [[nodiscard]] result<readable_backup> open(std::string_view id,
                                               const progress_callback& on_progress = {}) const {
        DBSAFE_TRY(manifest m, dir_.load_manifest(id));
        if (!m.compression) return dir_.open(id);
        if (m.compression->algorithm != "zstd") {
            return error(errc::unsupported, "backup " + m.id + " is compressed with " +
                                                m.compression->algorithm +
                                                ", which zstd_archive cannot read");
        }
        const auto archive = location() / m.file;
        if (std::error_code ec; !std::filesystem::is_regular_file(archive, ec)) {
            return error(errc::not_found, "archive " + archive.string() + " of backup " + m.id +
                                              " is missing: the backup is incomplete");
        }
        const auto scratch = settings_.scratch.empty() ? location() : settings_.scratch;
        DBSAFE_TRYV(file_ops::ensure_directory(scratch));
        DBSAFE_TRY(auto made, file_ops::create_scratch_file(scratch, m.id));
        auto& [tmp, fd] = made;
        auto unpacked = zstd_detail::unpack_zstd(archive, fd.get(), tmp, m, on_progress);
        fd.reset();
        if (!unpacked) {
            (void)file_ops::remove_file(tmp);
            return unpacked.as_failure();
        }
        m.data_path = archive;
        return readable_backup::temporary_copy(std::move(m), std::move(tmp));
    }

    result<void> remove(std::string_view id) { return dir_.remove(id); }
    result<void> remove_debris(const debris& d) { return dir_.remove_debris(d); }

  private:
    // Shared by copies of this object, so a copied vault still finds its staged backups.
    struct shared_state {
        std::mutex mutex;
        std::map<std::string, std::unique_ptr<zstd_detail::zstd_pipeline>> running;
        zstd_commit_stats last;
    };

    [[nodiscard]] std::filesystem::path archive_tmp_path(std::string_view id) const {
        auto p = archive_path(id);
        p += ".tmp";
        return p;
    }

    result<std::unique_ptr<zstd_detail::zstd_pipeline>> make_pipeline(const staged_backup& staged) {
        const auto tmp = archive_tmp_path(staged.id);
        DBSAFE_TRY(auto cctx,
                   zstd_detail::make_zstd_cctx(settings_.level,
                                               zstd_detail::zstd_worker_count(settings_.threads)));
        DBSAFE_TRY(auto fd, file_ops::create_exclusive(tmp));
        auto p = std::make_unique<zstd_detail::zstd_pipeline>(staged.path, tmp, std::move(fd),
                                                              std::move(cctx), settings_.level);
        p->start();
        return p;
    }

    std::unique_ptr<zstd_detail::zstd_pipeline> take(const std::string& id) {
        const std::lock_guard lock(state_->mutex);
        auto it = state_->running.find(id);
        if (it == state_->running.end()) return nullptr;
        auto p = std::move(it->second);
        state_->running.erase(it);
        return p;
    }

    local_directory dir_;
    zstd_settings settings_;
    std::shared_ptr<shared_state> state_ = std::make_shared<shared_state>();
};

static_assert(storage_target<zstd_archive>);
static_assert(reports_unpacking<zstd_archive>);

}  // namespace dbsafe
