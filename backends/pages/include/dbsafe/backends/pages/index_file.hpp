// Index files: where each page is, `pages/index/<sha256>.idx`.
//
//   "DBSINDX1" | pack count (u32) | per pack: pack digest (32), entry count (u32), entries
//   (as in the pack's trailer) | xxh3-128 of all before
//
// A backup that added packs writes one index file for them; garbage collection writes one
// consolidated file. Readers take the union of all index files: a digest listed twice (two
// backups stored the same new page at once) is fine, any of its locations serves.
//
// In memory (page_index) an entry is 52 bytes in one sorted vector: a 2 GiB database of 4 KiB
// pages costs about 27 MiB to locate every page, nothing per snapshot.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "dbsafe/backends/pages/byte_codec.hpp"
#include "dbsafe/backends/pages/content_file.hpp"
#include "dbsafe/backends/pages/pack_file.hpp"
#include "dbsafe/backends/pages/page_digest.hpp"
#include "dbsafe/error.hpp"

namespace dbsafe {

struct index_pack {
    page_digest pack;  // the pack's name: the SHA-256 of its content
    std::vector<pack_entry> entries;

    friend bool operator==(const index_pack&, const index_pack&) = default;
};

namespace pages_detail {
inline constexpr std::string_view index_magic = "DBSINDX1";
inline constexpr std::uint64_t max_index_bytes = std::uint64_t{1} << 32;
}  // namespace pages_detail

inline std::vector<std::byte> encode_index(std::span<const index_pack> packs) {
    pages_detail::byte_writer w;
    w.magic(pages_detail::index_magic);
    w.u32(static_cast<std::uint32_t>(packs.size()));
    for (const auto& p : packs) {
        w.digest(p.pack);
        w.u32(static_cast<std::uint32_t>(p.entries.size()));
        for (const auto& e : p.entries) pages_detail::write_entry(w, e);
    }
    return std::move(w).finish();
}

namespace pages_detail {

// An index file's bytes before its trailer, already in memory, handed out as content_reader
// hands out a file's: one parser (walk_index) serves both.
class span_source {
  public:
    explicit span_source(std::span<const std::byte> body) : body_(body) {}
    [[nodiscard]] std::uint64_t remaining() const noexcept { return body_.size() - pos_; }
    result<std::span<const std::byte>> next(std::size_t n) {
        if (n > remaining()) {
            return error(errc::checksum_mismatch, "an index is damaged: it ends early");
        }
        const auto out = body_.subspan(pos_, n);
        pos_ += n;
        return out;
    }

  private:
    std::span<const std::byte> body_;
    std::size_t pos_ = 0;
};

// Walks the body of an index file from `in` (span_source or content_reader; see visit_index).
template <class Source, class OnPack, class OnEntry>
result<void> walk_index(Source& in, std::string_view origin, OnPack&& on_pack, OnEntry&& on_entry) {
    const auto bad = [&](const std::string& why) {
        return error(errc::checksum_mismatch,
                     "index " + std::string(origin) + " is damaged: " + why);
    };
    constexpr std::size_t batch = content_reader::piece_bytes / pack_entry_bytes;
    if (in.remaining() < index_magic.size() + 4) return bad("too short");
    DBSAFE_TRY(const auto head_bytes, in.next(index_magic.size() + 4));
    byte_reader head{head_bytes};
    if (!head.magic(index_magic)) return bad("it does not start with " + std::string(index_magic));
    const std::uint32_t packs = head.u32();
    for (std::uint32_t i = 0; i < packs; ++i) {
        if (in.remaining() < 36) return bad("pack " + std::to_string(i) + " is cut short");
        DBSAFE_TRY(const auto pack_bytes, in.next(36));
        byte_reader r{pack_bytes};
        const page_digest pack = r.digest();
        const std::uint32_t count = r.u32();
        if (std::uint64_t{count} * pack_entry_bytes > in.remaining()) {
            return bad("pack " + pack.short_hex() + " claims " + std::to_string(count) +
                       " entries");
        }
        on_pack(pack, count);
        for (std::uint32_t k = 0; k < count;) {
            const auto n = static_cast<std::uint32_t>(std::min<std::uint64_t>(batch, count - k));
            DBSAFE_TRY(const auto entry_bytes, in.next(std::size_t{n} * pack_entry_bytes));
            byte_reader entries{entry_bytes};
            for (const std::uint32_t end = k + n; k < end; ++k) {
                const pack_entry e = read_entry(entries);
                if (const auto why = entry_problem(e, max_pack_bytes); !why.empty()) {
                    return bad("entry " + std::to_string(k) + " of pack " + pack.short_hex() +
                               ": " + why);
                }
                on_entry(e);
            }
        }
    }
    if (in.remaining() != 0) return bad("its length disagrees with its counts");
    return success();
}

}  // namespace pages_detail

// Walks an index file, calling `on_pack(pack digest, entry count)` before each pack's entries
// and `on_entry(entry)` for each, without holding them: a reader keeps only what it needs.
// `origin` names the file in messages. Entries are checked for plausibility (a frame inside
// 4 GiB, a page inside a frame); the packs' own lengths are checked by the repository check,
// which opens them.
template <class OnPack, class OnEntry>
result<void> visit_index(std::span<const std::byte> file, std::string_view origin, OnPack&& on_pack,
                         OnEntry&& on_entry) {
    using namespace pages_detail;
    if (file.size() < index_magic.size() + 4 + trailer_bytes || !trailer_matches(file)) {
        return error(errc::checksum_mismatch,
                     "index " + std::string(origin) + " is damaged: " +
                         (file.size() < index_magic.size() + 4 + trailer_bytes
                              ? "too short"
                              : "its checksum does not match its bytes"));
    }
    span_source body(file.first(file.size() - trailer_bytes));
    return walk_index(body, origin, on_pack, on_entry);
}

// Parses a whole index file into its packs and entries.
inline result<std::vector<index_pack>> parse_index(std::span<const std::byte> file,
                                                   std::string_view origin) {
    std::vector<index_pack> out;
    DBSAFE_TRYV(visit_index(
        file, origin,
        [&](const page_digest& pack, std::uint32_t count) {
            out.push_back({pack, {}});
            out.back().entries.reserve(count);
        },
        [&](const pack_entry& e) { out.back().entries.push_back(e); }));
    return out;
}

// Where one page is: a pack (by position in page_index::packs) and the entry's fields.
struct located_page {
    page_digest digest;
    std::uint32_t pack = 0;
    std::uint32_t frame_offset = 0;
    std::uint32_t frame_length = 0;
    std::uint32_t offset_in_frame = 0;
    std::uint32_t page_length = 0;
};

// The union of every index file of a repository, sorted by digest.
struct page_index {
    std::vector<page_digest> packs;
    std::vector<located_page> pages;  // sorted by digest; a digest may appear more than once
    std::vector<std::filesystem::path> files;  // the index files read

