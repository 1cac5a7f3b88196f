// The compressing follower: one backup being compressed while the snapshot writes it.
//
// Speed. Compression is the bottleneck (zstd -3 is CPU-bound), so it must overlap the
// snapshot, and the uncompressed copy must never be fsynced or read from disk again. The
// storage concept stages a plain file that the snapshot writes; stage() therefore starts a
// follower thread that compresses that file while it grows (from the page cache, a few ms
// behind the writer), and commit() only finishes the last frame. SQLite's backup API writes
// the destination in ascending page order except page 1, which it rewrites at the very end
// (schema cookie, change counter; the journal-mode patch too). So the archive is laid out as
//   [frame: bytes 0..64 KiB][skippable frame: padding][frame: bytes 64 KiB..end]
// The follower streams everything past the first 64 KiB (the largest SQLite page) into the
// last frame; commit() compresses the final first 64 KiB into the reserved slot at the front
// and pads the rest of the slot with a skippable frame, which every zstd decoder ignores.
// Nothing is assumed about the write order, though. The follower hashes the head as it first
// sees it and then the body; if that equals the manifest's checksum of the final file (the
// file-copy path writes every byte once, in order), the body is known final without reading
// it again. Otherwise commit() re-hashes the part the follower streamed and, if any of it
// changed after the follower read it (another snapshot strategy, another SQLite version),
// compresses the final file again as one frame. Small databases (< 4 MiB) take that path too:
// the slot would cost more than re-reading them.
#pragma once

#include <unistd.h>
#include <zstd.h>

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

#include "dbsafe/backends/zstd/stream.hpp"
#include "dbsafe/checksum.hpp"
#include "dbsafe/error.hpp"
#include "dbsafe/storage/file_operations.hpp"

namespace dbsafe {

// What the last commit() did, for benchmarks and tests (not stored anywhere).
struct zstd_commit_stats {
    bool streamed = false;  // true: compressed while the snapshot ran; false: at commit()
    std::uint64_t archive_bytes = 0;
};

namespace zstd_detail {

// Largest SQLite page: the head holds page 1 whatever the page size.
inline constexpr std::uint64_t zstd_head_bytes = 64 * 1024;
// Reserved at the front of a streamed archive: the head's frame + a skippable frame's header.
inline constexpr std::uint64_t zstd_head_slot = ZSTD_COMPRESSBOUND(zstd_head_bytes) + 8;
inline constexpr std::uint64_t zstd_min_streamed_bytes = std::uint64_t{4} << 20;

inline result<checksum> hash_file_range(int fd, const std::filesystem::path& p, std::uint64_t from,
                                        std::uint64_t& bytes) {
    std::vector<std::byte> buf(zstd_chunk);
    xxh3_128_hasher h;
    bytes = 0;
    for (std::uint64_t off = from;;) {
        DBSAFE_TRY(const std::size_t n, file_ops::read_at(fd, buf, off, p));
        if (n == 0) break;
        h.update(std::span(buf).first(n));
        off += n;
        bytes += n;
    }
    return h.finish();
}

// One backup being compressed: owns the archive's temp file and the thread that follows the
// staged database as the snapshot writes it.
class zstd_pipeline {
  public:
    zstd_pipeline(std::filesystem::path staged, std::filesystem::path archive_tmp,
                  file_ops::unique_fd archive, zstd_cctx cctx, int level)
        : level_(level),
          staged_(std::move(staged)),
          archive_tmp_(std::move(archive_tmp)),
          archive_(std::move(archive)),
          cctx_(std::move(cctx)) {}
    zstd_pipeline(const zstd_pipeline&) = delete;
    zstd_pipeline& operator=(const zstd_pipeline&) = delete;
    ~zstd_pipeline() { stop(); }

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

    // The staged file is final and hashes to `final_checksum` (the manifest's): completes the
    // archive (fsynced) and returns its statistics.
    result<zstd_commit_stats> finish(const checksum& final_checksum) {
        {
            const std::lock_guard lock(mutex_);
            writer_done_ = true;
        }
        wake_.notify_all();
        if (follower_.joinable()) follower_.join();
        if (failure_) return *failure_;  // the archive could not be written: no fallback helps

        DBSAFE_TRY(auto in, file_ops::open_for_read(staged_));
        zstd_commit_stats stats;
        const std::uint64_t size = file_ops::file_size_or_zero(staged_);
        // The follower hashed the head as it first saw it, then the body as it streamed it. If
        // that is the final file's checksum, nothing changed behind the follower (the file
        // copy writes every byte once, in order) and the file need not be read again.
        const bool seen_final = head_hashed_ && zstd_head_bytes + streamed_bytes_ == size &&
                                whole_hash_.finish() == final_checksum;
        if (size >= zstd_min_streamed_bytes && seen_final) {
            stats.streamed = body_end_ != 0;
        } else if (size >= zstd_min_streamed_bytes) {
            // Bytes changed behind the follower (page 1, say): check the body alone.
            std::uint64_t bytes = 0;
            DBSAFE_TRY(const checksum now,
                       hash_file_range(in.get(), staged_, zstd_head_bytes, bytes));
            stats.streamed =
                body_end_ != 0 && bytes == streamed_bytes_ && now == streamed_hash_.finish();
        }
        if (stats.streamed) {
            DBSAFE_TRYV(write_head(in.get()));
            stats.archive_bytes = body_end_;
        } else {
            // Recompress the final file as one frame, from the start of an emptied archive.
            if (::ftruncate(archive_.get(), 0) != 0) {
                return file_ops::os_error(errno, "cannot truncate", archive_tmp_);
            }
            ZSTD_CCtx_reset(cctx_.get(), ZSTD_reset_session_only);
            zstd_sink sink(cctx_.get(), archive_.get(), archive_tmp_, 0);
            DBSAFE_TRYV(compress_file_range(in.get(), staged_, 0, sink, nullptr));
            stats.archive_bytes = sink.end_offset();
        }
        DBSAFE_TRYV(file_ops::sync_fd(archive_.get(), archive_tmp_));
        archive_.reset();
        return stats;
    }

