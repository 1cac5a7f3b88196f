// Which backup a command line means. Wherever a command takes an id, it takes:
//   - a whole id as `dbsafe list` prints it (20261130T234702.118Z-manual-3fa9c1), used as is;
//   - any start of one that only one listed backup has ("20261130T2347"), as git takes a
//     commit's prefix; a start several have is refused with the candidates listed, never
//     guessed, since the command may overwrite a live database with what it picks;
//   - `latest`: the newest backup the command would take without an id (restore: of this
//     database, not a safety backup; verify: the newest in the directory).
// restore also takes --before TIME: the newest backup of the database taken before a UTC time
// (2026-11-30, 2026-11-30T23:47) or before a span ago (2d, 6h).
#pragma once

#include <chrono>
#include <dbsafe/backup_id.hpp>
#include <dbsafe/error.hpp>
#include <dbsafe/parse_units.hpp>
#include <dbsafe/storage/storage_target.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "units_option.hpp"

namespace dbsafe::cli {

inline constexpr std::string_view latest_word = "latest";

// What --id (and verify's ids) accept before anything runs: `latest`, or characters an id is
// made of (a start of an id is matched against the listing later).
inline CLI::Validator id_or_prefix_validator() {
    return {[](std::string& text) -> std::string {
                if (text == latest_word) return {};
                auto valid = validate_id_chars(text);
                return valid ? std::string() : valid.error().message;
            },
            "ID|PREFIX|latest"};
}

// The id `text` names among the listed backups (newest first). A whole id is returned as is,
// listed or not: the command then says what it finds under it (missing, damaged).
inline result<std::string> resolve_id_prefix(const listing& listed, const std::string& text,
                                             const std::string& dir) {
    if (validate_id(text)) return text;
    std::vector<std::string> matches;
    for (const auto& m : listed.backups) {
        if (std::string_view(m.id).starts_with(text)) matches.push_back(m.id);
    }
    if (matches.size() == 1) return matches.front();
    if (matches.empty()) {
        return error(errc::not_found, "no backup in " + dir + " has an id starting with '" + text +
                                          "' (`dbsafe list --dir " + dir + "` shows the ids)");
    }
    std::string names;
    constexpr std::size_t shown = 5;
    for (std::size_t i = 0; i < matches.size() && i < shown; ++i) {
        names += (i == 0 ? "" : ", ") + matches[i];
    }
    if (matches.size() > shown) {
        names += " and " + std::to_string(matches.size() - shown) + " more";
    }
    return error(errc::invalid_id, "'" + text + "' is the start of " +
                                       std::to_string(matches.size()) + " backup ids in " + dir +
                                       ": " + names + "; give more of the id");
}

// `latest` as the newest listed backup (verify, diff), else resolve_id_prefix.
inline result<std::string> resolve_listed_id(const listing& listed, const std::string& text,
                                             const std::string& dir) {
    if (text != latest_word) return resolve_id_prefix(listed, text, dir);
    if (listed.backups.empty()) {
        return error(errc::not_found, "no backup in " + dir + ": 'latest' names the newest one");
    }
    return listed.backups.front().id;
}

// --before TIME: a UTC time (parse_iso8601's forms) or a span back from `now` (parse_duration's).
inline result<std::chrono::system_clock::time_point> parse_before(
    const std::string& text, std::chrono::system_clock::time_point now) {
    if (const auto at = parse_iso8601(text)) return *at;
    if (auto span = parse_duration(text)) return now - span.value();
    return error(errc::invalid_argument,
                 "--before '" + text +
                     "': expected a UTC time (2026-11-30, 2026-11-30T23:47, "
                     "2026-11-30T23:47:02Z) or a span back from now (6h, 2d, 1w)");
}

inline CLI::Validator before_validator() {
    return {[](std::string& text) -> std::string {
                auto parsed = parse_before(text, std::chrono::system_clock::now());
                return parsed ? std::string() : parsed.error().message;
            },
            "TIME|SPAN"};
}

}  // namespace dbsafe::cli
