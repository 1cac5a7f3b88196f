// The change cache: what each page of a source database was at its last page backup, so the
// next backup computes the SHA-256 (the page's address) only of the pages that changed.
//
// Why: hashing every page with SHA-256 was most of an incremental backup's CPU (0.32 CPU-s of
// about 0.8 s for 512 MiB). A fingerprint (XXH3-128 keyed with a random secret) runs about
// ten times faster; a page whose fingerprint equals the one the cache holds for the same page
// number takes the cached address, and needs no storing: the snapshot the cache describes
// holds it, and the index locates it (garbage collection that drops live pages with a missing
// pack removes every cache, so the next backup stores them again, as without a cache).
//
// A cache is a hint, never the record; correctness never depends on it:
//  - it is used only when its header and each block's checksum are intact (a damaged block's
//    pages are hashed in full), its page size is the image's, the snapshot it describes still
//    exists (its pages are then in the repository, and the backup's shared repository lock
//    keeps garbage collection from removing them), and no index file is damaged (a page only a
//    damaged index file located is then stored again, which a cached address would skip);
//  - at commit, every address taken from it must equal that snapshot's page list at the same
//    page number; a cache that disagrees (planted, or damaged in a way its checksums missed)
//    fails the backup, is removed, and the next backup hashes every page;
//  - a fingerprint collision (2^-128 by accident; crafting one needs the secret, kept in this
//    0600 file inside the repository) would keep the page's old content in the new snapshot.
//    The manifest's checksum is of the bytes read, so `verify` and every restore would report
//    that backup damaged; it is never restored silently.
// A cache is not fsynced (a hint lost in a crash costs one full hash) and is replaced, after
// the commit point, by each page backup of its source read straight from the database file.
//
// File D/pages/cache/<first 32 hex digits of SHA-256(source path)>.cache, little-endian:
//   header: "dbsafe-pagecache" | u32 version (1) | u32 page size | u64 page count |
//           u32 id length | id (64 bytes, zero-padded) | secret (192 bytes) |
//           xxh3-128 of the header before it
//   blocks of up to 1024 pages: per page its fingerprint (16 bytes) and address (32 bytes),
//           then the xxh3-128 of the block's entries.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dbsafe/backends/pages/byte_codec.hpp"
#include "dbsafe/backends/pages/page_digest.hpp"
#include "dbsafe/checksum.hpp"
#include "dbsafe/error.hpp"
#include "dbsafe/storage/file_operations.hpp"

