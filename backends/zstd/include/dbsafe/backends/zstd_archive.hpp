// zstd_archive: backups stored as zstd archives, `<id>.db.zst` + `<id>.json`.
//
// A decorator over local_directory, not a second directory format: the layout, the manifest,
// listing, debris and removal are local_directory's, unchanged; only the data file is encoded.
// So one directory can hold plain and compressed backups side by side, and a zstd_archive
// reads both (open() of a plain backup is local_directory's open()).
//
// The archive is standard zstd (frames with content checksums): `zstd -d <id>.db.zst` gives
// back the exact database. The manifest's size and checksum are those of the uncompressed
// database; `compression` records algorithm, level and archive size.
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
// compresses the final file again as one frame. Small databases
// (< 4 MiB) take that path too: the slot would cost more than re-reading them.
//
// Reading: open() decompresses by streaming into a 0600 temp file (in `scratch`, default the
// backup directory; `<id>.unpacked-*.tmp`, so a crash leaves debris that prune sweeps) and
// checks size (size_bytes), checksum and SQLite header against the manifest before anyone reads it;
// the file is removed when the readable_backup goes away. Memory is bounded both ways (1 MiB
// buffers plus libzstd's window and job buffers), whatever the database's size.
#pragma once

#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "dbsafe/checksum.hpp"
#include "dbsafe/detail/posix_file.hpp"
#include "dbsafe/error.hpp"
#include "dbsafe/manifest.hpp"
#include "dbsafe/storage/local_directory.hpp"
#include "dbsafe/storage/storage_target.hpp"

namespace dbsafe {

struct zstd_settings {
    int level = 3;    // 1 (fast) .. 19 (small), zstd's own default is 3; 0 = write new backups
                      // uncompressed (still reading compressed ones), e.g. restore's safety copy
    int threads = 0;  // compression workers; 0 = one per core
    std::filesystem::path scratch{};  // where open() decompresses to; empty = backup directory
};

// What the last commit() did, for benchmarks and tests (not stored anywhere).
struct zstd_commit_stats {
    bool streamed = false;  // true: compressed while the snapshot ran; false: at commit()
    std::uint64_t archive_bytes = 0;
};

namespace detail {

inline constexpr std::size_t zstd_chunk = std::size_t{1} << 20;
// Largest SQLite page: the head holds page 1 whatever the page size.
inline constexpr std::uint64_t zstd_head_bytes = 64 * 1024;
// Reserved at the front of a streamed archive: the head's frame + a skippable frame's header.
inline constexpr std::uint64_t zstd_head_slot = ZSTD_COMPRESSBOUND(zstd_head_bytes) + 8;
inline constexpr std::uint64_t zstd_min_streamed_bytes = std::uint64_t{4} << 20;
inline constexpr std::array<char, 16> sqlite_header_magic{'S', 'Q', 'L', 'i', 't', 'e', ' ', 'f',
                                                          'o', 'r', 'm', 'a', 't', ' ', '3', '\0'};

struct zstd_cctx_free {
    void operator()(ZSTD_CCtx* c) const noexcept { ZSTD_freeCCtx(c); }
};
struct zstd_dctx_free {
    void operator()(ZSTD_DCtx* d) const noexcept { ZSTD_freeDCtx(d); }
};
using zstd_cctx = std::unique_ptr<ZSTD_CCtx, zstd_cctx_free>;
using zstd_dctx = std::unique_ptr<ZSTD_DCtx, zstd_dctx_free>;

inline int zstd_worker_count(int threads) {
    if (threads > 0) return threads;
    const unsigned cores = std::thread::hardware_concurrency();
    return cores == 0 ? 1 : static_cast<int>(cores);
}

// 4 MiB jobs up to 4 workers, then smaller (never under zstd's 1 MiB minimum).
inline int zstd_job_bytes(int workers) {
    constexpr int mib = 1 << 20;
    return std::clamp(16 / std::max(workers, 1), 1, 4) * mib;
}

inline result<zstd_cctx> make_zstd_cctx(int level, int workers) {
    zstd_cctx c(ZSTD_createCCtx());
    if (!c)
        return error(std::make_error_code(std::errc::not_enough_memory), "ZSTD_createCCtx failed");
    for (const auto& [param, value] :
         {std::pair{ZSTD_c_compressionLevel, level}, std::pair{ZSTD_c_checksumFlag, 1}}) {
        if (const size_t rc = ZSTD_CCtx_setParameter(c.get(), param, value); ZSTD_isError(rc)) {
            return error(errc::invalid_argument,
                         std::string("cannot configure zstd: ") + ZSTD_getErrorName(rc));
        }
    }
    // A libzstd built without threads refuses workers: it then compresses on the calling thread.
    if (workers > 1 && !ZSTD_isError(ZSTD_CCtx_setParameter(c.get(), ZSTD_c_nbWorkers, workers)) &&
        level <= 9) {
        // Smaller jobs than zstd's 4 x window (8 MiB at level 3), sized so that all workers'
        // buffers (about 2 x workers x job size) stay near 32 MiB, whatever the core count.
        // Measured on a 512 MiB database at -3 -T2: 1 MiB jobs 14 MiB RSS but 1.47 s, 4 MiB
        // jobs 38 MiB and 1.24 s, the default 70 MiB and 1.2 s; the ratio is the same.
        // Higher levels keep the default: each job reloads up to a window of history.
        (void)ZSTD_CCtx_setParameter(c.get(), ZSTD_c_jobSize, zstd_job_bytes(workers));
    }
    return c;
}

inline result<void> pwrite_all(int fd, std::span<const std::byte> data, std::uint64_t offset,
                               const std::filesystem::path& p) {
    while (!data.empty()) {
        const ssize_t n = ::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset));
        if (n < 0) {
            if (errno == EINTR) continue;
            const int err = errno;
            // RLIMIT_FSIZE (EFBIG) is a full disk by another name for the user.
            return os_error(err == EFBIG ? ENOSPC : err, "cannot write archive", p);
        }
        data = data.subspan(static_cast<std::size_t>(n));
        offset += static_cast<std::uint64_t>(n);
    }
    return success();
}

