// page_repository: backups stored as pages, each unique page once (target dbsafe::pages).
//
// A decorator over zstd_archive (which decorates local_directory), not a second directory
// format: the manifests, listing, debris and removal are local_directory's, and a directory
// holds plain `<id>.db`, zstd `<id>.db.zst` and page snapshots `<id>.pages` side by side; a
// page_repository reads all three. A page snapshot's data file is its snapshot object
// (pages/snapshot_object.hpp); the pages live in the repository D/pages/ (packs, index files,
// page lists; pages/repository_layout.hpp), shared by every snapshot of every database there.
//
// Commit protocol (a crash anywhere leaves no new snapshot or a whole one, and never damages
// an earlier one): new packs (fsynced as they close) -> index file -> page list -> the
// directories fsynced -> <id>.pages -> <id>.json (the commit point) -> D fsynced. What a failed
// or killed backup wrote to pages/ is referenced by no snapshot: garbage collection removes it.
// Backups hold the repository lock shared from stage() to commit()/discard(); garbage
// collection holds it exclusive.
//
// Speed: stage() offers the snapshot a sink (snapshot_sink.hpp, pages/page_intake.hpp): a
// snapshot read straight from the database file hands its pages over as it reads them, two
// threads hash them and the new ones are stored, and no staged copy is written at all. Any
// other snapshot writes the staged file, which a follower thread (pages/page_writer.hpp)
// hashes and stores as it grows; that file is never fsynced and is removed at commit. An
// incremental backup writes its changed pages and one small delta list.
#pragma once

#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "dbsafe/backends/pages/content_file.hpp"
#include "dbsafe/backends/pages/garbage_collection.hpp"
#include "dbsafe/backends/pages/index_file.hpp"
#include "dbsafe/backends/pages/page_chain_stream.hpp"
#include "dbsafe/backends/pages/page_intake.hpp"
#include "dbsafe/backends/pages/page_list.hpp"
#include "dbsafe/backends/pages/page_spool.hpp"
#include "dbsafe/backends/pages/page_store.hpp"
#include "dbsafe/backends/pages/page_writer.hpp"
#include "dbsafe/backends/pages/reconstruct.hpp"
#include "dbsafe/backends/pages/repository_check.hpp"
#include "dbsafe/backends/pages/repository_config.hpp"
#include "dbsafe/backends/pages/repository_layout.hpp"
#include "dbsafe/backends/pages/repository_lock.hpp"
#include "dbsafe/backends/pages/snapshot_object.hpp"
#include "dbsafe/backends/zstd_archive.hpp"
#include "dbsafe/error.hpp"
#include "dbsafe/manifest.hpp"
#include "dbsafe/storage/file_operations.hpp"
#include "dbsafe/storage/local_directory.hpp"
#include "dbsafe/storage/storage_target.hpp"

namespace dbsafe {

struct page_repository_settings {
    bool write_pages = true;          // false: new backups are files (`files` says how)
    int level = 3;                    // zstd level of the pack frames
    zstd_settings files{.level = 0};  // how non-page backups are written (0 = plain) and read
    std::filesystem::path scratch{};  // where open() reconstructs to; empty = the directory
    std::chrono::milliseconds lock_timeout{10'000};  // waiting for a garbage collection
    // Hash only the pages that changed since the source's previous page backup
    // (pages/change_cache.hpp); false: every page, every time (and no cache is kept).
    bool change_cache = true;
};

// What the last commit() stored (also in the manifest's `pages`).
struct page_commit_stats {
    std::uint64_t pages_total = 0;
    std::uint64_t pages_new = 0;
    std::uint64_t bytes_added = 0;
    bool reused_chain = false;  // a delta on the previous snapshot's chain, not a new base
    // The pages came straight from the database file (snapshot_sink.hpp): no staged copy was
    // written. False when the snapshot wrote the staged file and a follower hashed it.
    bool read_directly = false;
    // Pages whose address the change cache gave (pages/change_cache.hpp): not hashed again.
    std::uint64_t pages_from_cache = 0;
};

struct repository_stats {
    std::uint64_t snapshots = 0;  // page snapshots listed
    std::uint64_t packs = 0;
    std::uint64_t unique_pages = 0;   // distinct pages in the index
    std::uint64_t stored_bytes = 0;   // packs + index + lists + snapshot objects on disk
    std::uint64_t logical_bytes = 0;  // the page snapshots' database sizes, summed
    // What every listed backup (page snapshots and files) would take as plain <id>.db files.
    std::uint64_t plain_equivalent_bytes = 0;
    double dedup_ratio = 0;  // logical_bytes / stored_bytes (0 when nothing is stored)
};

class page_repository {
  public:
    page_repository() = default;
    explicit page_repository(std::filesystem::path dir, page_repository_settings s = {})
        : dir_(dir),
          files_(dir, with_scratch(s.files, s.scratch)),
          settings_(std::move(s)),
          layout_{std::move(dir)} {}

