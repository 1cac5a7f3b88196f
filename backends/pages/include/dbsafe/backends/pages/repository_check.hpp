// Checking the page repository (page_repository::check): can every page snapshot still be put
// back, and if not, which ones does each damaged object take down? A pack or a list is shared
// by many snapshots, so every problem names the backups it affects (storage/repository_check.hpp).
//
//  - structure: the config parses; every index file hashes to its name and parses; every
//    snapshot's object parses and agrees with its manifest; every list of its chain exists,
//    hashes to its name and parses, and the chain gives the object's page count; every page is
//    in the index; every pack the index names exists, starts and ends like a pack and its entry
//    table (the trailer) agrees with the index and with the file's length. No page is read.
//  - read_data: also every pack is read whole (it must hash to its name and match its
//    trailer's checksum) and every frame holding a page some snapshot needs is decompressed
//    and each such page hashed against its address.
// One damaged index file does not hide the others: each is read on its own, and the pages it
// alone located are reported missing, naming it. Holds the repository lock shared, so a
// garbage collection does not remove files under it.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <iterator>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "dbsafe/backends/pages/byte_codec.hpp"
#include "dbsafe/backends/pages/content_file.hpp"
#include "dbsafe/backends/pages/garbage_collection.hpp"
#include "dbsafe/backends/pages/index_file.hpp"
#include "dbsafe/backends/pages/pack_file.hpp"
#include "dbsafe/backends/pages/page_list.hpp"
#include "dbsafe/backends/pages/reconstruct.hpp"
#include "dbsafe/backends/pages/repository_config.hpp"
#include "dbsafe/backends/pages/repository_layout.hpp"
#include "dbsafe/backends/pages/repository_lock.hpp"
#include "dbsafe/backends/pages/snapshot_object.hpp"
#include "dbsafe/error.hpp"
#include "dbsafe/manifest.hpp"
#include "dbsafe/storage/file_operations.hpp"
#include "dbsafe/storage/repository_check.hpp"
#include "dbsafe/storage/storage_target.hpp"

namespace dbsafe::pages_detail {

// Problems keyed by object, each gathering the snapshots it affects.
class problem_log {
  public:
    void add(const std::string& object, const std::string& what, const std::string& id = {}) {
        auto [it, added] = at_.try_emplace(object, list_.size());
        if (added) list_.push_back({object, what, {}});
        if (!id.empty()) list_[it->second].snapshots.push_back(id);
    }
    std::vector<repository_problem> finish() && {
        for (auto& p : list_) {
            std::sort(p.snapshots.begin(), p.snapshots.end());
            p.snapshots.erase(std::unique(p.snapshots.begin(), p.snapshots.end()),
                              p.snapshots.end());
        }
        return std::move(list_);
    }

