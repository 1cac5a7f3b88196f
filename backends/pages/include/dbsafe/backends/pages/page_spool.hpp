// page_spool: the page digests of the snapshot a backup is storing, in page order, kept in a
// file instead of memory.
//
// A snapshot's digest list is 32 bytes per page: 16 MiB at 2 GiB of 4 KiB pages, which a
// backup held from its first page to its commit, beside the repository's own digests. The
// commit only ever walks it front to back (the delta against the previous snapshot, the check
// of the change cache's addresses, the full list written out), so it goes to a private scratch
// file in the backup's location, unlinked as soon as it is open: the page cache holds it,
// dbsafe's memory holds one buffer, and a killed backup leaves nothing behind (the name is the
// scratch files', storage/backup_file_names.hpp, for the instant between create and unlink).
// Nothing in it is ever fsynced: it lives as long as the backup that writes it.
//
// The same kind of file, of bytes, holds the index entries of the packs a backup writes until
// the commit writes its index file (page_store.hpp): 48 bytes per new page, all of a first
// backup's.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "dbsafe/backends/pages/byte_codec.hpp"
#include "dbsafe/backends/pages/content_file.hpp"
#include "dbsafe/backends/pages/page_digest.hpp"
#include "dbsafe/backends/pages/page_list.hpp"
#include "dbsafe/error.hpp"
#include "dbsafe/storage/file_operations.hpp"

namespace dbsafe::pages_detail {

static_assert(sizeof(page_digest) == 32, "a digest is stored as its 32 bytes");

// Items of T (plain bytes: std::byte, page_digest) appended to an unlinked scratch file.
template <class T>
class scratch_spool {
    static_assert(std::is_trivially_copyable_v<T>);

  public:
    // Items buffered before a write and handed out per read: 64 KiB.
    static constexpr std::size_t buffer_items = (std::size_t{1} << 16) / sizeof(T);

    // A spool in `dir` for the backup `id` (the scratch file's name while it has one).
    static result<scratch_spool> create(const std::filesystem::path& dir, const std::string& id) {
        DBSAFE_TRY(auto created, file_ops::create_scratch_file(dir, id));
        auto& [path, write_only] = created;
        write_only.reset();
        // Read back as well as written: opened again by its name (no symlink followed; the
        // name was created exclusively a moment ago), then the name goes.
        auto fd = detail::open_for_update(path);
        const auto removed = file_ops::remove_file(path);
        DBSAFE_TRYV(fd);
        DBSAFE_TRYV(removed);
        return scratch_spool(std::move(fd).value(), std::move(path));
    }

    scratch_spool() = default;

    // The id a spool is created for: the staged file's name without `.db.tmp`.
    static std::string id_of(const std::filesystem::path& staged) {
        std::string name = staged.filename().string();
        if (name.ends_with(".db.tmp")) name.resize(name.size() - 7);
        return name;
    }

    // Empties the spool for a new list, creating its file in `dir` for the backup `id` the
    // first time (a snapshot may start over: a followed file scanned again, an image fed anew).
    result<void> restart(const std::filesystem::path& dir, const std::string& id) {
        if (created()) {
            clear();
            return success();
        }
        DBSAFE_TRY(*this, create(dir, id));
        return success();
    }

    // False for a default-constructed spool (none created yet).
    [[nodiscard]] bool created() const noexcept { return static_cast<bool>(fd_); }

    [[nodiscard]] std::uint64_t size() const noexcept { return written_ + buffer_.size(); }
    [[nodiscard]] bool empty() const noexcept { return size() == 0; }

    result<void> append(std::span<const T> items) {
        while (!items.empty()) {
            const std::size_t n = std::min(items.size(), buffer_items - buffer_.size());
            buffer_.insert(buffer_.end(), items.begin(), items.begin() + n);
            items = items.subspan(n);
            if (buffer_.size() == buffer_items) DBSAFE_TRYV(flush());
        }
        return success();
    }
    result<void> append(const T& item) { return append(std::span(&item, 1)); }

    // Replaces item `index` (page 1's digest is only known at the end of a followed backup,
    // page_writer.hpp).
    result<void> set(std::uint64_t index, const T& item) {
        if (index >= size()) {
            return error(errc::invalid_argument, "item " + std::to_string(index + 1) +
                                                     " is past the " + std::to_string(size()) +
                                                     " spooled (a dbsafe bug)");
        }
        if (index >= written_) {
            buffer_[static_cast<std::size_t>(index - written_)] = item;
            return success();
        }
        return file_ops::write_at(fd_.get(), std::as_bytes(std::span(&item, 1)), sizeof(T) * index,
                                  path_);
    }