    [[nodiscard]] const std::filesystem::path& location() const noexcept { return dir_.location(); }
    [[nodiscard]] const page_repository_settings& settings() const noexcept { return settings_; }
    [[nodiscard]] const local_directory& directory() const noexcept { return dir_; }
    [[nodiscard]] const repository_layout& layout() const noexcept { return layout_; }
    [[nodiscard]] page_commit_stats last_commit() const {
        const std::lock_guard lock(state_->mutex);
        return state_->last;
    }

    // Creates the repository in `dir` with `default_format` as the location's default for new
    // backups. Idempotent for the same format; an error if another default was chosen (a
    // repository created by a page backup has none yet, so init() chooses it).
    static result<void> init(const std::filesystem::path& dir, location_format default_format) {
        DBSAFE_TRYV(file_ops::refuse_url(dir));
        const repository_layout layout{dir};
        DBSAFE_TRYV(layout.create());
        DBSAFE_TRY(auto existing, pages_detail::load_repository_config(layout.root()));
        if (existing && existing->default_format == default_format) return success();
        if (existing && existing->default_format) {
            return error(errc::invalid_argument,
                         dir.string() + " is already set up for " +
                             std::string(to_string(*existing->default_format)) + " backups (" +
                             layout.config().string() +
                             "); its default stays: choose the format per backup instead");
        }
        repository_config c = existing.value_or(repository_config{});
        c.default_format = default_format;
        DBSAFE_TRYV(write_config(layout, c, existing.has_value()));
        return success();
    }

    // The default format chosen for `dir` by init(); nullopt when none was chosen (no
    // repository, or one created by a page backup). A config this dbsafe cannot read is an
    // error (a newer version: upgrade dbsafe).
    static result<std::optional<location_format>> configured_format(
        const std::filesystem::path& dir) {
        DBSAFE_TRY(auto c, pages_detail::load_repository_config(repository_layout{dir}.root()));
        if (!c) return std::optional<location_format>{};
        return c->default_format;
    }

