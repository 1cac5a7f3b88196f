// page_chain_stream: a snapshot's page digests front to back, without holding them.
//
// load_page_chain (snapshot_object.hpp) applies a snapshot's lists into one vector, 32 bytes
// per page: what a restore needs, which looks pages up out of order. A backup's commit only
// walks the previous snapshot's pages in order beside its own (the delta, the check of the
// change cache's addresses), so it reads them here instead: the deltas, small by the chain's
// rule (at most page_count / 8 entries in all), are merged into one sorted overlay in memory,
// and the full base list is read a piece at a time under them. Memory: the overlay and one
// piece, whatever the database's size.
//
// Checked as load_page_chain checks: every delta at open (hash, parse, each page it adds
// named); the base's header at open and its hash and trailer at finish(), which must succeed
// before anything read from the stream counts.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dbsafe/backends/pages/byte_codec.hpp"
#include "dbsafe/backends/pages/content_file.hpp"
#include "dbsafe/backends/pages/page_digest.hpp"
#include "dbsafe/backends/pages/page_list.hpp"
#include "dbsafe/backends/pages/snapshot_object.hpp"
#include "dbsafe/error.hpp"

namespace dbsafe::pages_detail {

class page_chain_stream {
  public:
    static constexpr std::size_t piece_digests = 2048;

    static result<page_chain_stream> open(const std::filesystem::path& lists_dir,
                                          const snapshot_object& s, std::string_view origin) {
        const std::string snapshot = "snapshot " + std::string(origin);
        const auto limit = list_bytes_limit(s.page_count);
        const auto damaged = [&](const std::filesystem::path& p, const std::string& why) {
            return error(errc::checksum_mismatch, snapshot + ": page list " + p.string() + why);
        };
        page_chain_stream out;
        // The base: its header now, its digests as they are asked for.
        const auto base_path = content_path(lists_dir, s.lists.front(), ".list");
        DBSAFE_TRY(out.base_, content_reader::open(base_path, s.lists.front(), limit));
        constexpr std::size_t header_bytes = 8 + 1 + 8;  // magic, kind, page count
        bool full = out.base_->remaining() >= header_bytes;
        if (full) {
            DBSAFE_TRY(const auto head, out.base_->next(header_bytes));
            byte_reader header{head};
            full = header.magic(list_magic) && header.u8() == 0;
            out.base_count_ = header.u64();
            full = full && out.base_count_ <= max_page_count &&
                   out.base_->remaining() == 32 * out.base_count_;
        }
        if (!full) {
            // What is wrong with it, in the words a whole read uses.
            auto whole = read_page_list(base_path, s.lists.front(), limit, 0);
            if (!whole) return whole.error().within(snapshot + ": its page list 1");
            return damaged(base_path,
                           " is a delta but starts the chain (the snapshot object is "
                           "damaged)");
        }
        out.largest_count = out.base_count_;
        out.min_count_ = out.base_count_;
        std::uint64_t count = out.base_count_;
        for (std::size_t i = 1; i < s.lists.size(); ++i) {
            const auto path = content_path(lists_dir, s.lists[i], ".list");
            auto read = read_page_list(path, s.lists[i], limit, 0);
            if (!read) {
                return read.error().within(snapshot + ": its page list " + std::to_string(i + 1) +
                                           " of " + std::to_string(s.lists.size()));
            }
            const page_list& l = read.value();
            if (l.kind != page_list_kind::delta) {
                return damaged(path,
                               " is a full list inside the chain (the snapshot object is "
                               "damaged)");
            }
            // Every page it adds must be named (as apply_delta checks).
            const auto named_new = static_cast<std::uint64_t>(
                std::count_if(l.changes.begin(), l.changes.end(),
                              [&](const page_change& c) { return c.page_number > count; }));
            if (l.page_count > count && named_new != l.page_count - count) {
                return damaged(path, " is damaged: it grows the database to " +
                                         std::to_string(l.page_count) +
                                         " pages without naming every new one");
            }
            out.merge(l);
            out.delta_entries += l.changes.size();
            out.largest_count = std::max(out.largest_count, l.page_count);
            out.min_count_ = std::min(out.min_count_, l.page_count);
            count = l.page_count;
        }
        if (count != s.page_count) {
            return error(errc::checksum_mismatch,
                         snapshot + ": its page lists give " + std::to_string(count) +
                             " pages, the object says " + std::to_string(s.page_count) +
                             " (the snapshot object is damaged)");
        }
        out.page_count = count;
        out.base_path_ = base_path;
        out.origin_ = snapshot;
        return out;
    }