// A compression stream writing to a file from a given offset.
class zstd_sink {
  public:
    zstd_sink(ZSTD_CCtx* cctx, int fd, std::filesystem::path path, std::uint64_t offset)
        : cctx_(cctx),
          fd_(fd),
          path_(std::move(path)),
          offset_(offset),
          written_back_(offset),
          out_(ZSTD_CStreamOutSize()) {}

    // Compresses `in`; with ZSTD_e_end also closes the frame (and flushes it).
    result<void> push(std::span<const std::byte> in, ZSTD_EndDirective mode) {
        ZSTD_inBuffer input{in.data(), in.size(), 0};
        for (;;) {
            ZSTD_outBuffer output{out_.data(), out_.size(), 0};
            const size_t left = ZSTD_compressStream2(cctx_, &output, &input, mode);
            if (ZSTD_isError(left)) {
                return error(errc::io_error, "zstd compression into " + path_.string() +
                                                 " failed: " + ZSTD_getErrorName(left));
            }
            DBSAFE_TRYV(pwrite_all(fd_, std::span(out_).first(output.pos), offset_, path_));
            offset_ += output.pos;
            if (offset_ - written_back_ >= write_back_bytes) {
                // The archive is fsynced at commit: overlap its write-back with compression.
                start_write_back(fd_, written_back_, offset_ - written_back_);
                written_back_ = offset_;
            }
            const bool done = mode == ZSTD_e_end ? left == 0 : input.pos == input.size;
            if (done) return success();
        }
    }

    [[nodiscard]] std::uint64_t end_offset() const noexcept { return offset_; }

  private:
    ZSTD_CCtx* cctx_;
    int fd_;
    std::filesystem::path path_;
    std::uint64_t offset_;
    std::uint64_t written_back_;
    std::vector<std::byte> out_;
    static constexpr std::uint64_t write_back_bytes = std::uint64_t{4} << 20;
};

// Compresses [from, EOF) of `in` as one frame into `sink`, hashing what it reads.
inline result<void> compress_file_range(int in, const std::filesystem::path& in_path,
                                        std::uint64_t from, zstd_sink& sink,
                                        xxh3_128_hasher* hash) {
    std::vector<std::byte> buf(zstd_chunk);
    for (std::uint64_t off = from;;) {
        DBSAFE_TRY(const std::size_t n, read_at(in, buf, off, in_path));
        if (n == 0) break;
        const auto chunk = std::span<const std::byte>(buf).first(n);
        if (hash != nullptr) hash->update(chunk);
        DBSAFE_TRYV(sink.push(chunk, ZSTD_e_continue));
        off += n;
    }
    return sink.push({}, ZSTD_e_end);
}