    result<staged_backup> stage(std::string_view id) {
        if (!settings_.write_pages) return files_.stage(id);
        if (settings_.level < 1 || settings_.level > ZSTD_maxCLevel()) {
            return error(errc::invalid_argument, "zstd level " + std::to_string(settings_.level) +
                                                     " is out of range: use 1.." +
                                                     std::to_string(ZSTD_maxCLevel()) +
                                                     " (3 is the default)");
        }
        DBSAFE_TRYV(validate_id(id));
        DBSAFE_TRYV(layout_.create());
        DBSAFE_TRY(const repository_config config, ensure_config());
        DBSAFE_TRY(auto lock, repository_lock::acquire(layout_.root(), repository_lock_mode::shared,
                                                       settings_.lock_timeout));
        // A damaged index file is skipped: the pages only it located are stored again. A
        // backup with a change cache asks a filter of what the index files hold
        // (page_store.hpp); where no cache can be used, every digest is loaded now instead (one
        // pass over the index files either way).
        std::vector<damaged_index_file> damaged;
        pages_detail::digest_filter filter;
        std::optional<std::vector<page_digest>> known;
        if (settings_.change_cache && pages_detail::any_cache_file(layout_.caches())) {
            DBSAFE_TRY(filter, pages_detail::digest_filter::of_index(layout_.index(), &damaged));
        } else {
            DBSAFE_TRY(known, load_stored_digests(layout_.index(), &damaged));
        }
        DBSAFE_TRY(staged_backup staged, dir_.stage(id));
        staged.fsynced = false;  // hashed and stored from the page cache, then removed
        // The change cache (pages/change_cache.hpp) is trusted only while its snapshot exists
        // and no index file is damaged.
        pages_detail::change_cache_setup cache{
            layout_.caches(), staged.id, damaged.empty(),
            [dir = dir_, layout = layout_](const std::string& snapshot) {
                auto m = dir.load_manifest(snapshot);
                return m && m.value().pages.has_value() &&
                       file_ops::is_regular_no_follow(layout.object(snapshot));
            }};
        auto intake = std::make_shared<pages_detail::page_intake>(
            staged.path,
            pages_detail::page_store(layout_.packs(),
                                     {.level = settings_.level,
                                      .frame_pages = config.frame_pages,
                                      .pack_bytes = config.pack_bytes},
                                     layout_.index(), std::move(filter), std::move(known)),
            settings_.change_cache ? std::optional(std::move(cache)) : std::nullopt);
        intake->start();
        staged.sink = intake;
        {
            const std::lock_guard guard(state_->mutex);
            state_->running[staged.id] = session{std::move(lock), std::move(intake)};
        }
        return staged;
    }

    result<manifest> commit(const staged_backup& staged, manifest m) {
        auto running = take(staged.id);
        if (!running.intake) {
            if (!settings_.write_pages) return files_.commit(staged, std::move(m));
            return error(errc::invalid_argument,
                         "backup " + staged.id + " was not staged by this page_repository");
        }
        DBSAFE_TRY(auto followed, running.intake->finish(m.checksum));
        if (!followed) {
            // Not an SQLite image of whole pages (restore's byte copy of a damaged database):
            // kept as a plain file, which local_directory fsyncs and publishes.
            running = {};
            return dir_.commit(staged, std::move(m));
        }
        const pages_detail::page_store& store = running.intake->store();
        const std::uint64_t count = followed->pages.size();
        page_commit_stats stats{.pages_total = count,
                                .pages_new = store.pages_new(),
                                .bytes_added = store.bytes_added(),
                                .read_directly = followed->fed};
        const auto base = newest_base(m.source_path, followed->page_size);
        if (!followed->cached_from.empty()) {
            auto vouched = check_cached_addresses(*followed, base);
            if (!vouched) {
                running.intake->drop_change_cache();
                return vouched.error().within("backup of " + m.source_path + " was not published");
            }
            stats.pages_from_cache = vouched.value();
            std::vector<bool>().swap(followed->cached);
        }
        if (store.packs_written() > 0) {
            DBSAFE_TRY(const auto idx, store.store_index_file(layout_.index()));
            if (idx.created) stats.bytes_added += file_ops::file_size_or_zero(idx.path);
        }
        // A delta on the newest snapshot of the same database, or a new full base.
        snapshot_object object{followed->page_size, count, {}};
        std::optional<page_list> delta;
        if (base) {
            DBSAFE_TRY(delta, delta_on(*base, followed->pages));
        }
        pages_detail::stored_file stored_list;
        if (delta) {
            object.lists = base->object.lists;
            stats.reused_chain = true;
            DBSAFE_TRY(stored_list, pages_detail::store_content_file(layout_.lists(), ".list",
                                                                     encode_page_list(*delta)));
        } else {
            DBSAFE_TRY(stored_list,
                       pages_detail::store_full_page_list(layout_.lists(), followed->pages));
        }
        delta.reset();
        if (stored_list.created) stats.bytes_added += file_ops::file_size_or_zero(stored_list.path);
        object.lists.push_back(stored_list.digest);
        for (const auto& d : {layout_.packs(), layout_.index(), layout_.lists()}) {
            DBSAFE_TRYV(file_ops::sync_directory(d));
        }
        const auto bytes = encode_snapshot_object(object);
        const auto object_path = layout_.object(staged.id);
        DBSAFE_TRYV(file_ops::publish_small_file(
            object_path,
            std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size())));
        stats.bytes_added += bytes.size();
        m.file = staged.id + ".pages";
        m.compression.reset();
        m.pages = page_snapshot_info{bytes.size(), stats.pages_new, stats.bytes_added};
        auto published =
            file_ops::publish_small_file(dir_.manifest_path(staged.id), manifest_text(m));
        if (!published) {
            (void)file_ops::remove_file(object_path);  // no manifest, no backup: leave no debris
            return published.as_failure();
        }
        dir_.discard(staged);  // the staged copy: dropped before it ever reaches the disk
        if (auto synced = file_ops::sync_directory(location()); !synced) {
            dir_.withdraw(staged.id, object_path);  // failed commit = no backup
            return synced.error().within("", " (the backup was withdrawn; retry the backup)");
        }
        running.intake->publish_change_cache();
        {
            const std::lock_guard lock(state_->mutex);
            state_->last = stats;
        }
        m.data_path = object_path;
        return m;
    }

