// Garbage collection of the page repository: removing a snapshot removes only its manifest and
// snapshot object; the pages, lists and packs it alone needed stay until this runs (prune runs
// it after its removals, storage/garbage_collection.hpp).
//
// Live = every list and page digest named by any snapshot object `<id>.pages` in the
// directory: listed backups, backups whose manifest is damaged, and objects whose manifest is
// gone (debris until swept). A damaged backup may still be repaired; collecting what it needs
// would make that impossible. Pages are taken from every list of a chain, so a page a later
// delta replaced stays while the chain does: a superset of what the snapshots need, never less.
// If any object or list cannot be read, nothing is removed: its pages cannot be told from
// garbage. A damaged index file is replaced by the consolidated one (the packs' own entry
// tables locate its pages again).
//
// Steps, each durable before the next (a kill between any two never loses a page a remaining
// snapshot needs, because at every moment the index files on disk locate every live page in a
// pack that exists):
//  1. the live pages of packs that are more than half garbage are copied into new packs
//     (read, checked against their SHA-256, written and fsynced);
//  2. one consolidated index file of every live page's location is written and fsynced;
//  3. the other index files are deleted (and the folder fsynced); if one cannot be, the
//     collection stops here: it still references packs step 4 would remove;
//  4. packs no index file references any more, and lists no object names, are deleted;
//  5. temporary files of killed writers older than the grace period are deleted.
// A pack the index does not list (a backup killed before its index file) is removed unless it
// holds a live page the index lacks (an index file was lost): then it is listed again. A pack
// the index lists but that is missing is dropped from the index: the next backup holding its
// pages stores them again instead of deduplicating against a pack that is gone.
// Holds the repository lock exclusively, so no backup runs meanwhile (a dry run holds it
// shared: it changes nothing).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <iterator>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <utility>
#include <vector>

#include "dbsafe/backends/pages/change_cache.hpp"
#include "dbsafe/backends/pages/content_file.hpp"
#include "dbsafe/backends/pages/index_file.hpp"
#include "dbsafe/backends/pages/pack_file.hpp"
#include "dbsafe/backends/pages/page_digest.hpp"
#include "dbsafe/backends/pages/page_list.hpp"
#include "dbsafe/backends/pages/page_store.hpp"
#include "dbsafe/backends/pages/reconstruct.hpp"
#include "dbsafe/backends/pages/repository_config.hpp"
#include "dbsafe/backends/pages/repository_layout.hpp"
#include "dbsafe/backends/pages/repository_lock.hpp"
#include "dbsafe/backends/pages/snapshot_object.hpp"
#include "dbsafe/error.hpp"
#include "dbsafe/storage/debris_triage.hpp"
#include "dbsafe/storage/file_operations.hpp"
#include "dbsafe/storage/garbage_collection.hpp"