    std::uint64_t page_count = 0;
    std::uint64_t delta_entries = 0;  // changes in the chain's deltas (page_chain's)
    std::uint64_t largest_count = 0;  // the most pages any list of the chain describes

    // The next digests in page order (empty after the last page), valid until the next call.
    result<std::span<const page_digest>> next() {
        const std::uint64_t first = at_;
        const auto n =
            static_cast<std::size_t>(std::min<std::uint64_t>(piece_digests, page_count - first));
        piece_.resize(n);
        // The base's digests of this piece's pages, as far as the base reaches.
        const std::uint64_t from_base =
            first < base_count_ ? std::min<std::uint64_t>(n, base_count_ - first) : 0;
        if (from_base > 0) {
            DBSAFE_TRY(const auto bytes, base_->next(static_cast<std::size_t>(32 * from_base)));
            byte_reader r{bytes};
            for (std::size_t i = 0; i < from_base; ++i) piece_[i] = r.digest();
        }
        for (std::size_t i = 0; i < n; ++i) {
            const std::uint64_t number = first + i + 1;
            while (next_change_ < overlay_.size() && overlay_[next_change_].page_number < number) {
                ++next_change_;
            }
            if (next_change_ < overlay_.size() && overlay_[next_change_].page_number == number) {
                piece_[i] = overlay_[next_change_].digest;
            } else if (number > min_count_) {
                // A page no delta named that some list had cut off: open() refuses the deltas
                // that would make this happen, so only a bug gets here.
                return error(errc::checksum_mismatch, origin_ + ": page " + std::to_string(number) +
                                                          " is named by none of its lists");
            }
        }
        at_ += n;
        return std::span<const page_digest>(piece_);
    }

    // Reads the rest of the base and checks it: its SHA-256 is its name, its trailer matches.
    result<void> finish() {
        auto done = base_->finish("page list");
        if (!done) return done.error().within(origin_ + ": its page list 1");
        return success();
    }

  private:
    // The overlay after `l`: its own changes, and the earlier ones it neither replaces nor
    // cuts off. Both are sorted by page number, so the result is too.
    void merge(const page_list& l) {
        std::vector<page_change> merged;
        merged.reserve(overlay_.size() + l.changes.size());
        auto a = overlay_.begin();
        auto b = l.changes.begin();
        while (a != overlay_.end() || b != l.changes.end()) {
            if (b == l.changes.end() || (a != overlay_.end() && a->page_number < b->page_number)) {
                if (a->page_number <= l.page_count) merged.push_back(*a);
                ++a;
            } else {
                if (a != overlay_.end() && a->page_number == b->page_number) ++a;
                merged.push_back(*b++);
            }
        }
        overlay_ = std::move(merged);
    }

    std::optional<content_reader> base_;
    std::filesystem::path base_path_;
    std::string origin_;
    std::uint64_t base_count_ = 0;
    std::uint64_t min_count_ = 0;  // the fewest pages any list of the chain describes
    std::vector<page_change> overlay_;
    std::size_t next_change_ = 0;
    std::uint64_t at_ = 0;
    std::vector<page_digest> piece_;
};

}  // namespace dbsafe::pages_detail
