// Backup ids: "<UTC time>-<kind>-<random>", e.g. 20261125T114458.123Z-manual-3fa9c1. They sort
// by creation time as plain text, and two processes creating a backup in the same millisecond
// still get different ids (the random tail, and O_EXCL on the files as the last word).
//
// An id is exactly what make_backup_id() generates, nothing looser: a backup directory may hold
// other files (the live database itself, notes, another tool's JSON), and the id pattern is what
// tells dbsafe's files from them (see storage/backup_file_names.hpp). The time in the id is also
// what a manifest's created_at is checked against.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#include "dbsafe/backup_kind.hpp"
#include "dbsafe/detail/iso8601.hpp"
#include "dbsafe/error.hpp"

namespace dbsafe {

inline constexpr std::size_t max_id_length = 128;

// An id from outside (command line, manifest) becomes a file name only after this check:
// [0-9A-Za-z._-], not empty, not starting with '.', no "..": it can never name another folder.
// (validate_id below also requires the generated pattern.)
inline result<void> validate_id_chars(std::string_view id) {
    const auto bad = [&](const std::string& why) {
        return error(errc::invalid_id, "invalid backup id '" +
                                           std::string(id.substr(0, max_id_length)) + "': " + why +
                                           " (use an id that vault.list() shows)");
    };
    if (id.empty()) return bad("it is empty");
    if (id.size() > max_id_length) return bad("it is longer than 128 characters");
    if (id.front() == '.' || id.front() == '-') return bad("it starts with '.' or '-'");
    if (id.find("..") != std::string_view::npos) return bad("it contains '..'");
    for (const char c : id) {
        const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                        (c >= 'A' && c <= 'Z') || c == '.' || c == '_' || c == '-';
        if (!ok) return bad("only letters, digits, '.', '_' and '-' are allowed");
    }
    return success();
}

namespace detail {

// The UTC time a name's first 20 characters spell as 20261125T114458.123Z, if they do.
inline std::optional<std::chrono::system_clock::time_point> id_time(std::string_view name) {
    const auto digits = [&](std::size_t pos, std::size_t len) {
        return name.substr(pos, len).find_first_not_of("0123456789") == std::string_view::npos;
    };
    if (name.size() < 20 || name[8] != 'T' || name[15] != '.' || name[19] != 'Z' || !digits(0, 8) ||
        !digits(9, 6) || !digits(16, 3)) {
        return std::nullopt;
    }
    const auto part = [&](std::size_t pos, std::size_t len) {
        return std::string(name.substr(pos, len));
    };
    return parse_iso8601(part(0, 4) + "-" + part(4, 2) + "-" + part(6, 2) + "T" + part(9, 2) + ":" +
                         part(11, 2) + ":" + part(13, 2) + "." + part(16, 3) + "Z");
}

}  // namespace detail

// What a generated id encodes: its creation time (to the millisecond) and kind.
struct id_parts {
    std::chrono::system_clock::time_point created_at;
    backup_kind kind;
    std::size_t length;  // of the id, within the name it was read from
};

// Reads the generated id that `name` starts with ("YYYYMMDDTHHMMSS.mmmZ-<kind>-<6 hex>": a real
// UTC time, a kind dbsafe writes, six lower-case hex digits); nullopt when it does not start
// with one. A file name is an id plus a suffix, so this is how a listing splits it.
inline std::optional<id_parts> parse_id_prefix(std::string_view name) {
    const auto created = detail::id_time(name);
    if (!created || name.size() < 21 || name[20] != '-') return std::nullopt;
    for (const backup_kind k :
         {backup_kind::manual, backup_kind::pre_migration, backup_kind::safety}) {
        const std::string_view kind = to_string(k);
        const std::size_t tail = 21 + kind.size() + 1;  // where the random digits start
        if (name.size() < tail + 6 || name.substr(21, kind.size()) != kind ||
            name[tail - 1] != '-') {
            continue;
        }
        if (name.substr(tail, 6).find_first_not_of("0123456789abcdef") != std::string_view::npos) {
            return std::nullopt;
        }
        return id_parts{*created, k, tail + 6};
    }
    return std::nullopt;
}

// The parts of `id` when it is exactly a generated id, else nullopt.
inline std::optional<id_parts> parse_generated_id(std::string_view id) {
    auto parts = parse_id_prefix(id);
    if (!parts || parts->length != id.size()) return std::nullopt;
    return parts;
}

// An id from outside (command line, manifest, storage call) is accepted only when it is exactly
// what make_backup_id() generates.
inline result<void> validate_id(std::string_view id) {
    DBSAFE_TRYV(validate_id_chars(id));
    if (!parse_generated_id(id)) {
        return error(errc::invalid_id,
                     "invalid backup id '" + std::string(id) +
                         "': not an id dbsafe generates (like 20261125T114458.123Z-manual-3fa9c1; "
                         "use an id that vault.list() shows)");
    }
    return success();
}

namespace detail {

// `n` (at most 16) random lowercase hex digits: the tail of ids and of temporary names.
inline std::string random_hex(std::size_t n) {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    static constexpr char digits[] = "0123456789abcdef";
    std::string tail(n, '0');
    auto bits = rng();
    for (char& c : tail) {
        c = digits[bits & 0xfU];
        bits >>= 4U;
    }
    return tail;
}

}  // namespace detail

inline std::string make_backup_id(std::chrono::system_clock::time_point now, backup_kind kind) {
    return detail::format_compact(now) + "-" + std::string(to_string(kind)) + "-" +
           detail::random_hex(6);
}

}  // namespace dbsafe