    [[nodiscard]] const located_page* find(const page_digest& d) const {
        const auto it = std::lower_bound(
            pages.begin(), pages.end(), d,
            [](const located_page& p, const page_digest& key) { return p.digest < key; });
        return it != pages.end() && it->digest == d ? &*it : nullptr;
    }
    // The digests alone, sorted and unique: what a backup needs to know what is stored.
    [[nodiscard]] std::vector<page_digest> digests() const {
        std::vector<page_digest> out;
        out.reserve(pages.size());
        for (const auto& p : pages) {
            if (out.empty() || out.back() != p.digest) out.push_back(p.digest);
        }
        return out;
    }
};

namespace pages_detail {

// The index files in `index_dir`, by name (a missing directory has none).
inline result<std::vector<std::filesystem::path>> index_files(
    const std::filesystem::path& index_dir) {
    std::vector<std::filesystem::path> files;
    std::error_code ec;
    if (!std::filesystem::exists(index_dir, ec)) return files;
    for (auto it = std::filesystem::directory_iterator(index_dir, ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
        const auto name = it->path().filename().string();
        if (name.size() == 64 + 4 && name.ends_with(".idx") &&
            page_digest::from_hex(name.substr(0, 64))) {
            files.push_back(it->path());
        }
    }
    if (ec) {
        return errno_error(ec.value(), "cannot list " + index_dir.string() + ": " + ec.message());
    }
    std::sort(files.begin(), files.end());
    return files;
}

// At most how many entries the index files `files` hold (their sizes over an entry's): one
// reserve() up front, so loading never holds a vector's old and new buffers at once (doubling
// did: 16 + 32 MiB of digests for a moment at 2 GiB, the peak of a backup's memory).
inline std::size_t entries_at_most(const std::vector<std::filesystem::path>& files) {
    std::uint64_t bytes = 0;
    for (const auto& f : files) bytes += file_ops::file_size_or_zero(f);
    return static_cast<std::size_t>(bytes / pack_entry_bytes);
}

// Reads one index file (it must hash to its name) and walks it. One of 1 MiB or more (a base
// backup's: 25 MiB at 2 GiB) is read in pieces (content_reader): the callbacks then see its
// entries before the whole file is checked, so a caller drops what it took from a file that
// fails (load_page_index, load_stored_digests).
template <class OnPack, class OnEntry>
result<void> read_index_file(const std::filesystem::path& f, OnPack&& on_pack, OnEntry&& on_entry) {
    const auto name = page_digest::from_hex(f.filename().string().substr(0, 64));
    if (!name) return error(errc::invalid_argument, f.string() + " is not an index file name");
    DBSAFE_TRY(auto in, content_reader::open(f, *name, max_index_bytes));
    if (in.remaining() < content_reader::piece_bytes) {
        DBSAFE_TRY(const auto bytes, in.whole());
        return visit_index(bytes, f.string(), on_pack, on_entry);
    }
    DBSAFE_TRYV(walk_index(in, f.string(), on_pack, on_entry));
    return in.finish("index");
}

}  // namespace pages_detail

// An index file whose content does not match its name or does not parse.
struct damaged_index_file {
    std::filesystem::path path;
    error why;
};

namespace pages_detail {
// Whether a failure to read index file `f` is skipped: only damaged content, and only when the
// caller collects it in `damaged` (see load_page_index).
inline bool skip_damaged_index(const std::filesystem::path& f, const error& e,
                               std::vector<damaged_index_file>* damaged) {
    if (damaged == nullptr || !e.is(errc::checksum_mismatch)) return false;
    damaged->push_back({f, e});
    return true;
}
}  // namespace pages_detail

// Reads every `*.idx` in `index_dir` (a missing directory is an empty index). Each file must
// hash to its name and parse; a damaged one is an error naming it, or, when `damaged` is
// given, skipped and recorded there: one damaged file then loses only the pages it alone
// located (a backup stores them again, a restore of a snapshot needing one names the file),
// instead of stopping every backup and restore. Other failures (I/O) are errors either way.
// Memory: one piece of a file at a time (read_index_file), plus 52 bytes per entry.
inline result<page_index> load_page_index(const std::filesystem::path& index_dir,
                                          std::vector<damaged_index_file>* damaged = nullptr) {
    page_index out;
    DBSAFE_TRY(const auto files, pages_detail::index_files(index_dir));
    std::vector<std::pair<page_digest, std::uint32_t>> numbers;  // sorted: pack -> number
    std::uint32_t current = 0;
    out.pages.reserve(pages_detail::entries_at_most(files));
    for (const auto& f : files) {
        const auto pages_before = out.pages.size();
        const auto packs_before = out.packs.size();
        auto read = pages_detail::read_index_file(
            f,
            [&](const page_digest& pack, std::uint32_t /*count*/) {
                const auto it = std::lower_bound(
                    numbers.begin(), numbers.end(), pack,
                    [](const auto& n, const page_digest& key) { return n.first < key; });
                if (it != numbers.end() && it->first == pack) {
                    current = it->second;
                } else {
                    current = static_cast<std::uint32_t>(out.packs.size());
                    out.packs.push_back(pack);
                    numbers.insert(it, {pack, current});
                }
                // No reserve(size + count) here: growing exactly, once per pack, copies the
                // vector every time (quadratic: 0.55 s for 131 k pages in 91 packs).
            },
            [&](const pack_entry& e) {
                out.pages.push_back({e.digest, current, e.frame_offset, e.frame_length,
                                     e.offset_in_frame, e.page_length});
            });
        if (!read) {
            if (!pages_detail::skip_damaged_index(f, read.error(), damaged)) {
                return read.as_failure();
            }
            // Nothing of a damaged file stays, not even what it listed before the damage.
            out.pages.resize(pages_before);
            out.packs.resize(packs_before);
            std::erase_if(numbers, [&](const auto& n) { return n.second >= packs_before; });
            continue;
        }
        out.files.push_back(f);
    }
    std::sort(out.pages.begin(), out.pages.end(),
              [](const located_page& a, const located_page& b) { return a.digest < b.digest; });
    return out;
}

// The digests the repository holds, sorted and unique: what a backup needs to skip pages
// already stored. Memory: one piece of a file at a time, plus 32 bytes per entry.
// A damaged index file is skipped when `damaged` is given, as in load_page_index: the pages
// only it located are then stored again.
inline result<std::vector<page_digest>> load_stored_digests(
    const std::filesystem::path& index_dir, std::vector<damaged_index_file>* damaged = nullptr) {
    std::vector<page_digest> out;
    DBSAFE_TRY(const auto files, pages_detail::index_files(index_dir));
    out.reserve(pages_detail::entries_at_most(files));
    for (const auto& f : files) {
        const auto before = out.size();
        auto read = pages_detail::read_index_file(
            f, [](const page_digest&, std::uint32_t) {},  // no reserve per pack (see above)
            [&](const pack_entry& e) { out.push_back(e.digest); });
        if (!read) {
            if (!pages_detail::skip_damaged_index(f, read.error(), damaged)) {
                return read.as_failure();
            }
            out.resize(before);
        }
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    // Only when many were duplicates: shrinking copies, holding both buffers for a moment.
    if (out.capacity() - out.size() > out.size() / 4) out.shrink_to_fit();
    return out;
}

}  // namespace dbsafe