namespace dbsafe::pages_detail {

// The lock a reader of packs and index files (a restore, a check) holds shared, so a
// collection never removes a file under it: the reader waits for a running collection instead
// of failing on a pack it just removed. A lock file the reader cannot open (a read-only
// directory) is no reason to refuse reading: it reads unlocked.
inline result<repository_lock> lock_for_reading(const std::filesystem::path& root,
                                                std::chrono::milliseconds timeout) {
    auto lock = repository_lock::acquire(root, repository_lock_mode::shared, timeout);
    if (!lock && lock.error().is(errc::busy_timeout)) return lock.as_failure();
    if (!lock) return repository_lock{};
    return lock;
}

struct named_file {
    page_digest digest;
    std::filesystem::path path;
    std::uint64_t size = 0;
};

// The content-addressed files `<64 hex><extension>` in `dir`, sorted by digest (a missing
// folder holds none). Other names are not dbsafe's and are never touched.
inline result<std::vector<named_file>> content_files(const std::filesystem::path& dir,
                                                     std::string_view extension) {
    std::vector<named_file> out;
    std::error_code ec;
    if (!std::filesystem::exists(dir, ec)) return out;
    for (auto it = std::filesystem::directory_iterator(dir, ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
        const auto name = it->path().filename().string();
        if (name.size() != 64 + extension.size() || !name.ends_with(extension)) continue;
        const auto d = page_digest::from_hex(std::string_view(name).substr(0, 64));
        if (!d || !file_ops::is_regular_no_follow(it->path())) continue;
        out.push_back({*d, it->path(), file_ops::file_size_or_zero(it->path())});
    }
    if (ec) return errno_error(ec.value(), "cannot list " + dir.string() + ": " + ec.message());
    std::sort(out.begin(), out.end(),
              [](const named_file& a, const named_file& b) { return a.digest < b.digest; });
    return out;
}

// What the snapshot objects in the directory name.
struct live_digests {
    std::vector<page_digest> lists;  // sorted, unique
    std::vector<page_digest> pages;  // sorted, unique
    std::uint64_t objects = 0;
};

inline bool contains_sorted(const std::vector<page_digest>& v, const page_digest& d) {
    return std::binary_search(v.begin(), v.end(), d);
}

inline error gc_stopped(const error& why) {
    return why.within("garbage collection removed nothing",
                      ": the pages it needs cannot be told from garbage (check the repository: "
                      "`dbsafe verify --dir DIR --read-data`; remove a backup that cannot be "
                      "repaired by hand)");
}

// Every `<id>.pages` in `layout.directory` but those of `skip`, and what they name.
inline result<live_digests> collect_live(const repository_layout& layout,
                                         const std::vector<std::string>& skip) {
    live_digests live;
    std::map<page_digest, std::uint64_t> lists;  // list -> the largest page count naming it
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator(layout.directory, ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
        const auto name = it->path().filename().string();
        if (!name.ends_with(".pages") || name.size() == 6) continue;
        const auto id = name.substr(0, name.size() - 6);
        if (std::find(skip.begin(), skip.end(), id) != skip.end()) continue;
        if (!file_ops::is_regular_no_follow(it->path())) continue;
        auto bytes = read_whole_file(it->path(), max_object_bytes);
        if (!bytes) {
            if (bytes.error().is(errc::not_found)) continue;  // removed meanwhile by a prune
            return gc_stopped(bytes.error());
        }
        auto object = parse_snapshot_object(bytes.value(), it->path().string());
        if (!object) return gc_stopped(object.error());
        ++live.objects;
        for (const auto& l : object.value().lists) {
            auto& count = lists[l];
            count = std::max(count, object.value().page_count);
        }
    }
    if (ec) {
        return errno_error(ec.value(),
                           "cannot list " + layout.directory.string() + ": " + ec.message());
    }
    for (const auto& [digest, count] : lists) {
        live.lists.push_back(digest);
        const auto path = layout.list(digest);
        auto bytes = read_content_file(path, digest, list_bytes_limit(count));
        if (!bytes) return gc_stopped(bytes.error());
        auto list = parse_page_list(bytes.value(), path.string());
        if (!list) return gc_stopped(list.error());
        live.pages.insert(live.pages.end(), list.value().pages.begin(), list.value().pages.end());
        for (const auto& c : list.value().changes) live.pages.push_back(c.digest);
    }
    std::sort(live.pages.begin(), live.pages.end());
    live.pages.erase(std::unique(live.pages.begin(), live.pages.end()), live.pages.end());
    return live;
}

inline pack_entry to_entry(const located_page& p) {
    return {p.digest, p.frame_offset, p.frame_length, p.offset_in_frame, p.page_length};
}

// Removes `path` (counted in `report`), or notes why it could not be: what stays is garbage
// the next collection removes, never a loss.
inline void remove_garbage(const std::filesystem::path& path, std::uint64_t size, bool dry_run,
                           gc_report& report, std::uint64_t& counter) {
    if (!dry_run) {
        if (auto removed = file_ops::remove_file(path); !removed) {
            report.failures.push_back(removed.error().message);
            return;
        }
    }
    ++counter;
    report.bytes_removed += size;
}

// Whether the snapshot the change cache at `path` describes still has its object (a cache
// that cannot be read describes nothing).
inline bool cache_snapshot_exists(const repository_layout& layout,
                                  const std::filesystem::path& path) {
    auto fd = file_ops::open_for_read(path);
    if (!fd) return false;
    const auto h = read_cache_header(fd.value().get(), path);
    return h && file_ops::is_regular_no_follow(layout.object(h->snapshot_id));
}

inline result<gc_report> collect_garbage(const repository_layout& layout, const gc_options& opts,
                                         std::chrono::milliseconds lock_timeout) {
    gc_report report;
    report.dry_run = opts.dry_run;
    std::error_code ec;
    if (!std::filesystem::is_directory(layout.root(), ec)) return report;  // no repository
    DBSAFE_TRY(const auto config, load_repository_config(layout.root()));  // refuses a newer one
    const repository_config cfg = config.value_or(repository_config{});
    DBSAFE_TRY(auto lock, repository_lock::acquire(layout.root(),
                                                   opts.dry_run ? repository_lock_mode::shared
                                                                : repository_lock_mode::exclusive,
                                                   lock_timeout));
    const auto now = opts.now.value_or(std::chrono::system_clock::now());
    DBSAFE_TRY(
        const live_digests live,
        collect_live(layout, opts.dry_run ? opts.assume_removed : std::vector<std::string>{}));
    report.live_pages = live.pages.size();
    // A damaged index file is replaced by the consolidated one: the live pages it located are
    // found again in their packs' own tables (below, "listed by no index").
    std::vector<damaged_index_file> damaged;
    auto loaded = load_page_index(layout.index(), &damaged);
    if (!loaded) return gc_stopped(loaded.error());
    const page_index& index = loaded.value();
    for (const auto& d : damaged) {
        report.notes.push_back(d.why.message + "; replaced by the consolidated index");
    }
    DBSAFE_TRY(const auto pack_files, content_files(layout.packs(), ".pack"));

    // Per indexed pack: whether it is on disk, its distinct pages, and the live ones.
    const std::size_t n = index.packs.size();
    std::vector<bool> on_disk(n, false);
    std::vector<std::uint64_t> size(n, 0), total(n, 0), live_count(n, 0);
    std::vector<const named_file*> unindexed;
    std::vector<std::pair<page_digest, std::size_t>> numbers;  // sorted: pack -> its number
    for (std::size_t i = 0; i < n; ++i) numbers.emplace_back(index.packs[i], i);
    std::sort(numbers.begin(), numbers.end());
    for (const auto& f : pack_files) {
        const auto it =
            std::lower_bound(numbers.begin(), numbers.end(), f.digest,
                             [](const auto& p, const page_digest& key) { return p.first < key; });
        if (it == numbers.end() || it->first != f.digest) {
            unindexed.push_back(&f);
            continue;
        }
        const std::size_t i = it->second;
        on_disk[i] = true;
        size[i] = f.size;
    }
    const auto groups = [&](auto&& each) {  // each run of locations of one digest
        for (std::size_t i = 0; i < index.pages.size();) {
            std::size_t j = i;
            while (j < index.pages.size() && index.pages[j].digest == index.pages[i].digest) ++j;
            each(std::span(index.pages).subspan(i, j - i));
            i = j;
        }
    };
    groups([&](std::span<const located_page> locs) {
        const bool is_live = contains_sorted(live.pages, locs.front().digest);
        std::vector<std::uint32_t> seen;
        for (const auto& l : locs) {
            if (std::find(seen.begin(), seen.end(), l.pack) != seen.end()) continue;
            seen.push_back(l.pack);
            ++total[l.pack];
            if (is_live) ++live_count[l.pack];
        }
    });
    // One location per live page: in a pack on disk, the one with the most live pages.
    std::vector<std::vector<located_page>> chosen(n);
    std::vector<page_digest> located;  // live pages the index locates, sorted
    groups([&](std::span<const located_page> locs) {
        if (!contains_sorted(live.pages, locs.front().digest)) return;
        const located_page* best = &locs.front();
        for (const auto& l : locs) {
            if (std::pair{on_disk[l.pack], live_count[l.pack]} >
                std::pair{on_disk[best->pack], live_count[best->pack]}) {
                best = &l;
            }
        }
        chosen[best->pack].push_back(*best);
        // Only a pack on disk locates it: a page whose packs are all gone may still be found
        // in a pack no index lists.
        if (on_disk[best->pack]) located.push_back(best->digest);
    });

    // Live pages dropped with a missing pack: every change cache may vouch for them (step 5).
    bool dropped_live_pages = false;
    std::vector<index_pack> kept;       // packs staying, with their live entries
    std::vector<std::size_t> rewrite;   // packs to copy the live pages out of
    std::vector<named_file> to_remove;  // packs to delete at step 4
    for (std::size_t i = 0; i < n; ++i) {
        const auto path = layout.pack(index.packs[i]);
        if (chosen[i].empty()) {
            if (on_disk[i]) to_remove.push_back({index.packs[i], path, size[i]});
            continue;  // a missing pack nobody needs: its entries are dropped
        }
        if (!on_disk[i]) {
            dropped_live_pages = true;
            // Its entries are dropped, so the next backup of a database holding these pages
            // stores them again (and the snapshots needing them restore again: pages are found
            // by content). Until then the check names the snapshots they take down.
            report.notes.push_back("pack " + path.string() +
                                   " is missing: " + std::to_string(chosen[i].size()) +
                                   " pages remaining backups need were in it; they are dropped "
                                   "from the index, so the next backup holding them stores them "
                                   "again (check the repository to see which backups are "
                                   "affected)");
            continue;
        }
        if (chosen[i].size() * 2 < total[i]) {
            rewrite.push_back(i);
            continue;
        }
        std::vector<pack_entry> entries;
        for (const auto& l : chosen[i]) entries.push_back(to_entry(l));
        kept.push_back({index.packs[i], std::move(entries)});
    }

    // Packs no index lists: debris of a killed backup, unless they hold live pages the index
    // has lost (then they are listed again).
    std::vector<page_digest> unlocated;
    std::set_difference(live.pages.begin(), live.pages.end(), located.begin(), located.end(),
                        std::back_inserter(unlocated));
    for (const named_file* f : unindexed) {
        if (unlocated.empty()) {
            to_remove.push_back(*f);
            continue;
        }
        auto bytes = read_content_file(f->path, f->digest, max_pack_bytes);
        auto entries = bytes ? parse_pack(bytes.value(), f->path.string())
                             : result<std::vector<pack_entry>>(bytes.as_failure());
        if (!entries) {
            report.notes.push_back(
                "pack " + f->path.string() + " is listed by no index and cannot be read (" +
                entries.error().message + "); kept, since pages some backups need are missing");
            continue;
        }
        std::vector<pack_entry> adopted;
        for (const auto& e : entries.value()) {
            if (contains_sorted(unlocated, e.digest)) adopted.push_back(e);
        }
        if (adopted.empty()) {
            to_remove.push_back(*f);
        } else {
            report.notes.push_back("pack " + f->path.string() +
                                   " was listed by no index but holds " +
                                   std::to_string(adopted.size()) +
                                   " pages remaining backups need: it is listed again");
            kept.push_back({f->digest, std::move(adopted)});
        }
    }

    // 1. Copy the live pages of mostly-garbage packs into new packs.
    std::vector<index_pack> written;
    if (!opts.dry_run && !rewrite.empty()) {
        page_store store(layout.packs(), {cfg.level, cfg.frame_pages, cfg.pack_bytes}, {});
        frame_reader reader(layout, index);
        std::uint64_t number = 0;
        for (const std::size_t i : rewrite) {
            auto& pages = chosen[i];
            std::sort(pages.begin(), pages.end(), [](const located_page& a, const located_page& b) {
                return std::pair{a.frame_offset, a.offset_in_frame} <
                       std::pair{b.frame_offset, b.offset_in_frame};
            });
            const auto path = layout.pack(index.packs[i]);
            bool read_all = true;
            for (const auto& l : pages) {
                auto bytes = reader.page(l, [&] { return "page " + l.digest.short_hex(); });
                if (!bytes) {
                    report.notes.push_back(
                        "pack " + path.string() +
                        " was not rewritten, it is kept: " + bytes.error().message);
                    read_all = false;
                    break;
                }
                DBSAFE_TRYV(store.add(++number, bytes.value(), l.digest));
            }
            if (!read_all) {
                std::vector<pack_entry> entries;
                for (const auto& l : pages) entries.push_back(to_entry(l));
                kept.push_back({index.packs[i], std::move(entries)});
                continue;
            }
            ++report.packs_rewritten;
            to_remove.push_back({index.packs[i], path, size[i]});
        }
        DBSAFE_TRYV(store.flush());
        if (store.packs_written() > 0) {
            DBSAFE_TRY(const auto bytes, store.index_file());
            DBSAFE_TRY(written, parse_index(bytes, "the new packs' index"));
        }
        report.packs_written = written.size();
        report.bytes_written += store.bytes_added();
        if (!written.empty()) DBSAFE_TRYV(file_ops::sync_directory(layout.packs()));
    } else if (opts.dry_run) {
        for (const std::size_t i : rewrite) {
            ++report.packs_rewritten;
            to_remove.push_back({index.packs[i], layout.pack(index.packs[i]), size[i]});
        }
    }

    // 2. One index file of every live location, durable before any other is removed.
    std::vector<index_pack> consolidated = kept;
    consolidated.insert(consolidated.end(), written.begin(), written.end());
    // Entries in pack order: the same live set always gives the same file, so a collection
    // with nothing to do writes nothing.
    for (auto& p : consolidated) {
        std::sort(p.entries.begin(), p.entries.end(), [](const pack_entry& a, const pack_entry& b) {
            return std::tie(a.frame_offset, a.offset_in_frame, a.digest) <
                   std::tie(b.frame_offset, b.offset_in_frame, b.digest);
        });
    }
    std::sort(consolidated.begin(), consolidated.end(),
              [](const index_pack& a, const index_pack& b) {
                  return std::pair{a.pack, b.entries.size()} < std::pair{b.pack, a.entries.size()};
              });
    // The same pack twice (a rewrite produced a pack already there): the fuller entry stays.
    consolidated.erase(
        std::unique(consolidated.begin(), consolidated.end(),
                    [](const index_pack& a, const index_pack& b) { return a.pack == b.pack; }),
        consolidated.end());
    std::optional<std::filesystem::path> new_index;
    if (!opts.dry_run && !consolidated.empty()) {
        DBSAFE_TRY(const stored_file f,
                   store_content_file(layout.index(), ".idx", encode_index(consolidated)));
        if (f.created) report.bytes_written += file_ops::file_size_or_zero(f.path);
        DBSAFE_TRYV(file_ops::sync_directory(layout.index()));
        new_index = f.path;
    }

    // 3. The other index files. A dry run does not count them: which ones the new file
    // replaces depends on the packs step 1 would write.
    if (!opts.dry_run) {
        std::vector<std::filesystem::path> old_files = index.files;
        for (const auto& d : damaged) old_files.push_back(d.path);
        for (const auto& f : old_files) {
            if (new_index && f == *new_index) continue;
            const auto bytes = file_ops::file_size_or_zero(f);
            if (auto removed = file_ops::remove_file(f); !removed) {
                // It still references packs step 4 would remove: stop, nothing is lost.
                return removed.error().within("",
                                              "; garbage collection stopped before "
                                              "removing any pack, the next one resumes");
            }
            ++report.index_files_removed;
            report.bytes_removed += bytes;
        }
        DBSAFE_TRYV(file_ops::sync_directory(layout.index()));
    }

    // 4. Packs no index file references, lists no object names.
    for (const auto& f : to_remove) {
        const bool still_listed =
            std::any_of(consolidated.begin(), consolidated.end(),
                        [&](const index_pack& p) { return p.pack == f.digest; });
        if (!still_listed)
            remove_garbage(f.path, f.size, opts.dry_run, report, report.packs_removed);
    }
    DBSAFE_TRY(const auto list_files, content_files(layout.lists(), ".list"));
    for (const auto& f : list_files) {
        if (!contains_sorted(live.lists, f.digest)) {
            remove_garbage(f.path, f.size, opts.dry_run, report, report.lists_removed);
        }
    }
    if (!opts.dry_run) {
        DBSAFE_TRYV(file_ops::sync_directory(layout.packs()));
        DBSAFE_TRYV(file_ops::sync_directory(layout.lists()));
    }

    // 5. Change caches of snapshots that are gone (a cache is a hint about one snapshot:
    // without it, the cache is never used again), or all of them when live pages were dropped
    // with a missing pack (a cache would keep vouching for pages no index locates any more,
    // where the next backup must store them again); then temporary files of killed writers.
    for (auto it = std::filesystem::directory_iterator(layout.caches(), ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
        if (!it->path().filename().string().ends_with(".cache")) continue;
        if (!file_ops::is_regular_no_follow(it->path())) continue;
        if (!dropped_live_pages && cache_snapshot_exists(layout, it->path())) continue;
        remove_garbage(it->path(), file_ops::file_size_or_zero(it->path()), opts.dry_run, report,
                       report.caches_removed);
    }
    ec.clear();
    for (const auto& dir :
         {layout.root(), layout.packs(), layout.index(), layout.lists(), layout.caches()}) {
        for (auto it = std::filesystem::directory_iterator(dir, ec);
             !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
            if (!it->path().filename().string().ends_with(".tmp")) continue;
            if (!file_ops::is_regular_no_follow(it->path())) continue;
            const auto age = detail::untouched_for(it->path(), now);
            if (!age || age.value() < opts.debris_grace) continue;
            remove_garbage(it->path(), file_ops::file_size_or_zero(it->path()), opts.dry_run,
                           report, report.temp_files_removed);
        }
        ec.clear();
    }
    lock.release();
    return report;
}

}  // namespace dbsafe::pages_detail
