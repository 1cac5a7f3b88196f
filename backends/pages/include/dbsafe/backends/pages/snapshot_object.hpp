// The snapshot object `<id>.pages`, beside the manifest: one backup stored as pages.
//
//   "DBSSNAP1" | page size (u32) | page count (u64) | list count k (u32) |
//   k x list digest (the full base first, then the deltas in order) | xxh3-128 of all before
//
// Applying the lists in order gives the snapshot's page digests; the manifest (written after
// it, the commit point) holds everything else. A new snapshot of the same database reuses the
// newest snapshot's chain and appends one delta, until the chain would exceed
// max_chain_lists or the deltas' entries page_count / 8: then it starts a new full base.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dbsafe/backends/pages/byte_codec.hpp"
#include "dbsafe/backends/pages/content_file.hpp"
#include "dbsafe/backends/pages/page_digest.hpp"
#include "dbsafe/backends/pages/page_list.hpp"
#include "dbsafe/error.hpp"

namespace dbsafe {

struct snapshot_object {
    std::uint32_t page_size = 0;
    std::uint64_t page_count = 0;
    std::vector<page_digest> lists;  // full base first, then deltas

    friend bool operator==(const snapshot_object&, const snapshot_object&) = default;
};

namespace pages_detail {
inline constexpr std::string_view snapshot_magic = "DBSSNAP1";
inline constexpr std::size_t max_chain_lists = 32;
// Far above max_chain_lists: the bound a reader enforces, not the writer's policy.
inline constexpr std::uint32_t max_object_lists = 4096;
inline constexpr std::uint64_t max_object_bytes = 8 + 4 + 8 + 4 + 32 * max_object_lists + 16;

inline bool valid_page_size(std::uint64_t s) {
    return s >= 512 && s <= 65536 && (s & (s - 1)) == 0;
}
}  // namespace pages_detail

inline std::vector<std::byte> encode_snapshot_object(const snapshot_object& s) {
    pages_detail::byte_writer w;
    w.magic(pages_detail::snapshot_magic);
    w.u32(s.page_size);
    w.u64(s.page_count);
    w.u32(static_cast<std::uint32_t>(s.lists.size()));
    for (const auto& d : s.lists) w.digest(d);
    return std::move(w).finish();
}

inline result<snapshot_object> parse_snapshot_object(std::span<const std::byte> file,
                                                     std::string_view origin) {
    using namespace pages_detail;
    const auto bad = [&](const std::string& why) {
        return error(errc::checksum_mismatch,
                     "snapshot object " + std::string(origin) + " is damaged: " + why);
    };
    if (file.size() < snapshot_magic.size() + 16 + trailer_bytes) return bad("too short");
    if (!trailer_matches(file)) return bad("its checksum does not match its bytes");
    byte_reader r(file.first(file.size() - trailer_bytes));
    if (!r.magic(snapshot_magic)) {
        return bad("it does not start with " + std::string(snapshot_magic));
    }
    snapshot_object s;
    s.page_size = r.u32();
    s.page_count = r.u64();
    const std::uint32_t k = r.u32();
    if (!valid_page_size(s.page_size)) return bad("page size " + std::to_string(s.page_size));
    if (s.page_count > max_page_count) return bad("page count " + std::to_string(s.page_count));
    if (k == 0 || k > max_object_lists || r.remaining() != std::uint64_t{k} * 32) {
        return bad("its list count disagrees with its length");
    }
    for (std::uint32_t i = 0; i < k; ++i) s.lists.push_back(r.digest());
    return s;
}

// A snapshot's pages, from its chain of lists.
struct page_chain {
    std::vector<page_digest> pages;   // page 1 first
    std::uint64_t delta_entries = 0;  // changes in the chain's deltas
    std::uint64_t largest_count = 0;  // the most pages any list of the chain describes
};

namespace pages_detail {

// Reads the page list `path`, which must hash to `name`, refusing more than `limit` bytes. A
// full list of 1 MiB or more is read in pieces straight into its digests (content_reader): at
// 2 GiB of 4 KiB pages its 16 MiB of bytes never sit in memory beside the 16 MiB of digests
// parsed from them. A delta (small) or anything that does not even look like a full list is
// read whole by parse_page_list, which also says what is wrong with it. `room_for` as in
// parse_page_list.
inline result<page_list> read_page_list(const std::filesystem::path& path, const page_digest& name,
                                        std::uint64_t limit, std::uint64_t room_for) {
    constexpr std::size_t header_bytes = 8 + 1 + 8;  // magic, kind, page count
    constexpr std::size_t piece_digests = content_reader::piece_bytes / 32;
    DBSAFE_TRY(auto in, content_reader::open(path, name, limit));
    if (in.remaining() < content_reader::piece_bytes) {
        DBSAFE_TRY(const auto bytes, in.whole());
        return parse_page_list(bytes, path.string(), room_for);
    }
    const auto read_whole = [&]() -> result<page_list> {  // after next(): from the start again
        DBSAFE_TRY(auto bytes, read_content_file(path, name, limit));
        return parse_page_list(bytes, path.string(), room_for);
    };
    DBSAFE_TRY(const auto head, in.next(header_bytes));
    byte_reader header{head};
    page_list l;
    const bool full_list = header.magic(list_magic) && header.u8() == 0;
    l.page_count = header.u64();
    if (!full_list || l.page_count > max_page_count || in.remaining() != 32 * l.page_count) {
        return read_whole();
    }
    l.pages.reserve(std::max(l.page_count, std::min(room_for, 2 * l.page_count)));
    while (l.pages.size() < l.page_count) {
        const auto n = std::min<std::uint64_t>(piece_digests, l.page_count - l.pages.size());
        DBSAFE_TRY(const auto bytes, in.next(static_cast<std::size_t>(32 * n)));
        byte_reader digests{bytes};
        while (digests.remaining() > 0) l.pages.push_back(digests.digest());
    }
    DBSAFE_TRYV(in.finish("page list"));
    return l;
}

}  // namespace pages_detail

// Reads and applies the lists of `s` from `lists_dir`: each must hash to its name, parse, and
// the result must have the object's page count. `origin` names the snapshot in messages.
inline result<page_chain> load_page_chain(const std::filesystem::path& lists_dir,
                                          const snapshot_object& s, std::string_view origin) {
    page_chain out;
    const auto limit = pages_detail::list_bytes_limit(s.page_count);
    for (std::size_t i = 0; i < s.lists.size(); ++i) {
        const auto path = pages_detail::content_path(lists_dir, s.lists[i], ".list");
        // The base gets room for the snapshot's own count: its deltas then grow it in place.
        auto read = pages_detail::read_page_list(path, s.lists[i], limit, s.page_count);
        if (!read) {
            return read.error().within("snapshot " + std::string(origin) + ": its page list " +
                                       std::to_string(i + 1) + " of " +
                                       std::to_string(s.lists.size()));
        }
        page_list l = std::move(read).value();
        if ((i == 0) != (l.kind == page_list_kind::full)) {
            return error(errc::checksum_mismatch,
                         "snapshot " + std::string(origin) + ": page list " + path.string() +
                             (i == 0 ? " is a delta but starts the chain"
                                     : " is a full list inside the chain") +
                             " (the snapshot object is damaged)");
        }
        out.delta_entries += l.changes.size();
        out.largest_count = std::max(out.largest_count, l.page_count);
        DBSAFE_TRYV(apply_page_list(out.pages, std::move(l), path.string()));
    }
    if (out.pages.size() != s.page_count) {
        return error(errc::checksum_mismatch,
                     "snapshot " + std::string(origin) + ": its page lists give " +
                         std::to_string(out.pages.size()) + " pages, the object says " +
                         std::to_string(s.page_count) + " (the snapshot object is damaged)");
    }
    return out;
}

}  // namespace dbsafe