    void discard(const staged_backup& staged) noexcept {
        try {
            auto running = take(staged.id);
            if (running.intake) running.intake->stop();
            running = {};
        } catch (...) {  // string allocation can throw; discard must not
        }
        if (settings_.write_pages) {
            dir_.discard(staged);
        } else {
            files_.discard(staged);
        }
    }

    [[nodiscard]] result<listing> list() const { return dir_.list(); }

    // A page snapshot is reconstructed into a temp file (removed with the returned
    // readable_backup); plain and zstd backups are zstd_archive's. `on_progress` (may be
    // empty) hears the rebuild or the decompression (progress_phase::unpack).
    [[nodiscard]] result<readable_backup> open(std::string_view id,
                                               const progress_callback& on_progress = {}) const {
        DBSAFE_TRY(manifest m, dir_.load_manifest(id));
        if (!m.pages) return files_.open(id, on_progress);
        DBSAFE_TRYV(pages_detail::load_repository_config(layout_.root()));  // refuse a newer one
        // Held while packs are read: a garbage collection running meanwhile is waited for.
        DBSAFE_TRY(const auto reading,
                   pages_detail::lock_for_reading(layout_.root(), settings_.lock_timeout));
        DBSAFE_TRY(const snapshot_object object, load_object(m));
        auto chain = load_page_chain(layout_.lists(), object, m.id);
        if (!chain) return chain.error().within("", pages_detail::repository_advice());
        // A damaged index file fails only the snapshots needing a page it alone located.
        std::vector<damaged_index_file> damaged;
        DBSAFE_TRY(const page_index index, load_page_index(layout_.index(), &damaged));
        if (!damaged.empty()) {
            for (std::size_t i = 0; i < chain.value().pages.size(); ++i) {
                if (index.find(chain.value().pages[i]) != nullptr) continue;
                return error(errc::checksum_mismatch,
                             "page " + std::to_string(i + 1) + " of snapshot " + m.id +
                                 " could only be located by a damaged index file: " +
                                 damaged.front().why.message + pages_detail::repository_advice())
                    .because(damaged.front().why);
            }
        }
        const auto scratch = settings_.scratch.empty() ? location() : settings_.scratch;
        DBSAFE_TRYV(file_ops::ensure_directory(scratch));
        DBSAFE_TRY(auto made, file_ops::create_scratch_file(scratch, m.id));
        auto& [tmp, fd] = made;
        auto rebuilt =
            pages_detail::reconstruct_pages(layout_, index, chain.value().pages, object.page_size,
                                            fd.get(), tmp, m.id, m.checksum, on_progress);
        fd.reset();
        if (!rebuilt) {
            (void)file_ops::remove_file(tmp);
            return rebuilt.as_failure();
        }
        m.data_path = layout_.object(m.id);
        return readable_backup::temporary_copy(std::move(m), std::move(tmp));
    }

