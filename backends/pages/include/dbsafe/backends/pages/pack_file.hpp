// Pack files: where the page repository keeps page bytes, `pages/packs/<sha256>.pack`.
//
//   "DBSPACK1" | frames | entry table | entry count (u32) | "DBSPACKT" | xxh3-128 of all before
//
// A frame is one zstd frame (content checksum on) holding up to `frame_pages` consecutive new
// pages of one backup: compressing pages together lets zstd see their shared structure (one
// frame per page compresses much worse), while a restore still decompresses at most one frame
// per page it needs. An entry locates one page: its digest, the frame's offset and length in
// the pack, and the page's offset and length inside the decompressed frame. The entry table at
// the end (the trailer) makes a pack self-describing: the index can be rebuilt from packs alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dbsafe/backends/pages/byte_codec.hpp"
#include "dbsafe/backends/pages/page_digest.hpp"
#include "dbsafe/error.hpp"

namespace dbsafe {

struct pack_entry {
    page_digest digest;
    std::uint32_t frame_offset = 0;     // from the start of the pack
    std::uint32_t frame_length = 0;     // compressed bytes of the frame
    std::uint32_t offset_in_frame = 0;  // of the page, in the decompressed frame
    std::uint32_t page_length = 0;      // the page size

    friend bool operator==(const pack_entry&, const pack_entry&) = default;
};

namespace pages_detail {

inline constexpr std::string_view pack_magic = "DBSPACK1";
inline constexpr std::string_view pack_trailer_magic = "DBSPACKT";
inline constexpr std::size_t pack_entry_bytes = 32 + 4 * 4;
inline constexpr std::uint32_t max_page_bytes = 65536;  // SQLite's largest page
// A frame holds at most this many raw bytes (the config's frame_pages x the largest page).
inline constexpr std::uint64_t max_frame_raw_bytes = std::uint64_t{64} * max_page_bytes;
// Packs are closed near 4 MiB; anything far larger is not a pack dbsafe wrote.
inline constexpr std::uint64_t max_pack_bytes = std::uint64_t{1} << 30;

inline void write_entry(byte_writer& w, const pack_entry& e) {
    w.digest(e.digest);
    w.u32(e.frame_offset);
    w.u32(e.frame_length);
    w.u32(e.offset_in_frame);
    w.u32(e.page_length);
}

inline pack_entry read_entry(byte_reader& r) {
    pack_entry e;
    e.digest = r.digest();
    e.frame_offset = r.u32();
    e.frame_length = r.u32();
    e.offset_in_frame = r.u32();
    e.page_length = r.u32();
    return e;
}

// Why an entry cannot be right for a pack whose frames end at `frames_end`; empty: plausible.
inline std::string entry_problem(const pack_entry& e, std::uint64_t frames_end) {
    if (e.frame_offset < pack_magic.size() || e.frame_length == 0 ||
        std::uint64_t{e.frame_offset} + e.frame_length > frames_end) {
        return "its frame lies outside the pack's frames";
    }
    if (e.page_length == 0 || e.page_length > max_page_bytes ||
        std::uint64_t{e.offset_in_frame} + e.page_length > max_frame_raw_bytes) {
        return "its page lies outside any frame dbsafe writes";
    }
    return {};
}

}  // namespace pages_detail

// Builds one pack in memory (packs are a few MiB): frames are appended as they are
// compressed, and finish() adds the trailer. `capacity`: the bytes the pack is expected to
// reach, reserved at once (appending by doubling would hold up to twice a pack, plus the old
// buffer while it is copied: 12 MiB for a 4 MiB pack, the largest allocation of a backup's
// intake after its digest lists).
class pack_builder {
  public:
    explicit pack_builder(std::size_t capacity = 0) {
        w_.reserve(capacity);
        w_.magic(pages_detail::pack_magic);
    }

    // Appends one compressed frame holding the pages `in_frame` describes (their digest,
    // offset_in_frame and page_length; the frame's place is filled in here).
    void add_frame(std::span<const std::byte> frame, std::span<const pack_entry> in_frame) {
        const auto offset = static_cast<std::uint32_t>(w_.buffer().size());
        w_.bytes(frame);
        for (pack_entry e : in_frame) {
            e.frame_offset = offset;
            e.frame_length = static_cast<std::uint32_t>(frame.size());
            entries_.push_back(e);
        }
    }
    [[nodiscard]] bool empty() const noexcept { return entries_.empty(); }
    [[nodiscard]] std::size_t size() const noexcept { return w_.buffer().size(); }
    [[nodiscard]] const std::vector<pack_entry>& entries() const noexcept { return entries_; }

    std::vector<std::byte> finish() && {
        w_.reserve(w_.buffer().size() + entries_.size() * pages_detail::pack_entry_bytes + 4 +
                   pages_detail::pack_trailer_magic.size() + pages_detail::trailer_bytes);
        for (const auto& e : entries_) pages_detail::write_entry(w_, e);
        w_.u32(static_cast<std::uint32_t>(entries_.size()));
        w_.magic(pages_detail::pack_trailer_magic);
        return std::move(w_).finish();
    }

  private:
    pages_detail::byte_writer w_;
    std::vector<pack_entry> entries_;
};

// Parses a whole pack: its magic, its trailer's checksum and entry table, and that every entry
// points inside the pack's frames. The frames themselves are checked when read (zstd's content
// checksum, then each page's SHA-256). `origin` names the file in messages.
inline result<std::vector<pack_entry>> parse_pack(std::span<const std::byte> file,
                                                  std::string_view origin) {
    using namespace pages_detail;
    const auto bad = [&](const std::string& why) {
        return error(errc::checksum_mismatch,
                     "pack " + std::string(origin) + " is damaged: " + why);
    };
    constexpr std::size_t tail = 4 + pack_trailer_magic.size() + trailer_bytes;
    if (file.size() < pack_magic.size() + tail) return bad("too short to be a pack");
    if (!trailer_matches(file)) return bad("its checksum does not match its bytes");
    byte_reader head(file);
    if (!head.magic(pack_magic)) return bad("it does not start with " + std::string(pack_magic));
    byte_reader end(file.subspan(file.size() - tail));
    const std::uint32_t count = end.u32();
    if (!end.magic(pack_trailer_magic)) return bad("its trailer is missing");
    const std::uint64_t table = std::uint64_t{count} * pack_entry_bytes;
    if (table > file.size() - pack_magic.size() - tail) {
        return bad("its entry table claims " + std::to_string(count) + " entries");
    }
    const std::uint64_t frames_end = file.size() - tail - table;
    byte_reader r(file.subspan(frames_end, table));
    std::vector<pack_entry> out;
    out.reserve(count);
    for (std::uint32_t i = 0; i < count; ++i) {
        out.push_back(read_entry(r));
        if (const auto why = entry_problem(out.back(), frames_end); !why.empty()) {
            return bad("entry " + std::to_string(i) + " (page " + out.back().digest.short_hex() +
                       "): " + why);
        }
    }
    return out;
}

}  // namespace dbsafe
