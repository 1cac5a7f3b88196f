// Page lists: which page goes where, `pages/lists/<sha256>.list`.
//
//   "DBSLIST1" | kind u8 (0 full, 1 delta) | page count after applying (u64) |
//   full:  page count x digest
//   delta: n (u64), n x (page number u64, digest), page numbers ascending |
//   xxh3-128 of all before
//
// Page numbers are SQLite's: 1 is the first page. A snapshot's pages are a full list followed by
// deltas (snapshot_object.hpp): each delta sets the page count (truncating or growing the list)
// and replaces the pages it names; every page it adds must be named. So an incremental backup
// stores its changed pages and a delta of them, not 32 bytes for every page of the database.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dbsafe/backends/pages/byte_codec.hpp"
#include "dbsafe/backends/pages/page_digest.hpp"
#include "dbsafe/error.hpp"

namespace dbsafe {

enum class page_list_kind : std::uint8_t { full = 0, delta = 1 };

struct page_change {
    std::uint64_t page_number = 0;  // 1-based
    page_digest digest;

    friend bool operator==(const page_change&, const page_change&) = default;
};

struct page_list {
    page_list_kind kind = page_list_kind::full;
    std::uint64_t page_count = 0;      // of the database after applying this list
    std::vector<page_digest> pages;    // full: page_count digests, page 1 first
    std::vector<page_change> changes;  // delta: ascending page numbers, 1..page_count

