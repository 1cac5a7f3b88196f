// The zstd stream wrappers: compression contexts configured for dbsafe (level, content
// checksums, worker threads with bounded job sizes), and a compression stream that writes to a
// file from a given offset, overlapping its write-back with the compression.
#pragma once

#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "dbsafe/checksum.hpp"
#include "dbsafe/error.hpp"
#include "dbsafe/storage/file_operations.hpp"

namespace dbsafe::zstd_detail {

// Read and write unit: memory stays bounded whatever the database's size.
inline constexpr std::size_t zstd_chunk = std::size_t{1} << 20;

// Owns a zstd context: frees it with libzstd's `Free`.
template <auto Free>
struct zstd_free {
    void operator()(auto* context) const noexcept { (void)Free(context); }
};
using zstd_cctx = std::unique_ptr<ZSTD_CCtx, zstd_free<ZSTD_freeCCtx>>;
using zstd_dctx = std::unique_ptr<ZSTD_DCtx, zstd_free<ZSTD_freeDCtx>>;

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

// Writes compressed bytes at `offset` of the archive. RLIMIT_FSIZE (EFBIG) is a full disk by
// another name for the user, so it is reported as one.
inline result<void> write_archive_at(int fd, std::span<const std::byte> data, std::uint64_t offset,
                                     const std::filesystem::path& p) {
    auto written = file_ops::write_at(fd, data, offset, p);
    if (!written && written.error().code == std::errc::file_too_large) {
        return file_ops::os_error(ENOSPC, "cannot write archive", p);
    }
    return written;
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
            DBSAFE_TRYV(write_archive_at(fd_, std::span(out_).first(output.pos), offset_, path_));
            offset_ += output.pos;
            if (offset_ - written_back_ >= write_back_bytes) {
                // The archive is fsynced at commit: overlap its write-back with compression.
                file_ops::start_write_back(fd_, written_back_, offset_ - written_back_);
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
        DBSAFE_TRY(const std::size_t n, file_ops::read_at(in, buf, off, in_path));
        if (n == 0) break;
        const auto chunk = std::span<const std::byte>(buf).first(n);
        if (hash != nullptr) hash->update(chunk);
        DBSAFE_TRYV(sink.push(chunk, ZSTD_e_continue));
        off += n;
    }
    return sink.push({}, ZSTD_e_end);
}

}  // namespace dbsafe::zstd_detail