    // Manifest, then <id>.pages (local_directory's order). The pages stay until garbage
    // collection finds no snapshot that needs them.
    result<void> remove(std::string_view id) { return dir_.remove(id); }
    result<void> remove_debris(const debris& d) { return dir_.remove_debris(d); }

    // Sizes and deduplication of the repository (see repository_stats).
    [[nodiscard]] result<repository_stats> stats() const {
        repository_stats s;
        DBSAFE_TRY(const listing l, dir_.list());
        for (const auto& m : l.backups) {
            s.plain_equivalent_bytes += m.size_bytes;
            if (!m.pages) continue;
            ++s.snapshots;
            s.logical_bytes += m.size_bytes;
            s.stored_bytes += m.pages->object_size;
        }
        DBSAFE_TRY(const page_index index, load_page_index(layout_.index()));
        s.packs = index.packs.size();
        for (std::size_t i = 0; i < index.pages.size(); ++i) {
            if (i == 0 || index.pages[i].digest != index.pages[i - 1].digest) ++s.unique_pages;
        }
        for (const auto& folder : {layout_.packs(), layout_.index(), layout_.lists()}) {
            std::error_code ec;
            for (auto it = std::filesystem::directory_iterator(folder, ec);
                 !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
                const auto name = it->path().filename().string();
                if (name.ends_with(".tmp")) continue;
                s.stored_bytes += file_ops::file_size_or_zero(it->path());
            }
        }
        if (s.stored_bytes > 0) {
            s.dedup_ratio =
                static_cast<double>(s.logical_bytes) / static_cast<double>(s.stored_bytes);
        }
        return s;
    }

    // Frees what removed snapshots alone needed (pages/garbage_collection.hpp); prune() runs it
    // after its removals. Waits up to lock_timeout for running backups.
    result<gc_report> collect_garbage(const gc_options& opts) {
        return pages_detail::collect_garbage(layout_, opts, settings_.lock_timeout);
    }

    // Whether every page snapshot can still be restored, and which ones each damaged object
    // takes down (pages/repository_check.hpp).
    [[nodiscard]] result<check_report> check(check_depth depth) const {
        DBSAFE_TRY(const listing l, dir_.list());
        return pages_detail::check_repository(layout_, l, depth, settings_.lock_timeout);
    }

  private:
    struct session {
        repository_lock lock;
        // Shared with the vault's staged_backup::sink, which may outlive the session briefly.
        std::shared_ptr<pages_detail::page_intake> intake;
    };
    // Shared by copies of this object, so a copied vault still finds its staged backups.
    struct shared_state {
        std::mutex mutex;
        std::map<std::string, session> running;
        page_commit_stats last;
    };
    // A snapshot the new one may build on, and the one whose pages the change cache reused.
    struct base_snapshot {
        std::string id;
        snapshot_object object;
    };

    static zstd_settings with_scratch(zstd_settings files, const std::filesystem::path& scratch) {
        if (files.scratch.empty()) files.scratch = scratch;
        return files;
    }

    static result<void> write_config(const repository_layout& layout, const repository_config& c,
                                     bool replace) {
        const auto path = layout.config();
        const auto text = repository_config_text(c);
        if (!replace) {
            auto published = file_ops::publish_small_file(path, text);
            if (!published && published.error().code == std::errc::file_exists) {
                return success();  // another process created it first: theirs stands
            }
            DBSAFE_TRYV(published);
        } else {
            auto tmp = path;
            tmp += "." + std::to_string(::getpid()) + ".tmp";
            (void)file_ops::remove_file(tmp);
            DBSAFE_TRY(auto fd, file_ops::create_exclusive(tmp));
            auto written = file_ops::write_all(fd.get(), std::as_bytes(std::span(text)), tmp);
            if (written) written = file_ops::sync_fd(fd.get(), tmp);
            fd.reset();
            if (written) written = file_ops::rename_replace(tmp, path);
            if (!written) (void)file_ops::remove_file(tmp);
            DBSAFE_TRYV(written);
        }
        return file_ops::sync_directory(layout.root());
    }