    friend bool operator==(const page_list&, const page_list&) = default;
};

namespace pages_detail {
inline constexpr std::string_view list_magic = "DBSLIST1";
// SQLite's largest page count; no list may describe more.
inline constexpr std::uint64_t max_page_count = 4294967294ULL;
// The most bytes a list in the chain of a snapshot of `page_count` pages can take: no list of a
// chain describes more than twice the snapshot's pages (a database that shrank to less than
// half starts a new base), so a damaged or planted file cannot make a reader allocate more.
inline constexpr std::uint64_t list_bytes_limit(std::uint64_t page_count) {
    return 64 + 40 * (2 * page_count + 1024);
}
}  // namespace pages_detail

inline std::vector<std::byte> encode_page_list(const page_list& l) {
    pages_detail::byte_writer w;
    w.magic(pages_detail::list_magic);
    w.u8(static_cast<std::uint8_t>(l.kind));
    w.u64(l.page_count);
    if (l.kind == page_list_kind::full) {
        for (const auto& d : l.pages) w.digest(d);
    } else {
        w.u64(l.changes.size());
        for (const auto& c : l.changes) {
            w.u64(c.page_number);
            w.digest(c.digest);
        }
    }
    return std::move(w).finish();
}

// A full list of `pages`, encoded without copying them into a page_list first.
inline std::vector<std::byte> encode_full_page_list(std::span<const page_digest> pages) {
    pages_detail::byte_writer w;
    w.magic(pages_detail::list_magic);
    w.u8(static_cast<std::uint8_t>(page_list_kind::full));
    w.u64(pages.size());
    for (const auto& d : pages) w.digest(d);
    return std::move(w).finish();
}

// `room_for`: a full list reserves room for that many digests (up to twice its own count), so
// the deltas that follow it in a chain grow it without copying it (snapshot_object.hpp).
inline result<page_list> parse_page_list(std::span<const std::byte> file, std::string_view origin,
                                         std::uint64_t room_for = 0) {
    using namespace pages_detail;
    const auto bad = [&](const std::string& why) {
        return error(errc::checksum_mismatch,
                     "page list " + std::string(origin) + " is damaged: " + why);
    };
    if (file.size() < list_magic.size() + 9 + trailer_bytes) return bad("too short");
    if (!trailer_matches(file)) return bad("its checksum does not match its bytes");
    byte_reader r(file.first(file.size() - trailer_bytes));
    if (!r.magic(list_magic)) return bad("it does not start with " + std::string(list_magic));
    page_list l;
    const std::uint8_t kind = r.u8();
    if (kind > 1) return bad("unknown kind " + std::to_string(kind) + " (upgrade dbsafe)");
    l.kind = static_cast<page_list_kind>(kind);
    l.page_count = r.u64();
    if (l.page_count > max_page_count) return bad("page count " + std::to_string(l.page_count));
    if (l.kind == page_list_kind::full) {
        if (r.remaining() != l.page_count * 32) {
            return bad("it holds " + std::to_string(r.remaining() / 32) + " digests for " +
                       std::to_string(l.page_count) + " pages");
        }
        l.pages.reserve(std::max(l.page_count, std::min(room_for, 2 * l.page_count)));
        for (std::uint64_t i = 0; i < l.page_count; ++i) l.pages.push_back(r.digest());
    } else {
        const std::uint64_t n = r.u64();
        if (r.failed() || n > l.page_count || r.remaining() != n * 40) {
            return bad("its change count disagrees with its length");
        }
        l.changes.reserve(n);
        for (std::uint64_t i = 0; i < n; ++i) {
            page_change c;
            c.page_number = r.u64();
            c.digest = r.digest();
            const std::uint64_t previous = l.changes.empty() ? 0 : l.changes.back().page_number;
            if (c.page_number <= previous || c.page_number > l.page_count) {
                return bad("page numbers must ascend within 1.." + std::to_string(l.page_count));
            }
            l.changes.push_back(c);
        }
    }
    if (r.failed()) return bad("cut short");
    return l;
}

namespace pages_detail {

// Applies a delta (see apply_page_list).
inline result<void> apply_delta(std::vector<page_digest>& pages, const page_list& l,
                                std::string_view origin) {
    const std::uint64_t old_count = pages.size();
    // Growth is bounded by the changes the file holds, so a damaged count cannot allocate.
    if (l.page_count > old_count && l.page_count - old_count > l.changes.size()) {
        return error(errc::checksum_mismatch,
                     "page list " + std::string(origin) + " is damaged: it grows the database to " +
                         std::to_string(l.page_count) + " pages without naming the new ones");
    }
    // Exactly, not by resize()'s doubling: a base list of 16 MiB (2 GiB of 4 KiB pages) grown
    // by a few pages would hold 16 + 32 MiB for a moment, the largest allocation of a backup.
    if (l.page_count > pages.capacity()) pages.reserve(l.page_count);
    pages.resize(l.page_count);
    std::uint64_t named_new = 0;
    for (const auto& c : l.changes) {
        pages[c.page_number - 1] = c.digest;
        if (c.page_number > old_count) ++named_new;
    }
    if (l.page_count > old_count && named_new != l.page_count - old_count) {
        return error(errc::checksum_mismatch,
                     "page list " + std::string(origin) + " is damaged: it grows the database to " +
                         std::to_string(l.page_count) + " pages without naming every new one");
    }
    return success();
}

}  // namespace pages_detail

// Applies `l` to `pages` (the list so far; empty before a full list). A delta that grows the
// list must name every page it adds; `origin` names the list in messages.
inline result<void> apply_page_list(std::vector<page_digest>& pages, const page_list& l,
                                    std::string_view origin) {
    if (l.kind == page_list_kind::full) {
        pages = l.pages;
        return success();
    }
    return pages_detail::apply_delta(pages, l, origin);
}

// The same, taking a full list's digests over instead of copying them.
inline result<void> apply_page_list(std::vector<page_digest>& pages, page_list&& l,
                                    std::string_view origin) {
    if (l.kind == page_list_kind::full) {
        pages = std::move(l.pages);
        return success();
    }
    return pages_detail::apply_delta(pages, l, origin);
}

// The delta that turns `before` into `after`.
inline page_list make_delta(std::span<const page_digest> before,
                            std::span<const page_digest> after) {
    page_list l{
        .kind = page_list_kind::delta, .page_count = after.size(), .pages = {}, .changes = {}};
    for (std::size_t i = 0; i < after.size(); ++i) {
        if (i >= before.size() || before[i] != after[i]) l.changes.push_back({i + 1, after[i]});
    }
    return l;
}

}  // namespace dbsafe
