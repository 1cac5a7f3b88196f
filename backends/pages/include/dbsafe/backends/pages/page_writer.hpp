// The page follower: one backup being stored as pages while the snapshot writes it.
//
// Speed. The storage concept stages a plain file that the snapshot writes; stage() starts a
// follower thread that reads that file as it grows (from the page cache, a few ms behind the
// writer), hashes every page and stores the new ones (page_store.hpp). commit() then only
// finishes the last frame: the staged copy is never fsynced and never read again in full.
//
// Correctness first. SQLite's backup API writes the destination in ascending page order except
// page 1, which it rewrites at the very end, and a snapshot may even start over (a copy that
// yields to a writer empties the file). So nothing is assumed about the write order: the
// follower hashes (xxh3) page 1 as it first saw it, then the body as it streamed it, and
// commit() compares with the manifest's checksum of the final file. Equal: every digest is the
// final file's. Otherwise it hashes page 1 as first seen followed by the body as it is now;
// equal, only page 1 changed, and page 1 is always taken from the final file. Otherwise the
// final file is scanned again, page by page.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "dbsafe/backends/pages/page_digest.hpp"
#include "dbsafe/backends/pages/page_spool.hpp"
#include "dbsafe/backends/pages/page_store.hpp"
#include "dbsafe/backends/pages/snapshot_object.hpp"
#include "dbsafe/checksum.hpp"
#include "dbsafe/error.hpp"
#include "dbsafe/storage/file_operations.hpp"

namespace dbsafe::pages_detail {

inline constexpr std::size_t follow_chunk = std::size_t{1} << 20;

// The page size an SQLite header declares (bytes 16-17, big-endian, 1 = 65536); 0 if none.
inline std::uint32_t header_page_size(std::span<const std::byte> header) {
    if (header.size() < 100) return 0;
    static constexpr char magic[] = "SQLite format 3";
    for (std::size_t i = 0; i < 16; ++i) {
        if (header[i] != static_cast<std::byte>(magic[i])) return 0;
    }
    std::uint32_t s = (std::to_integer<std::uint32_t>(header[16]) << 8U) |
                      std::to_integer<std::uint32_t>(header[17]);
    if (s == 1) s = 65536;
    return valid_page_size(s) ? s : 0;
}

// What the follower made of the final file.
struct followed_pages {
    std::uint32_t page_size = 0;
    page_spool pages{};     // page 1 first
    bool streamed = false;  // false: the final file was scanned again at commit
    bool fed = false;       // read from the database file, never staged (page_intake)
    // The snapshot whose change cache vouched for some pages, and which ones (page_intake):
    // commit checks those addresses against that snapshot's page list.
    std::string cached_from{};
    std::vector<bool> cached{};
};

class page_follower {
  public:
    page_follower(std::filesystem::path staged, page_store store)
        : staged_(std::move(staged)), store_(std::move(store)) {}
    page_follower(const page_follower&) = delete;
    page_follower& operator=(const page_follower&) = delete;
    ~page_follower() { stop(); }

    void start() {
        follower_ = std::thread([this] { follow(); });
    }

    // Stops the follower (its work is abandoned) and waits for it. Never throws.
    void stop() noexcept {
        {
            const std::lock_guard lock(mutex_);
            cancelled_ = true;
        }
        wake_.notify_all();
        if (follower_.joinable()) follower_.join();
    }

    // The staged file is final and hashes to `final_checksum`: returns its page digests, every
    // page stored. nullopt when the file is not an SQLite image made of whole pages (a byte
    // copy of a damaged database): the caller stores it as a file instead.
    result<std::optional<followed_pages>> finish(const checksum& final_checksum) {
        {
            const std::lock_guard lock(mutex_);
            writer_done_ = true;
        }
        wake_.notify_all();
        if (follower_.joinable()) follower_.join();
        if (failure_) return *failure_;

        DBSAFE_TRY(auto in, file_ops::open_for_read(staged_));
        const std::uint64_t size = file_ops::file_size_or_zero(staged_);
        std::vector<std::byte> head(100);
        DBSAFE_TRY(const std::size_t h, file_ops::read_at(in.get(), head, 0, staged_));
        const std::uint32_t ps = header_page_size(std::span(head).first(h));
        if (ps == 0 || size == 0 || size % ps != 0 || size / ps > max_page_count) {
            return std::optional<followed_pages>{};
        }
        followed_pages out{.page_size = ps};
        bool seen_final = page_size_ == ps && std::uint64_t{ps} + streamed_bytes_ == size &&
                          whole_hash_.finish() == final_checksum;
        if (!seen_final && page_size_ == ps && std::uint64_t{ps} + streamed_bytes_ == size) {
            // Page 1 changed behind the follower (the backup API rewrites it last): the body
            // is unchanged when page 1 as first seen and the body as it is now hash alike.
            DBSAFE_TRY(const checksum now, hash_body_after(in.get(), first_page_));
            seen_final = now == whole_hash_.finish();
        }
        std::vector<std::byte> page(ps);
        DBSAFE_TRY(const std::size_t n1, file_ops::read_at(in.get(), page, 0, staged_));
        if (n1 != ps) return file_ops::os_error(EIO, "short read of page 1 of", staged_);
        DBSAFE_TRY(const page_digest first, hasher_.digest(page));
        if (seen_final) {
            out.pages = std::move(pages_);
            DBSAFE_TRYV(out.pages.set(0, first));
            out.streamed = true;
        } else {
            DBSAFE_TRYV(scan(in.get(), ps, first));
            out.pages = std::move(pages_);
        }
        DBSAFE_TRYV(store_.add(1, page, first));
        DBSAFE_TRYV(store_.flush());
        return std::optional<followed_pages>{std::move(out)};
    }