namespace dbsafe::pages_detail {

inline constexpr std::string_view cache_magic = "dbsafe-pagecache";
inline constexpr std::uint32_t cache_version = 1;
inline constexpr std::size_t cache_block_pages = 1024;
inline constexpr std::size_t cache_secret_bytes = 192;
inline constexpr std::size_t cache_id_bytes = 64;
inline constexpr std::size_t cache_header_bytes =
    16 + 4 + 4 + 8 + 4 + cache_id_bytes + cache_secret_bytes + 16;
inline constexpr std::size_t cache_entry_bytes = 16 + 32;

using page_fingerprint = std::array<unsigned char, 16>;
using cache_secret = std::array<unsigned char, cache_secret_bytes>;

inline page_fingerprint fingerprint(std::span<const std::byte> page, const cache_secret& secret) {
    const XXH128_hash_t h =
        XXH3_128bits_withSecret(page.data(), page.size(), secret.data(), secret.size());
    XXH128_canonical_t canon;
    XXH128_canonicalFromHash(&canon, h);
    page_fingerprint out;
    std::memcpy(out.data(), canon.digest, out.size());
    return out;
}

inline cache_secret random_cache_secret() {
    std::random_device rd;  // getrandom(2) on Linux
    cache_secret s;
    for (std::size_t i = 0; i < s.size(); i += 4) {
        const unsigned v = rd();
        for (std::size_t j = 0; j < 4; ++j) s[i + j] = static_cast<unsigned char>(v >> (8 * j));
    }
    return s;
}

// Whether `cache_dir` holds any cache file: a backup that stages without one can only hash
// every page (a repository whose backups were never read straight from their database).
inline bool any_cache_file(const std::filesystem::path& cache_dir) {
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator(cache_dir, ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
        if (it->path().extension() == ".cache") return true;
    }
    return false;
}

// The cache file of the source database `source` (as its manifests name it).
inline std::filesystem::path cache_file(const std::filesystem::path& cache_dir,
                                        std::string_view source) {
    auto d = sha256_of(std::as_bytes(std::span(source.data(), source.size())));
    const std::string name = d ? d.value().hex().substr(0, 32) : std::string(32, '0');
    return cache_dir / (name + ".cache");
}

inline std::array<unsigned char, 16> xxh3_128_bytes(std::span<const std::byte> b) {
    XXH128_canonical_t canon;
    XXH128_canonicalFromHash(&canon, XXH3_128bits(b.data(), b.size()));
    std::array<unsigned char, 16> out;
    std::memcpy(out.data(), canon.digest, out.size());
    return out;
}

struct cache_header {
    std::uint32_t page_size = 0;
    std::uint64_t page_count = 0;
    std::string snapshot_id;  // the snapshot whose pages the entries describe
    cache_secret secret{};
};

inline std::vector<std::byte> encode_cache_header(const cache_header& h) {
    byte_writer w;
    w.magic(cache_magic);
    w.u32(cache_version);
    w.u32(h.page_size);
    w.u64(h.page_count);
    w.u32(static_cast<std::uint32_t>(h.snapshot_id.size()));
    std::array<std::byte, cache_id_bytes> id{};
    std::memcpy(id.data(), h.snapshot_id.data(), std::min(h.snapshot_id.size(), id.size()));
    w.bytes(id);
    w.bytes(std::as_bytes(std::span(h.secret)));
    return std::move(w).finish();  // + the xxh3-128 trailer
}

// nullopt: not a cache this dbsafe wrote intact (any problem makes it no hint at all).
inline std::optional<cache_header> parse_cache_header(std::span<const std::byte> b) {
    if (b.size() != cache_header_bytes || !trailer_matches(b)) return std::nullopt;
    byte_reader r(b);
    cache_header h;
    if (!r.magic(cache_magic) || r.u32() != cache_version) return std::nullopt;
    h.page_size = r.u32();
    h.page_count = r.u64();
    const std::uint32_t id_size = r.u32();
    if (r.failed() || id_size == 0 || id_size > cache_id_bytes) return std::nullopt;
    const std::size_t at = r.position();
    h.snapshot_id.assign(reinterpret_cast<const char*>(b.data() + at), id_size);
    std::memcpy(h.secret.data(), b.data() + at + cache_id_bytes, h.secret.size());
    return h;
}

// The header of the cache open as `fd`; nullopt when it is unreadable or not intact.
inline std::optional<cache_header> read_cache_header(int fd, const std::filesystem::path& path) {
    std::vector<std::byte> head(cache_header_bytes);
    auto n = file_ops::read_at(fd, head, 0, path);
    if (!n || n.value() != head.size()) return std::nullopt;
    return parse_cache_header(head);
}

struct cached_page {
    page_fingerprint fingerprint;
    page_digest address;
};

// The previous backup's cache, read a block at a time in page order (memory: one block).
class change_cache_reader {
  public:
    // The cache at `path` when it describes pages of `page_size` of a snapshot for which
    // `snapshot_exists` says yes; nullopt otherwise (missing, damaged, stale: no hint).
    static std::optional<change_cache_reader> open(
        const std::filesystem::path& path, std::uint32_t page_size,
        const std::function<bool(const std::string&)>& snapshot_exists) {
        auto fd = file_ops::open_for_read(path);
        if (!fd) return std::nullopt;
        auto h = read_cache_header(fd.value().get(), path);
        if (!h || h->page_size != page_size || h->page_count == 0 ||
            !snapshot_exists(h->snapshot_id)) {
            return std::nullopt;
        }
        return change_cache_reader(path, std::move(fd).value(), std::move(*h));
    }

    [[nodiscard]] const cache_header& header() const noexcept { return header_; }

    // The cached entry of page `index` (0-based); nullptr past the cache's pages or in a block
    // that is damaged or cannot be read.
    const cached_page* find(std::uint64_t index) {
        if (index >= header_.page_count) return nullptr;
        const std::uint64_t block = index / cache_block_pages;
        if (block != block_ || !loaded_) load(block);
        if (!valid_) return nullptr;
        return &entries_[static_cast<std::size_t>(index % cache_block_pages)];
    }

  private:
    change_cache_reader(std::filesystem::path path, file_ops::unique_fd fd, cache_header h)
        : path_(std::move(path)), fd_(std::move(fd)), header_(std::move(h)) {}

    void load(std::uint64_t block) {
        block_ = block;
        loaded_ = true;
        valid_ = false;
        const std::uint64_t first = block * cache_block_pages;
        const auto count = static_cast<std::size_t>(
            std::min<std::uint64_t>(cache_block_pages, header_.page_count - first));
        const std::size_t bytes = count * cache_entry_bytes;
        raw_.resize(bytes + 16);
        const std::uint64_t at =
            cache_header_bytes + block * (cache_block_pages * cache_entry_bytes + 16);
        auto n = file_ops::read_at(fd_.get(), raw_, at, path_);
        if (!n || n.value() != raw_.size()) return;
        const auto sum = xxh3_128_bytes(std::span(raw_).first(bytes));
        if (std::memcmp(sum.data(), raw_.data() + bytes, sum.size()) != 0) return;
        entries_.resize(count);
        for (std::size_t i = 0; i < count; ++i) {
            const std::byte* e = raw_.data() + i * cache_entry_bytes;
            std::memcpy(entries_[i].fingerprint.data(), e, 16);
            std::memcpy(entries_[i].address.bytes.data(), e + 16, 32);
        }
        valid_ = true;
    }