  private:
    std::vector<repository_problem> list_;
    std::map<std::string, std::size_t> at_;
};

// What the head and trailer of a pack say, read without reading its frames.
struct pack_shape {
    bool present = false;  // false: missing or cannot be opened (see problem)
    std::uint64_t size = 0;
    std::vector<pack_entry> entries;  // its entry table, sorted by digest; empty if unreadable
    std::string problem;              // empty: the pack is shaped like a pack
};

inline pack_shape read_pack_shape(const std::filesystem::path& path) {
    pack_shape out;
    auto fd = file_ops::open_for_read(path);
    if (!fd) {
        out.problem = fd.error().is(errc::not_found) ? std::string("is missing")
                                                     : "cannot be opened: " + fd.error().message;
        return out;
    }
    out.present = true;
    out.size = file_ops::file_size_or_zero(path);
    constexpr std::size_t tail = 4 + pack_trailer_magic.size() + trailer_bytes;
    if (out.size < pack_magic.size() + tail) {
        out.problem =
            "is " + std::to_string(out.size) + " bytes, too short to be a pack (it was truncated)";
        return out;
    }
    std::array<std::byte, 8> head{};
    std::array<std::byte, tail> end{};
    auto got = file_ops::read_at(fd.value().get(), head, 0, path);
    if (got && got.value() == head.size()) {
        got = file_ops::read_at(fd.value().get(), end, out.size - tail, path);
    }
    if (!got || got.value() != end.size()) {
        out.problem = "cannot be read";
        return out;
    }
    if (!byte_reader(head).magic(pack_magic)) {
        out.problem = "does not start like a pack";
        return out;
    }
    byte_reader r(end);
    const std::uint32_t count = r.u32();
    const std::uint64_t table = std::uint64_t{count} * pack_entry_bytes;
    if (!r.magic(pack_trailer_magic) || table > out.size - pack_magic.size() - tail) {
        out.problem = "does not end like a pack (it was truncated or damaged)";
        return out;
    }
    std::vector<std::byte> raw(table);
    got = file_ops::read_at(fd.value().get(), raw, out.size - tail - table, path);
    if (!got || got.value() != raw.size()) {
        out.problem = "cannot be read";
        return out;
    }
    byte_reader t(raw);
    for (std::uint32_t i = 0; i < count; ++i) out.entries.push_back(read_entry(t));
    std::sort(out.entries.begin(), out.entries.end(),
              [](const pack_entry& a, const pack_entry& b) { return a.digest < b.digest; });
    return out;
}

// Why the location `l` in a pack of this shape cannot serve its page; empty: it may.
inline std::string location_problem(const pack_shape& shape, const located_page& l) {
    if (!shape.present) return shape.problem;
    if (std::uint64_t{l.frame_offset} + l.frame_length > shape.size) {
        return "ends before the frame of page " + l.digest.short_hex() + " (it was truncated)";
    }
    if (!shape.problem.empty()) return {};  // no table to compare with: the frame may be intact
    const auto it =
        std::lower_bound(shape.entries.begin(), shape.entries.end(), l.digest,
                         [](const pack_entry& e, const page_digest& d) { return e.digest < d; });
    if (it == shape.entries.end() || *it != to_entry(l)) {
        return "does not hold page " + l.digest.short_hex() +
               " where the index says (the pack or the index is damaged)";
    }
    return {};
}

inline result<check_report> check_repository(const repository_layout& layout, const listing& listed,
                                             check_depth depth,
                                             std::chrono::milliseconds lock_timeout) {
    check_report report;
    report.depth = depth;
    problem_log problems;
    std::vector<const manifest*> snapshots;
    for (const auto& m : listed.backups) {
        if (m.pages) snapshots.push_back(&m);
    }
    report.snapshots = snapshots.size();
    std::error_code ec;
    if (!std::filesystem::is_directory(layout.root(), ec)) {
        for (const manifest* m : snapshots) {
            problems.add(layout.root().string(),
                         "the page repository is missing: no page snapshot can be restored", m->id);
        }
        report.problems = std::move(problems).finish();
        return report;
    }
    DBSAFE_TRY(auto lock, lock_for_reading(layout.root(), lock_timeout));
    if (auto config = load_repository_config(layout.root()); !config) {
        for (const manifest* m : snapshots) {
            problems.add(layout.config().string(), config.error().message, m->id);
        }
    }

    // The index: a damaged file is a problem, the others still locate their pages.
    std::vector<damaged_index_file> damaged;
    DBSAFE_TRY(const page_index index, load_page_index(layout.index(), &damaged));
    std::vector<std::string> damaged_index;
    for (const auto& d : damaged) {
        damaged_index.push_back(d.path.string());
        problems.add(d.path.string(),
                     d.why.message + "; the pages only it located cannot be found");
    }
    report.packs = index.packs.size();

    // Snapshot objects and their chains; lists are read once however many chains share them.
    std::map<page_digest, result<page_list>> lists;
    std::vector<std::optional<snapshot_object>> objects(snapshots.size());
    const auto chain_of = [&](std::size_t s) -> result<std::vector<page_digest>> {
        std::vector<page_digest> pages;
        const snapshot_object& o = *objects[s];
        for (std::size_t i = 0; i < o.lists.size(); ++i) {
            const page_list& l = lists.at(o.lists[i]).value();
            if ((i == 0) != (l.kind == page_list_kind::full)) {
                return error(errc::checksum_mismatch,
                             "its chain has a " + std::string(i == 0 ? "delta" : "full list") +
                                 " at position " + std::to_string(i + 1));
            }
            DBSAFE_TRYV(apply_page_list(pages, l, layout.list(o.lists[i]).string()));
        }
        if (pages.size() != o.page_count) {
            return error(errc::checksum_mismatch, "its lists give " + std::to_string(pages.size()) +
                                                      " pages, it says " +
                                                      std::to_string(o.page_count));
        }
        return pages;
    };
    std::vector<page_digest> needed;
    for (std::size_t s = 0; s < snapshots.size(); ++s) {
        const manifest& m = *snapshots[s];
        const auto path = layout.object(m.id);
        auto bytes = read_whole_file(path, max_object_bytes);
        auto object = bytes ? parse_snapshot_object(bytes.value(), path.string())
                            : result<snapshot_object>(bytes.as_failure());
        if (!object) {
            problems.add(path.string(), object.error().message, m.id);
            continue;
        }
        if (object.value().page_size != static_cast<std::uint64_t>(m.page_size) ||
            object.value().page_size * object.value().page_count != m.size_bytes) {
            problems.add(path.string(),
                         "describes " + std::to_string(object.value().page_count) + " pages of " +
                             std::to_string(object.value().page_size) + " bytes, the manifest " +
                             std::to_string(m.size_bytes) + " bytes",
                         m.id);
            continue;
        }
        bool lists_ok = true;
        for (const auto& d : object.value().lists) {
            auto it = lists.find(d);
            if (it == lists.end()) {
                const auto list_path = layout.list(d);
                auto raw =
                    read_content_file(list_path, d, list_bytes_limit(object.value().page_count));
                it = lists
                         .emplace(d, raw ? parse_page_list(raw.value(), list_path.string())
                                         : result<page_list>(raw.as_failure()))
                         .first;
            }
            if (!it->second) {
                problems.add(layout.list(d).string(), it->second.error().message, m.id);
                lists_ok = false;
            }
        }
        if (!lists_ok) continue;
        objects[s] = std::move(object).value();
        auto pages = chain_of(s);
        if (!pages) {
            problems.add(path.string(),
                         "its page lists do not fit together: " + pages.error().message +
                             " (the object is damaged)",
                         m.id);
            objects[s].reset();
            continue;
        }
        auto& p = pages.value();
        std::sort(p.begin(), p.end());
        p.erase(std::unique(p.begin(), p.end()), p.end());
        std::vector<page_digest> merged;
        merged.reserve(needed.size() + p.size());
        std::set_union(needed.begin(), needed.end(), p.begin(), p.end(),
                       std::back_inserter(merged));
        needed = std::move(merged);
    }
    report.pages = needed.size();

    // Every pack the index names; with read_data, every needed page in it.
    std::vector<std::string> bad(index.pages.size());  // why a location cannot serve; "" = ok
    frame_reader reader(layout, index);
    std::vector<std::vector<std::size_t>> by_pack(index.packs.size());
    for (std::size_t i = 0; i < index.pages.size(); ++i) by_pack[index.pages[i].pack].push_back(i);
    for (std::uint32_t k = 0; k < index.packs.size(); ++k) {
        const auto path = layout.pack(index.packs[k]);
        std::vector<std::size_t>& locs = by_pack[k];
        const pack_shape shape = read_pack_shape(path);
        if (!shape.problem.empty()) problems.add(path.string(), "the pack " + shape.problem);
        for (const std::size_t i : locs) {
            const auto why = location_problem(shape, index.pages[i]);
            if (why.empty()) continue;
            problems.add(path.string(), "the pack " + why);
            bad[i] = path.string();
        }
        if (depth == check_depth::read_data && shape.present) {
            // The whole file: its name is its SHA-256, its trailer its xxh3-128. A damaged
            // pack may still serve most pages: each needed page is then read on its own.
            auto bytes = read_content_file(path, index.packs[k], max_pack_bytes);
            auto parsed = bytes ? parse_pack(bytes.value(), path.string())
                                : result<std::vector<pack_entry>>(bytes.as_failure());
            if (!parsed) problems.add(path.string(), parsed.error().message);
        }
        if (depth != check_depth::read_data) continue;
        std::sort(locs.begin(), locs.end(), [&](std::size_t a, std::size_t b) {
            return std::pair{index.pages[a].frame_offset, index.pages[a].offset_in_frame} <
                   std::pair{index.pages[b].frame_offset, index.pages[b].offset_in_frame};
        });
        for (const std::size_t i : locs) {
            const located_page& l = index.pages[i];
            if (!bad[i].empty() || !contains_sorted(needed, l.digest)) continue;
            auto page = reader.page(l, [&] { return "page " + l.digest.short_hex(); });
            ++report.pages_read;
            if (!page) {
                problems.add(path.string(), page.error().message);
                bad[i] = path.string();
            }
        }
    }

    // Which snapshots each problem takes down: a page is lost when no location serves it.
    for (std::size_t s = 0; s < snapshots.size(); ++s) {
        if (!objects[s]) continue;
        const std::string& id = snapshots[s]->id;
        auto pages = chain_of(s);
        if (!pages) continue;  // reported above
        std::sort(pages.value().begin(), pages.value().end());
        for (std::size_t i = 0; i < pages.value().size(); ++i) {
            const page_digest& d = pages.value()[i];
            if (i > 0 && d == pages.value()[i - 1]) continue;
            auto it = std::lower_bound(
                index.pages.begin(), index.pages.end(), d,
                [](const located_page& p, const page_digest& key) { return p.digest < key; });
            if (it == index.pages.end() || it->digest != d) {
                if (damaged_index.empty()) {
                    problems.add(layout.index().string(),
                                 "pages these backups need are in no index file (an index file "
                                 "or a pack was removed)",
                                 id);
                }
                for (const auto& f : damaged_index) problems.add(f, {}, id);
                continue;
            }
            const std::string* first_bad = nullptr;
            bool served = false;
            for (; it != index.pages.end() && it->digest == d; ++it) {
                const auto& why = bad[static_cast<std::size_t>(it - index.pages.begin())];
                if (why.empty()) {
                    served = true;
                    break;
                }
                if (first_bad == nullptr) first_bad = &why;
            }
            if (!served && first_bad != nullptr) problems.add(*first_bad, {}, id);
        }
    }
    lock.release();
    report.problems = std::move(problems).finish();
    return report;
}

}  // namespace dbsafe::pages_detail