    [[nodiscard]] const page_store& store() const noexcept { return store_; }
    // For the owner's own use while the follower thread is not running (before start(), after
    // stop()): page_intake.hpp feeds pages to the same store.
    [[nodiscard]] page_store& store() noexcept { return store_; }
    // Whether the follower has read anything of the staged file (valid after stop()).
    [[nodiscard]] bool has_read() const noexcept { return page_size_ != 0; }

  private:
    void follow() noexcept {
        try {
            auto outcome = follow_impl();
            if (!outcome) failure_ = std::move(outcome).error();
        } catch (const std::exception& e) {  // bad_alloc: report, never terminate
            failure_ = error(errc::io_error, std::string("storing the pages of ") +
                                                 staged_.string() + " failed: " + e.what());
        }
    }

    // Waits for the writer; false when the follower should stop reading (cancelled, or the
    // writer is done and everything there is has been read).
    bool wait_for_more(bool& final) {
        std::unique_lock lock(mutex_);
        if (cancelled_) return false;
        if (final) return false;
        final = writer_done_;
        if (!final) {
            wake_.wait_for(lock, std::chrono::milliseconds(2),
                           [this] { return cancelled_ || writer_done_; });
        }
        return !cancelled_;
    }

    result<void> follow_impl() {
        DBSAFE_TRY(auto in, file_ops::open_for_read(staged_));
        DBSAFE_TRYV(hasher_.ready());
        std::vector<std::byte> buf(follow_chunk);
        bool final = false;
        // The header, then page 1 as first written.
        std::uint32_t ps = 0;
        for (;;) {
            DBSAFE_TRY(const std::size_t n,
                       file_ops::read_at(in.get(), std::span(buf).first(100), 0, staged_));
            if (n == 100) {
                ps = header_page_size(std::span(buf).first(100));
                if (ps == 0) return success();  // not an SQLite header: finish() scans
                DBSAFE_TRY(const std::size_t p,
                           file_ops::read_at(in.get(), std::span(buf).first(ps), 0, staged_));
                if (p == ps) break;
            }
            if (!wait_for_more(final)) return success();
        }
        DBSAFE_TRYV(pages_.restart(staged_.parent_path(), page_spool::id_of(staged_)));
        page_size_ = ps;
        first_page_.assign(buf.begin(), buf.begin() + ps);
        whole_hash_.update(first_page_);
        DBSAFE_TRYV(pages_.append(page_digest{}));  // page 1: taken from the final file at commit
        const std::size_t per_read = follow_chunk / ps * ps;
        for (std::uint64_t off = ps;;) {
            {
                const std::lock_guard lock(mutex_);
                if (cancelled_) return success();
            }
            DBSAFE_TRY(const std::size_t n,
                       file_ops::read_at(in.get(), std::span(buf).first(per_read), off, staged_));
            const std::size_t whole = n / ps * ps;
            if (whole > 0) {
                const auto chunk = std::span<const std::byte>(buf).first(whole);
                whole_hash_.update(chunk);
                for (std::size_t at = 0; at < whole; at += ps) {
                    const auto page = chunk.subspan(at, ps);
                    DBSAFE_TRY(const page_digest d, hasher_.digest(page));
                    DBSAFE_TRYV(pages_.append(d));
                    DBSAFE_TRYV(store_.add(pages_.size(), page, d));
                }
                off += whole;
                streamed_bytes_ += whole;
                continue;
            }
            if (!wait_for_more(final)) return success();
        }
    }

    // xxh3-128 of `head`, then of the file from head.size() on.
    result<checksum> hash_body_after(int fd, std::span<const std::byte> head) {
        std::vector<std::byte> buf(follow_chunk);
        xxh3_128_hasher h;
        h.update(head);
        for (std::uint64_t off = head.size();;) {
            DBSAFE_TRY(const std::size_t n, file_ops::read_at(fd, buf, off, staged_));
            if (n == 0) break;
            h.update(std::span(buf).first(n));
            off += n;
        }
        return h.finish();
    }

    // Every page of the final file into pages_, hashed and stored again (the follower's view
    // was stale); page 1, whose digest is `first`, is the caller's to store.
    result<void> scan(int fd, std::uint32_t ps, const page_digest& first) {
        DBSAFE_TRYV(pages_.restart(staged_.parent_path(), page_spool::id_of(staged_)));
        std::vector<std::byte> buf(follow_chunk / ps * ps);
        for (std::uint64_t off = 0;;) {
            DBSAFE_TRY(const std::size_t n, file_ops::read_at(fd, buf, off, staged_));
            if (n == 0) break;
            if (n % ps != 0) return file_ops::os_error(EIO, "short read of", staged_);
            for (std::size_t at = 0; at < n; at += ps) {
                const auto page = std::span<const std::byte>(buf).subspan(at, ps);
                if (pages_.empty()) {
                    DBSAFE_TRYV(pages_.append(first));
                    continue;
                }
                DBSAFE_TRY(const page_digest d, hasher_.digest(page));
                DBSAFE_TRYV(pages_.append(d));
                DBSAFE_TRYV(store_.add(pages_.size(), page, d));
            }
            off += n;
        }
        return success();
    }

    std::filesystem::path staged_;
    page_store store_;
    sha256_hasher hasher_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool writer_done_ = false;
    bool cancelled_ = false;
    // Written by the follower, read after join().
    std::optional<error> failure_;
    std::uint32_t page_size_ = 0;
    page_spool pages_;
    std::vector<std::byte> first_page_;  // page 1 as first seen
    xxh3_128_hasher whole_hash_;         // page 1 as first seen, then the body as streamed
    std::uint64_t streamed_bytes_ = 0;
    std::thread follower_;
};

}  // namespace dbsafe::pages_detail