    [[nodiscard]] const std::filesystem::path& archive_path() const noexcept {
        return archive_tmp_;
    }

  private:
    // Runs on the follower thread: streams [64 KiB, EOF) of the growing staged file into the
    // archive's last frame, polling for growth until the writer is done.
    void follow() noexcept {
        try {
            auto outcome = follow_impl();
            if (!outcome) failure_ = std::move(outcome).error();
        } catch (const std::exception& e) {  // bad_alloc: report, never terminate
            failure_ = error(errc::io_error, std::string("compressing ") + staged_.string() +
                                                 " failed: " + e.what());
        }
    }

    result<void> follow_impl() {
        DBSAFE_TRY(auto in, file_ops::open_for_read(staged_));
        zstd_sink sink(cctx_.get(), archive_.get(), archive_tmp_, zstd_head_slot);
        std::vector<std::byte> buf(zstd_chunk);
        std::uint64_t off = zstd_head_bytes;
        for (;;) {
            bool final = false;
            {
                const std::lock_guard lock(mutex_);
                if (cancelled_) return success();
                final = writer_done_;
            }
            DBSAFE_TRY(const std::size_t n, file_ops::read_at(in.get(), buf, off, staged_));
            if (n > 0) {
                if (!head_hashed_) {
                    // Page 1 is written first; if it changes later, the comparison with the
                    // final checksum in finish() notices.
                    std::vector<std::byte> head(zstd_head_bytes);
                    DBSAFE_TRY(const std::size_t h, file_ops::read_at(in.get(), head, 0, staged_));
                    whole_hash_.update(std::span<const std::byte>(head).first(h));
                    head_hashed_ = true;
                }
                const auto chunk = std::span<const std::byte>(buf).first(n);
                whole_hash_.update(chunk);
                streamed_hash_.update(chunk);
                DBSAFE_TRYV(sink.push(chunk, ZSTD_e_continue));
                off += n;
                streamed_bytes_ += n;
                continue;
            }
            if (final) break;  // read to the end after the writer finished: all of it
            std::unique_lock lock(mutex_);
            wake_.wait_for(lock, std::chrono::milliseconds(2),
                           [this] { return cancelled_ || writer_done_; });
        }
        DBSAFE_TRYV(sink.push({}, ZSTD_e_end));
        body_end_ = sink.end_offset();
        return success();
    }

    // Compresses the final first 64 KiB into the slot reserved at the front of the archive
    // and fills the rest of the slot with a skippable frame.
    result<void> write_head(int in) {
        std::vector<std::byte> head(zstd_head_bytes);
        DBSAFE_TRY(const std::size_t n, file_ops::read_at(in, head, 0, staged_));
        std::vector<std::byte> frame(zstd_head_slot);
        zstd_cctx one = zstd_cctx(ZSTD_createCCtx());
        if (!one)
            return error(std::make_error_code(std::errc::not_enough_memory),
                         "ZSTD_createCCtx failed");
        ZSTD_CCtx_setParameter(one.get(), ZSTD_c_compressionLevel, level_);
        ZSTD_CCtx_setParameter(one.get(), ZSTD_c_checksumFlag, 1);
        const size_t c = ZSTD_compress2(one.get(), frame.data(), frame.size() - 8, head.data(), n);
        if (ZSTD_isError(c)) {
            return error(errc::io_error, "zstd compression into " + archive_tmp_.string() +
                                             " failed: " + ZSTD_getErrorName(c));
        }
        // Skippable frame: magic, then the length of its (ignored) content, little-endian.
        const auto put32 = [&](std::size_t at, std::uint32_t v) {
            for (int i = 0; i < 4; ++i) frame[at + i] = static_cast<std::byte>(v >> (8 * i));
        };
        put32(c, ZSTD_MAGIC_SKIPPABLE_START);
        put32(c + 4, static_cast<std::uint32_t>(zstd_head_slot - c - 8));
        return write_archive_at(archive_.get(), frame, 0, archive_tmp_);
    }

    int level_;
    std::filesystem::path staged_;
    std::filesystem::path archive_tmp_;
    file_ops::unique_fd archive_;
    zstd_cctx cctx_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool writer_done_ = false;
    bool cancelled_ = false;
    // Written by the follower, read after join().
    std::optional<error> failure_;
    xxh3_128_hasher streamed_hash_;  // the body, as streamed
    xxh3_128_hasher whole_hash_;     // the head as first seen, then the body
    bool head_hashed_ = false;
    std::uint64_t streamed_bytes_ = 0;
    std::uint64_t body_end_ = 0;
    std::thread follower_;
};

}  // namespace zstd_detail

}  // namespace dbsafe
