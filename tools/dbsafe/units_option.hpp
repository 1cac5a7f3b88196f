// CLI11 validators for the values that decide what prune deletes and what health flags:
// durations, sizes, counts, kinds and --now. Each refuses a bad value while the command line is
// parsed, so the command exits 2 (usage) before it touches a backup, with the library's message.
#pragma once

#include <CLI/CLI.hpp>
#include <charconv>
#include <cmath>
#include <dbsafe/backup_kind.hpp>
#include <dbsafe/parse_units.hpp>
#include <sstream>
#include <string>

namespace dbsafe::cli {

inline CLI::Validator duration_validator() {
    return {[](std::string& text) -> std::string {
                auto parsed = parse_duration(text);
                return parsed ? std::string() : parsed.error().message;
            },
            "DURATION"};
}

// A retention window: a duration longer than zero. A zero window keeps nothing, like --keep-last
// 0, so it is a usage error rather than "delete everything but the newest".
inline CLI::Validator window_validator() {
    return {[](std::string& text) -> std::string {
                auto parsed = parse_duration(text);
                if (!parsed) return parsed.error().message;
                if (parsed.value() <= std::chrono::seconds{0}) {
                    return "invalid window '" + text +
                           "': a zero-length window keeps nothing; give a positive duration "
                           "such as 30d (leave the flag out to not keep by age)";
                }
                return {};
            },
            "DURATION"};
}

inline CLI::Validator size_validator() {
    return {[](std::string& text) -> std::string {
                auto parsed = parse_size(text);
                return parsed ? std::string() : parsed.error().message;
            },
            "SIZE"};
}

// A positive whole number: 0 would make a keep rule that keeps nothing, which is what leaving the
// flag out already means, so it is more likely a mistake than a wish.
inline CLI::Validator count_validator() {
    return {[](std::string& text) -> std::string {
                unsigned long long n = 0;
                const char* end = text.data() + text.size();
                const auto [ptr, ec] = std::from_chars(text.data(), end, n);
                if (text.empty() || ec != std::errc{} || ptr != end || n == 0 || n > 1'000'000) {
                    return "invalid count '" + text +
                           "': expected a whole number from 1 to 1000000 (leave the flag out to "
                           "not keep by this rule)";
                }
                return {};
            },
            "N"};
}

// A number in [lo, hi]. CLI::Range lets `nan` through (every comparison with NaN is false), and
// a NaN space factor would switch the free-space guard off without a word.
inline CLI::Validator finite_range(double lo, double hi) {
    return {[lo, hi](std::string& text) -> std::string {
                double v = 0;
                const char* end = text.data() + text.size();
                const auto [ptr, ec] = std::from_chars(text.data(), end, v);
                if (text.empty() || ec != std::errc{} || ptr != end || !std::isfinite(v) ||
                    v < lo || v > hi) {
                    std::ostringstream range;  // 0 and 100, not 0.000000 and 100.000000
                    range << lo << " to " << hi;
                    return "invalid number '" + text + "': expected a number from " + range.str();
                }
                return {};
            },
            "NUMBER"};
}

inline CLI::Validator kind_validator() {
    return {[](std::string& text) -> std::string {
                if (parse_backup_kind(text)) return {};
                return "invalid backup kind '" + text +
                       "': expected manual, pre_migration or safety";
            },
            "KIND"};
}

inline CLI::Validator iso8601_validator() {
    return {[](std::string& text) -> std::string {
                if (parse_iso8601(text)) return {};
                return "invalid time '" + text +
                       "': expected a UTC time in ISO 8601, e.g. 2026-11-25T12:00:00Z or "
                       "2026-11-25";
            },
            "ISO8601"};
}

}  // namespace dbsafe::cli