    // The repository's config, created (without a default format) on first use.
    result<repository_config> ensure_config() {
        DBSAFE_TRY(auto existing, pages_detail::load_repository_config(layout_.root()));
        if (existing) return *existing;
        repository_config c;
        c.level = settings_.level;
        DBSAFE_TRYV(write_config(layout_, c, false));
        DBSAFE_TRY(auto now, pages_detail::load_repository_config(layout_.root()));
        if (!now) return error(errc::not_found, layout_.config().string() + " vanished");
        return *now;
    }

    [[nodiscard]] result<snapshot_object> load_object(const manifest& m) const {
        const auto path = layout_.object(m.id);
        DBSAFE_TRY(const auto bytes,
                   pages_detail::read_whole_file(path, pages_detail::max_object_bytes));
        auto object = parse_snapshot_object(bytes, path.string());
        if (!object) {
            return object.error().within("backup " + m.id, pages_detail::repository_advice());
        }
        if (object.value().page_size != static_cast<std::uint64_t>(m.page_size) ||
            object.value().page_size * object.value().page_count != m.size_bytes) {
            return error(errc::checksum_mismatch,
                         "snapshot object " + path.string() + " describes " +
                             std::to_string(object.value().page_count) + " pages of " +
                             std::to_string(object.value().page_size) +
                             " bytes, but the manifest of backup " + m.id + " records " +
                             std::to_string(m.size_bytes) + " bytes in pages of " +
                             std::to_string(m.page_size) + pages_detail::repository_advice());
        }
        return object;
    }

    // The newest page snapshot of `source` with pages of `page_size` whose object can be read;
    // nullopt when there is none (or its object is damaged: the new snapshot then starts
    // afresh rather than build on a damaged chain).
    std::optional<base_snapshot> newest_base(const std::string& source,
                                             std::uint32_t page_size) const {
        auto l = dir_.list();
        if (!l) return std::nullopt;
        for (const auto& m : l.value().backups) {
            if (!m.pages || m.source_path != source ||
                m.page_size != static_cast<std::int64_t>(page_size)) {
                continue;
            }
            auto object = load_object(m);
            if (!object) return std::nullopt;
            return base_snapshot{m.id, std::move(object).value()};
        }
        return std::nullopt;
    }

    [[nodiscard]] result<pages_detail::page_chain_stream> chain_stream(
        const base_snapshot& b) const {
        return pages_detail::page_chain_stream::open(layout_.lists(), b.object, b.id);
    }

    // The delta that turns `base`'s pages into `pages`, when the chain may grow by it (at most
    // max_chain_lists lists, deltas of at most page_count / 8 entries in all, no list of more
    // than twice the pages): the two lists are walked side by side, so only the changes are
    // held, and the walk stops once they are too many. nullopt: store a full list (also when
    // the base's lists cannot be read).
    [[nodiscard]] result<std::optional<page_list>> delta_on(
        const base_snapshot& base, const pages_detail::page_spool& pages) const {
        const std::uint64_t count = pages.size();
        if (base.object.lists.size() + 1 > pages_detail::max_chain_lists) return std::nullopt;
        auto before = chain_stream(base);
        if (!before || before.value().largest_count > 2 * count ||
            before.value().delta_entries > count / 8) {
            return std::nullopt;
        }
        const std::uint64_t room = count / 8 - before.value().delta_entries;
        page_list delta{
            .kind = page_list_kind::delta, .page_count = count, .pages = {}, .changes = {}};
        auto after_reader = pages.read();
        pages_detail::digest_cursor after(after_reader);
        pages_detail::digest_cursor was(before.value());
        for (std::uint64_t number = 1;; ++number) {
            DBSAFE_TRY(const page_digest* now, after.next());
            if (now == nullptr) break;
            auto old = was.next();
            if (!old) return std::nullopt;  // the base is damaged: start afresh
            if (old.value() != nullptr && *old.value() == *now) continue;
            if (delta.changes.size() == room) return std::nullopt;
            delta.changes.push_back({number, *now});
        }
        if (!before.value().finish()) return std::nullopt;
        return std::optional(std::move(delta));
    }

