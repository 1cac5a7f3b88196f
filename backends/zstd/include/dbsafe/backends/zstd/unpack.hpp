// Unpack and validate: an archive back into a plain database, checked against its manifest.
//
// zstd_archive::open() decompresses by streaming into a 0600 temp file (in `scratch`, default
// the backup directory; `<id>.unpacked-*.tmp`, so a crash leaves debris that prune sweeps) and
// checks size (size_bytes), checksum and SQLite header against the manifest before anyone
// reads it; the file is removed when the readable_backup goes away. Memory is bounded both
// ways (1 MiB buffers plus libzstd's window and job buffers), whatever the database's size.
#pragma once

#include <zstd.h>
#include <zstd_errors.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "dbsafe/backends/zstd/stream.hpp"
#include "dbsafe/checksum.hpp"
#include "dbsafe/error.hpp"
#include "dbsafe/manifest.hpp"
#include "dbsafe/progress.hpp"
#include "dbsafe/storage/file_operations.hpp"

namespace dbsafe::zstd_detail {

inline constexpr std::array<char, 16> sqlite_header_magic{'S', 'Q', 'L', 'i', 't', 'e', ' ', 'f',
                                                          'o', 'r', 'm', 'a', 't', ' ', '3', '\0'};

// Decompresses `archive` into `out`, checking it against manifest `m` on the way: stops at the
// first byte past the manifest's size (a damaged or hostile archive cannot fill the disk).
// `on_progress` (may be empty) hears the bytes written, as progress_phase::unpack.
inline result<void> unpack_zstd(const std::filesystem::path& archive, int out,
                                const std::filesystem::path& out_path, const manifest& m,
                                const progress_callback& on_progress = {}) {
    byte_progress unpacked(on_progress, progress_phase::unpack, m.size_bytes);
    const std::string what = "archive " + archive.string() + " of backup " + m.id;
    const std::string advice = " (the archive is damaged: do not restore it; use another backup)";
    DBSAFE_TRY(auto in, file_ops::open_for_read(archive));
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
        DBSAFE_TRY(const std::size_t n, file_ops::read_at(in.get(), in_buf, read_off, archive));
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
            // A full output buffer may hold more to flush, unless zstd said the frame is done
            // (0): calling again then would start reading a next frame that is not there.
            output_full = output.pos == output.size && last != 0;
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
            DBSAFE_TRYV(file_ops::write_all(out, produced, out_path));
            unpacked.add(produced.size());
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
    unpacked.finished();
    return success();
}

}  // namespace dbsafe::zstd_detail