inline result<checksum> hash_file_range(int fd, const std::filesystem::path& p, std::uint64_t from,
                                        std::uint64_t& bytes) {
    std::vector<std::byte> buf(zstd_chunk);
    xxh3_128_hasher h;
    bytes = 0;
    for (std::uint64_t off = from;;) {
        DBSAFE_TRY(const std::size_t n, read_at(fd, buf, off, p));
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
                  unique_fd archive, zstd_cctx cctx, int level)
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

        DBSAFE_TRY(auto in, open_for_read(staged_));
        zstd_commit_stats stats;
        const std::uint64_t size = file_size_or_zero(staged_);
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
                return os_error(errno, "cannot truncate", archive_tmp_);
            }
            ZSTD_CCtx_reset(cctx_.get(), ZSTD_reset_session_only);
            zstd_sink sink(cctx_.get(), archive_.get(), archive_tmp_, 0);
            DBSAFE_TRYV(compress_file_range(in.get(), staged_, 0, sink, nullptr));
            stats.archive_bytes = sink.end_offset();
        }
        DBSAFE_TRYV(sync_fd(archive_.get(), archive_tmp_));
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
        DBSAFE_TRY(auto in, open_for_read(staged_));
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
            DBSAFE_TRY(const std::size_t n, read_at(in.get(), buf, off, staged_));
            if (n > 0) {
                if (!head_hashed_) {
                    // Page 1 is written first; if it changes later, the comparison with the
                    // final checksum in finish() notices.
                    std::vector<std::byte> head(zstd_head_bytes);
                    DBSAFE_TRY(const std::size_t h, read_at(in.get(), head, 0, staged_));
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
        DBSAFE_TRY(const std::size_t n, read_at(in, head, 0, staged_));
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
        return pwrite_all(archive_.get(), frame, 0, archive_tmp_);
    }

    int level_;
    std::filesystem::path staged_;
    std::filesystem::path archive_tmp_;
    unique_fd archive_;
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

// Decompresses `archive` into `out`, checking it against manifest `m` on the way: stops at the
// first byte past the manifest's size (a damaged or hostile archive cannot fill the disk).
inline result<void> unpack_zstd(const std::filesystem::path& archive, int out,
                                const std::filesystem::path& out_path, const manifest& m) {
    const std::string what = "archive " + archive.string() + " of backup " + m.id;
    const std::string advice = " (the archive is damaged: do not restore it; use another backup)";
    DBSAFE_TRY(auto in, open_for_read(archive));
    zstd_dctx dctx(ZSTD_createDCtx());
    if (!dctx)
        return error(std::make_error_code(std::errc::not_enough_memory), "ZSTD_createDCtx failed");
    std::vector<std::byte> in_buf(zstd_chunk);
    std::vector<std::byte> out_buf(ZSTD_DStreamOutSize());
    xxh3_128_hasher hash;
    std::uint64_t total = 0;
    std::uint64_t read_off = 0;
    size_t last = 0;
    std::array<char, 16> header{};
    for (;;) {
        DBSAFE_TRY(const std::size_t n, read_at(in.get(), in_buf, read_off, archive));
        if (n == 0) break;
        read_off += n;
        ZSTD_inBuffer input{in_buf.data(), n, 0};
        bool output_full = false;
        while (input.pos < input.size || output_full) {
            ZSTD_outBuffer output{out_buf.data(), out_buf.size(), 0};
            last = ZSTD_decompressStream(dctx.get(), &output, &input);
            if (ZSTD_isError(last)) {
                const bool sum = ZSTD_getErrorCode(last) == ZSTD_error_checksum_wrong;
                return error(sum ? errc::checksum_mismatch : errc::verification_failed,
                             what + " cannot be decompressed: zstd reports '" +
                                 ZSTD_getErrorName(last) + "' after " + std::to_string(total) +
                                 " bytes" + advice);
            }
            output_full = output.pos == output.size;
            const auto produced = std::span<const std::byte>(out_buf).first(output.pos);
            if (total < header.size()) {
                const auto k = std::min<std::size_t>(header.size() - total, produced.size());
                std::memcpy(header.data() + total, produced.data(), k);
                if (total + k == header.size() && header != sqlite_header_magic) {
                    return error(errc::not_a_database,
                                 what +
                                     " decompresses to something that is not an SQLite "
                                     "database (no 'SQLite format 3' header)" +
                                     advice);
                }
            }
            total += produced.size();
            if (total > m.size_bytes) {
                return error(errc::checksum_mismatch,
                             what + " decompresses to more than the " +
                                 std::to_string(m.size_bytes) +
                                 " bytes its manifest records (size_bytes)" + advice);
            }
            hash.update(produced);
            DBSAFE_TRYV(write_all(out, produced, out_path));
        }
    }
    if (last != 0) {
        return error(errc::verification_failed,
                     what + " is truncated: it ends inside a zstd frame after " +
                         std::to_string(read_off) + " bytes" + advice);
    }
    if (total < header.size() || header != sqlite_header_magic) {
        return error(errc::not_a_database, what + " decompresses to " + std::to_string(total) +
                                               " bytes, not an SQLite database" + advice);
    }
    if (total != m.size_bytes) {
        return error(errc::checksum_mismatch,
                     "size_bytes: " + what + " decompresses to " + std::to_string(total) +
                         " bytes, its manifest records " + std::to_string(m.size_bytes) + advice);
    }
    if (m.checksum.algorithm == "xxh3-128") {
        if (const checksum actual = hash.finish(); actual.hex != m.checksum.hex) {
            return error(errc::checksum_mismatch,
                         "checksum mismatch for backup " + m.id + " (" + archive.string() +
                             "): manifest says xxh3-128 " + m.checksum.hex +
                             ", the decompressed data hashes to " + actual.hex + advice);
        }
    }
    return success();
}

}  // namespace detail

