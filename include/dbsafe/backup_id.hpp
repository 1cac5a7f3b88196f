// Backup ids: "<UTC time>-<kind>-<random>", e.g. 20261125T114458.123Z-manual-3fa9c1. They sort
// by creation time as plain text, and two processes creating a backup in the same millisecond
// still get different ids (the random tail, and O_EXCL on the files as the last word).
#pragma once

#include <chrono>
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
inline result<void> validate_id(std::string_view id) {
    const auto bad = [&](const std::string& why) {
        return error(errc::invalid_id, "invalid backup id '" +
                                           std::string(id.substr(0, max_id_length)) + "': " + why +
                                           " (use an id shown by `dbsafe list`)");
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

inline std::string make_backup_id(std::chrono::system_clock::time_point now, backup_kind kind) {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    static constexpr char digits[] = "0123456789abcdef";
    std::string tail(6, '0');
    auto bits = rng();
    for (char& c : tail) {
        c = digits[bits & 0xfU];
        bits >>= 4U;
    }
    return detail::format_compact(now) + "-" + std::string(to_string(kind)) + "-" + tail;
}

}  // namespace dbsafe