    // Forgets every item (the file is written again from the start).
    void clear() noexcept {
        written_ = 0;
        buffer_.clear();
    }

    // Hands the items out front to back, `buffer_items` at a time. The spool must not be
    // appended to while a reader is in use.
    class reader {
      public:
        // The next items (empty at the end), valid until the next call.
        result<std::span<const T>> next() {
            if (at_ < spool_->written_) {
                const auto n = static_cast<std::size_t>(
                    std::min<std::uint64_t>(buffer_items, spool_->written_ - at_));
                piece_.resize(n);
                DBSAFE_TRY(
                    const std::size_t got,
                    file_ops::read_at(spool_->fd_.get(), std::as_writable_bytes(std::span(piece_)),
                                      sizeof(T) * at_, spool_->path_));
                if (got != sizeof(T) * n) {
                    return error(errc::io_error, "the scratch file of the backup being stored (" +
                                                     spool_->path_.string() +
                                                     ", unlinked) read back short");
                }
                at_ += n;
                return std::span<const T>(piece_);
            }
            if (!tail_done_) {
                tail_done_ = true;
                return std::span<const T>(spool_->buffer_);
            }
            return std::span<const T>{};
        }

      private:
        friend class scratch_spool;
        explicit reader(const scratch_spool& s) : spool_(&s) {}
        const scratch_spool* spool_;
        std::uint64_t at_ = 0;
        bool tail_done_ = false;
        std::vector<T> piece_;
    };
    [[nodiscard]] reader read() const { return reader(*this); }

    // Every item, in memory: for tests, garbage collection's repacking and small lists only.
    result<std::vector<T>> all() const {
        std::vector<T> out;
        auto r = read();
        for (;;) {
            DBSAFE_TRY(const auto piece, r.next());
            if (piece.empty()) return out;
            out.insert(out.end(), piece.begin(), piece.end());
        }
    }

  private:
    scratch_spool(file_ops::unique_fd fd, std::filesystem::path path)
        : fd_(std::move(fd)), path_(std::move(path)) {
        buffer_.reserve(buffer_items);
    }

    result<void> flush() {
        if (buffer_.empty()) return success();
        DBSAFE_TRYV(file_ops::write_at(fd_.get(), std::as_bytes(std::span(buffer_)),
                                       sizeof(T) * written_, path_));
        written_ += buffer_.size();
        buffer_.clear();
        return success();
    }

    file_ops::unique_fd fd_;
    std::filesystem::path path_;  // unlinked: for messages
    std::uint64_t written_ = 0;   // items in the file; the rest are in buffer_
    std::vector<T> buffer_;
};

// A snapshot's page digests, page 1 first.
using page_spool = scratch_spool<page_digest>;

// One digest at a time from a source that hands them out in pieces (page_spool::reader,
// page_chain_stream), so two sources with pieces of different sizes walk side by side.
template <class Source>
class digest_cursor {
  public:
    explicit digest_cursor(Source& source) : source_(&source) {}

    // The next digest (valid until the next call), or nullptr after the last one.
    result<const page_digest*> next() {
        if (at_ == piece_.size()) {
            DBSAFE_TRY(piece_, source_->next());
            at_ = 0;
            if (piece_.empty()) return static_cast<const page_digest*>(nullptr);
        }
        return &piece_[at_++];
    }

  private:
    Source* source_;
    std::span<const page_digest> piece_;
    std::size_t at_ = 0;
};

// The spool's digests as a full page list in `lists_dir` (page_list.hpp's format, bytes for
// bytes what encode_full_page_list makes of the same digests), written as they are read.
inline result<stored_file> store_full_page_list(const std::filesystem::path& lists_dir,
                                                const page_spool& pages) {
    DBSAFE_TRY(auto out, content_file_writer::create(lists_dir, ".list"));
    byte_writer header;
    header.magic(list_magic);
    header.u8(static_cast<std::uint8_t>(page_list_kind::full));
    header.u64(pages.size());
    DBSAFE_TRYV(out.write(header.buffer()));
    auto in = pages.read();
    for (;;) {
        DBSAFE_TRY(const auto piece, in.next());
        if (piece.empty()) break;
        DBSAFE_TRYV(out.write(std::as_bytes(piece)));
    }
    return out.finish();
}

}  // namespace dbsafe::pages_detail