class zstd_archive {
  public:
    zstd_archive() = default;
    explicit zstd_archive(std::filesystem::path dir, zstd_settings settings = {})
        : dir_(std::move(dir)), settings_(std::move(settings)) {}

    [[nodiscard]] const std::filesystem::path& location() const noexcept { return dir_.location(); }
    [[nodiscard]] const zstd_settings& settings() const noexcept { return settings_; }
    [[nodiscard]] const local_directory& directory() const noexcept { return dir_; }
    [[nodiscard]] std::filesystem::path archive_path(std::string_view id) const {
        return dir_.location() / (std::string(id) + ".db.zst");
    }
    [[nodiscard]] zstd_commit_stats last_commit() const {
        const std::lock_guard lock(state_->mutex);
        return state_->last;
    }

    // Creates the staged database file (local_directory's stage) and the archive's temp file,
    // and starts compressing the former into the latter as the snapshot writes it.
    result<staged_backup> stage(std::string_view id) {
        if (settings_.level == 0) return dir_.stage(id);
        if (settings_.level < 1 || settings_.level > ZSTD_maxCLevel()) {
            return error(errc::invalid_argument, "zstd level " + std::to_string(settings_.level) +
                                                     " is out of range: use 1.." +
                                                     std::to_string(ZSTD_maxCLevel()) +
                                                     " (3 is the default)");
        }
        if (settings_.threads < 0) {
            return error(errc::invalid_argument,
                         "zstd threads must be 0 (one per core) or more, not " +
                             std::to_string(settings_.threads));
        }
        DBSAFE_TRY(staged_backup staged, dir_.stage(id));
        staged.fsynced = false;  // compressed from the page cache, then removed
        auto pipeline = make_pipeline(staged);
        if (!pipeline) {
            dir_.discard(staged);
            return pipeline.as_failure();
        }
        {
            const std::lock_guard lock(state_->mutex);
            state_->running[staged.id] = std::move(pipeline).value();
        }
        return staged;
    }

    // Same protocol as local_directory: archive .tmp -> fsync -> rename -> manifest .tmp ->
    // fsync -> rename -> fsync directory. The uncompressed staged file is never fsynced, only
    // removed.
    result<manifest> commit(const staged_backup& staged, manifest m) {
        if (settings_.level == 0) return dir_.commit(staged, std::move(m));
        auto pipeline = take(staged.id);
        if (!pipeline) {
            return error(errc::invalid_argument,
                         "backup " + staged.id + " was not staged by this zstd_archive");
        }
        DBSAFE_TRY(const zstd_commit_stats stats, pipeline->finish(m.checksum));
        const auto tmp = pipeline->archive_path();
        pipeline.reset();
        const auto archive = archive_path(staged.id);
        m.file = staged.id + ".db.zst";
        m.compression = compression_info{"zstd", settings_.level, stats.archive_bytes};
        DBSAFE_TRYV(detail::rename_no_replace(tmp, archive));
        auto published =
            detail::publish_small_file(dir_.manifest_path(staged.id), manifest_text(m));
        if (!published) {
            (void)detail::remove_file(archive);  // no manifest, no backup: leave no debris
            return published.as_failure();
        }
        dir_.discard(staged);  // the uncompressed copy: dropped before it ever reaches the disk
        if (auto synced = detail::sync_directory(location()); !synced) {
            dir_.withdraw(staged.id, archive);  // failed commit = no backup (local_directory)
            return synced.error().within("", " (the backup was withdrawn; retry the backup)");
        }
        {
            const std::lock_guard lock(state_->mutex);
            state_->last = stats;
        }
        m.data_path = archive;
        return m;
    }