    std::filesystem::path path_;
    file_ops::unique_fd fd_;
    cache_header header_;
    std::uint64_t block_ = 0;
    bool loaded_ = false;
    bool valid_ = false;
    std::vector<std::byte> raw_;
    std::vector<cached_page> entries_;
};

// The new backup's cache, written to a temporary file as the pages are hashed and put in
// place by publish() after the backup's commit point; removed unless published.
class change_cache_writer {
  public:
    change_cache_writer(const change_cache_writer&) = delete;
    change_cache_writer& operator=(const change_cache_writer&) = delete;
    // A moved-from writer owns no file (its destructor must not remove the new owner's).
    change_cache_writer(change_cache_writer&& o) noexcept
        : final_(std::move(o.final_)),
          tmp_(std::exchange(o.tmp_, {})),
          fd_(std::move(o.fd_)),
          header_(std::move(o.header_)),
          block_(std::move(o.block_)),
          pages_(o.pages_) {}
    change_cache_writer& operator=(change_cache_writer&&) = delete;
    ~change_cache_writer() { abandon(); }

    static result<change_cache_writer> create(const std::filesystem::path& final_path,
                                              const cache_header& h) {
        DBSAFE_TRYV(file_ops::ensure_directory(final_path.parent_path()));
        // `<name>.cache.<pid>-<n>.tmp`: a killed writer's is swept by garbage collection.
        static std::atomic<unsigned> counter{0};
        std::filesystem::path tmp;
        file_ops::unique_fd fd;
        for (int attempt = 0;; ++attempt) {
            tmp = final_path;
            tmp += "." + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".tmp";
            auto made = file_ops::create_exclusive(tmp);
            if (made) {
                fd = std::move(made).value();
                break;
            }
            if (attempt >= 8 || made.error().code != std::errc::file_exists) {
                return made.as_failure();
            }
        }
        change_cache_writer w(final_path, std::move(tmp), std::move(fd), h);
        const auto head = encode_cache_header(h);
        DBSAFE_TRYV(file_ops::write_all(w.fd_.get(), head, w.tmp_));
        return w;
    }

    // The next page's fingerprint and address, in page order.
    result<void> add(const page_fingerprint& f, const page_digest& address) {
        const std::size_t at = block_.size();
        block_.resize(at + cache_entry_bytes);
        std::memcpy(block_.data() + at, f.data(), f.size());
        std::memcpy(block_.data() + at + 16, address.bytes.data(), 32);
        ++pages_;
        if (block_.size() == cache_block_pages * cache_entry_bytes) return flush_block();
        return success();
    }

    // Every page added: the file is complete (not yet in place).
    result<void> finish() {
        if (pages_ != header_.page_count) {
            return error(errc::invalid_argument, "change cache " + tmp_.string() + " holds " +
                                                     std::to_string(pages_) + " of " +
                                                     std::to_string(header_.page_count) + " pages");
        }
        DBSAFE_TRYV(flush_block());
        fd_.reset();
        return success();
    }

    // Replaces the source's cache with this one (after finish(), once the snapshot is
    // committed). A failure leaves the old cache, still valid for its own snapshot.
    result<void> publish() {
        auto renamed = file_ops::rename_replace(tmp_, final_);
        if (!renamed) abandon();
        if (renamed) tmp_.clear();
        return renamed;
    }

    void abandon() noexcept {
        fd_.reset();
        if (!tmp_.empty()) (void)file_ops::remove_file(tmp_);
        tmp_.clear();
    }

  private:
    change_cache_writer(std::filesystem::path final_path, std::filesystem::path tmp,
                        file_ops::unique_fd fd, cache_header h)
        : final_(std::move(final_path)),
          tmp_(std::move(tmp)),
          fd_(std::move(fd)),
          header_(std::move(h)) {
        block_.reserve(cache_block_pages * cache_entry_bytes + 16);
    }

    result<void> flush_block() {
        if (block_.empty()) return success();
        const auto sum = xxh3_128_bytes(block_);
        block_.insert(block_.end(), reinterpret_cast<const std::byte*>(sum.data()),
                      reinterpret_cast<const std::byte*>(sum.data()) + sum.size());
        DBSAFE_TRYV(file_ops::write_all(fd_.get(), block_, tmp_));
        block_.clear();
        return success();
    }

    std::filesystem::path final_;
    std::filesystem::path tmp_;
    file_ops::unique_fd fd_;
    cache_header header_;
    std::vector<std::byte> block_;
    std::uint64_t pages_ = 0;
};

}  // namespace dbsafe::pages_detail
