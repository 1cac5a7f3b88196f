// Content-addressed files of the page repository (packs, index files, page lists): named by the
// SHA-256 of their whole content, so a name says what the file must hold, a reader checks it,
// and two writers of the same content agree on the name. Written like every dbsafe file:
// a private temp file (O_EXCL, O_NOFOLLOW, 0600) named `<name>.<pid>-<n>.tmp` (unique per
// writer, so concurrent backups never collide), fsynced, renamed without replacing. A name that
// already exists holds the same content: the temp file is dropped. The caller fsyncs the
// directory once everything it adds is renamed.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dbsafe/backends/pages/page_digest.hpp"
#include "dbsafe/error.hpp"
#include "dbsafe/storage/file_operations.hpp"

namespace dbsafe::pages_detail {

struct stored_file {
    page_digest digest;
    std::filesystem::path path;
    bool created = false;  // false: the same content was already there
};

inline std::filesystem::path content_path(const std::filesystem::path& dir, const page_digest& d,
                                          std::string_view extension) {
    return dir / (d.hex() + std::string(extension));
}

// Writes `bytes` under `dir`/<sha256 hex><extension> (see above).
inline result<stored_file> store_content_file(const std::filesystem::path& dir,
                                              std::string_view extension,
                                              std::span<const std::byte> bytes) {
    static std::atomic<unsigned> counter{0};
    DBSAFE_TRY(const page_digest d, sha256_of(bytes));
    stored_file out{d, content_path(dir, d, extension), false};
    if (file_ops::is_regular_no_follow(out.path)) return out;  // already stored
    auto tmp = out.path;
    tmp += "." + std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1)) + ".tmp";
    DBSAFE_TRY(auto fd, file_ops::create_exclusive(tmp));
    auto written = file_ops::write_all(fd.get(), bytes, tmp);
    if (written) written = file_ops::sync_fd(fd.get(), tmp);
    fd.reset();
    if (written) written = file_ops::rename_no_replace(tmp, out.path);
    if (!written) {
        (void)file_ops::remove_file(tmp);
        // Another writer stored the same content in between: same name, same bytes.
        if (file_ops::is_regular_no_follow(out.path)) return out;
        return written.as_failure();
    }
    out.created = true;
    return out;
}

// Reads a whole repository file (no symlink followed, regular files only), refusing anything
// larger than `limit`: a planted or damaged file cannot make dbsafe allocate gigabytes.
inline result<std::vector<std::byte>> read_whole_file(const std::filesystem::path& p,
                                                      std::uint64_t limit) {
    DBSAFE_TRY(auto fd, file_ops::open_for_read(p));
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return file_ops::os_error(errno, "cannot stat", p);
    if (static_cast<std::uint64_t>(st.st_size) > limit) {
        return error(errc::checksum_mismatch, p.string() + " is " + std::to_string(st.st_size) +
                                                  " bytes, more than the " + std::to_string(limit) +
                                                  " such a file can hold: it is damaged");
    }
    std::vector<std::byte> out(static_cast<std::size_t>(st.st_size));
    DBSAFE_TRY(const std::size_t n, file_ops::read_at(fd.get(), out, 0, p));
    out.resize(n);
    return out;
}

// Reads a content-addressed file and checks that its content hashes to its name.
inline result<std::vector<std::byte>> read_content_file(const std::filesystem::path& p,
                                                        const page_digest& expected,
                                                        std::uint64_t limit) {
    DBSAFE_TRY(auto bytes, read_whole_file(p, limit));
    DBSAFE_TRY(const page_digest actual, sha256_of(bytes));
    if (actual != expected) {
        return error(errc::checksum_mismatch, p.string() +
                                                  " does not hash to its name (its SHA-256 is " +
                                                  actual.hex() + "): the file is damaged");
    }
    return bytes;
}

}  // namespace dbsafe::pages_detail