    // The snapshot the change cache describes cannot be read back (its object or a list is
    // damaged; the check names it). That must not stop new backups: every address the cache
    // gave must then at least be stored (rare, so the index is read again for it).
    result<std::uint64_t> cached_addresses_stored(const pages_detail::followed_pages& f,
                                                  const error& why) const {
        const auto advice = [&](const std::string& what) {
            return error(errc::checksum_mismatch,
                         "snapshot " + f.cached_from +
                             ", whose pages the change cache reused, cannot be read back (" +
                             why.message + ") and " + what +
                             "; the cache was removed: run the backup again (every page will be "
                             "hashed)")
                .because(why);
        };
        auto stored = load_stored_digests(layout_.index());
        if (!stored) return advice("the index cannot be read: " + stored.error().message);
        std::uint64_t vouched = 0;
        auto reader = f.pages.read();
        pages_detail::digest_cursor pages(reader);
        for (std::size_t i = 0; i < f.cached.size(); ++i) {
            DBSAFE_TRY(const page_digest* d, pages.next());
            if (d == nullptr) break;
            if (!f.cached[i]) continue;
            ++vouched;
            if (!std::binary_search(stored.value().begin(), stored.value().end(), *d)) {
                return advice("page " + std::to_string(i + 1) + "'s cached address " +
                              d->short_hex() + " is not in the repository");
            }
        }
        return vouched;
    }

    // Every address the change cache vouched for must be the page list's of the snapshot the
    // cache describes, at the same page number (pages/change_cache.hpp): the cache is a hint,
    // never the record. Both lists are walked side by side. Returns how many pages it vouched
    // for.
    result<std::uint64_t> check_cached_addresses(const pages_detail::followed_pages& f,
                                                 const std::optional<base_snapshot>& newest) const {
        auto described = [&]() -> result<pages_detail::page_chain_stream> {
            if (newest && newest->id == f.cached_from) return chain_stream(*newest);
            DBSAFE_TRY(const manifest m, dir_.load_manifest(f.cached_from));
            DBSAFE_TRY(auto object, load_object(m));
            return chain_stream(base_snapshot{m.id, std::move(object)});
        }();
        if (!described) return cached_addresses_stored(f, described.error());
        auto reader = f.pages.read();
        pages_detail::digest_cursor pages(reader);
        pages_detail::digest_cursor listed(described.value());
        std::uint64_t vouched = 0;
        std::optional<error> wrong;
        for (std::size_t i = 0; i < f.cached.size() && !wrong; ++i) {
            DBSAFE_TRY(const page_digest* d, pages.next());
            if (d == nullptr) break;
            auto there = listed.next();
            if (!there) return cached_addresses_stored(f, there.error());
            if (!f.cached[i]) continue;
            ++vouched;
            if (there.value() != nullptr && *there.value() == *d) continue;
            wrong = error(errc::checksum_mismatch,
                          "the change cache of " + layout_.caches().string() + " gave page " +
                              std::to_string(i + 1) + " the address " + d->short_hex() +
                              ", but snapshot " + f.cached_from + " lists " +
                              (there.value() != nullptr ? there.value()->short_hex()
                                                        : std::string("no page")) +
                              " there; the cache was removed: run the backup again (every page "
                              "will be hashed)");
        }
        // What was read from the list counts only once the list proved whole.
        if (auto whole = described.value().finish(); !whole) {
            return cached_addresses_stored(f, whole.error());
        }
        if (wrong) return *wrong;
        return vouched;
    }

    session take(const std::string& id) {
        const std::lock_guard lock(state_->mutex);
        auto it = state_->running.find(id);
        if (it == state_->running.end()) return {};
        auto r = std::move(it->second);
        state_->running.erase(it);
        return r;
    }

    local_directory dir_;
    zstd_archive files_;
    page_repository_settings settings_;
    repository_layout layout_;
    std::shared_ptr<shared_state> state_ = std::make_shared<shared_state>();
};

static_assert(storage_target<page_repository>);
static_assert(reports_unpacking<page_repository>);
static_assert(collects_garbage<page_repository>);
static_assert(checks_repository<page_repository>);

}  // namespace dbsafe