    void discard(const staged_backup& staged) noexcept {
        try {
            auto pipeline = take(staged.id);
            if (pipeline) pipeline->stop();
            pipeline.reset();
            (void)detail::remove_file(archive_tmp_path(staged.id));
        } catch (...) {  // string/path allocation can throw; discard must not
        }
        dir_.discard(staged);
    }

    [[nodiscard]] result<listing> list() const { return dir_.list(); }

    // A plain backup is local_directory's; a compressed one is decompressed into a temp file
    // that is removed when the returned readable_backup is destroyed.
    [[nodiscard]] result<readable_backup> open(std::string_view id) const {
        DBSAFE_TRY(manifest m, dir_.load_manifest(id));
        if (!m.compression) return dir_.open(id);
        if (m.compression->algorithm != "zstd") {
            return error(errc::unsupported, "backup " + m.id + " is compressed with " +
                                                m.compression->algorithm +
                                                ", which zstd_archive cannot read");
        }
        const auto archive = location() / m.file;
        if (std::error_code ec; !std::filesystem::is_regular_file(archive, ec)) {
            return error(errc::not_found, "archive " + archive.string() + " of backup " + m.id +
                                              " is missing: the backup is incomplete");
        }
        const auto scratch = settings_.scratch.empty() ? location() : settings_.scratch;
        DBSAFE_TRYV(detail::ensure_directory(scratch));
        DBSAFE_TRY(auto made, create_scratch_file(scratch, m.id));
        auto& [tmp, fd] = made;
        auto unpacked = detail::unpack_zstd(archive, fd.get(), tmp, m);
        fd.reset();
        if (!unpacked) {
            (void)detail::remove_file(tmp);
            return unpacked.as_failure();
        }
        m.data_path = archive;
        auto path = tmp;
        return readable_backup(std::move(m), std::move(tmp),
                               [path] { (void)detail::remove_file(path); });
    }

    result<void> remove(std::string_view id) { return dir_.remove(id); }
    result<void> remove_debris(const debris& d) { return dir_.remove_debris(d); }

  private:
    // Shared by copies of this object, so a copied vault still finds its staged backups.
    struct shared_state {
        std::mutex mutex;
        std::map<std::string, std::unique_ptr<detail::zstd_pipeline>> running;
        zstd_commit_stats last;
    };

    [[nodiscard]] std::filesystem::path archive_tmp_path(std::string_view id) const {
        auto p = archive_path(id);
        p += ".tmp";
        return p;
    }

    result<std::unique_ptr<detail::zstd_pipeline>> make_pipeline(const staged_backup& staged) {
        const auto tmp = archive_tmp_path(staged.id);
        DBSAFE_TRY(auto cctx, detail::make_zstd_cctx(settings_.level,
                                                     detail::zstd_worker_count(settings_.threads)));
        DBSAFE_TRY(auto fd, detail::create_exclusive(tmp));
        auto p = std::make_unique<detail::zstd_pipeline>(staged.path, tmp, std::move(fd),
                                                         std::move(cctx), settings_.level);
        p->start();
        return p;
    }

    std::unique_ptr<detail::zstd_pipeline> take(const std::string& id) {
        const std::lock_guard lock(state_->mutex);
        auto it = state_->running.find(id);
        if (it == state_->running.end()) return nullptr;
        auto p = std::move(it->second);
        state_->running.erase(it);
        return p;
    }

    static result<std::pair<std::filesystem::path, detail::unique_fd>> create_scratch_file(
        const std::filesystem::path& scratch, const std::string& id) {
        static std::atomic<unsigned> counter{0};
        for (int attempt = 0;; ++attempt) {
            const auto name = id + ".unpacked-" + std::to_string(::getpid()) + "-" +
                              std::to_string(counter.fetch_add(1)) + ".tmp";
            auto path = scratch / name;
            auto fd = detail::create_exclusive(path);
            if (fd) return std::pair{std::move(path), std::move(fd).value()};
            if (attempt >= 8 || fd.error().code != std::errc::file_exists) return fd.as_failure();
        }
    }

    local_directory dir_;
    zstd_settings settings_;
    std::shared_ptr<shared_state> state_ = std::make_shared<shared_state>();
};

static_assert(storage_target<zstd_archive>);

}  // namespace dbsafe
