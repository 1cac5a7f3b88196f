// UTC timestamps as ISO 8601 text ("2026-11-25T11:44:58.123Z") and back: manifests, ids and
// the CLI's --now all use this one spelling, so they sort and compare as text and as time.
#pragma once

#include <charconv>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

namespace dbsafe::detail {

using sys_ms = std::chrono::sys_time<std::chrono::milliseconds>;

struct civil_time {
    int year, month, day, hour, minute, second, millis;
};

inline civil_time to_civil(std::chrono::system_clock::time_point tp) {
    using namespace std::chrono;
    const auto ms = floor<milliseconds>(tp);
    const auto day = floor<days>(ms);
    const year_month_day ymd{day};
    const hh_mm_ss hms{ms - day};
    return {static_cast<int>(ymd.year()),
            static_cast<int>(unsigned(ymd.month())),
            static_cast<int>(unsigned(ymd.day())),
            static_cast<int>(hms.hours().count()),
            static_cast<int>(hms.minutes().count()),
            static_cast<int>(hms.seconds().count()),
            static_cast<int>(hms.subseconds().count())};
}

// `format` takes year, month, day, hour, minute, second and milliseconds, in that order.
inline std::string format_civil(std::chrono::system_clock::time_point tp, const char* format) {
    const civil_time c = to_civil(tp);
    char buf[32];
    std::snprintf(buf, sizeof buf, format, c.year, c.month, c.day, c.hour, c.minute, c.second,
                  c.millis);
    return buf;
}

inline std::string format_iso8601(std::chrono::system_clock::time_point tp) {
    return format_civil(tp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ");
}

// Compact, file-name-safe and sortable: 20261125T114458.123Z
inline std::string format_compact(std::chrono::system_clock::time_point tp) {
    return format_civil(tp, "%04d%02d%02dT%02d%02d%02d.%03dZ");
}

// Accepts YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS[.fff]] with an optional trailing Z or +00:00.
// Anything else (other offsets included) is rejected rather than guessed.
inline std::optional<std::chrono::system_clock::time_point> parse_iso8601(std::string_view s) {
    auto num = [&](std::size_t pos, std::size_t len, int& out) {
        if (pos + len > s.size()) return false;
        const char* b = s.data() + pos;
        for (std::size_t i = 0; i < len; ++i) {
            if (b[i] < '0' || b[i] > '9') return false;
        }
        return std::from_chars(b, b + len, out).ec == std::errc{};
    };
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0, ms = 0;
    if (!num(0, 4, y) || s.size() < 10 || s[4] != '-' || !num(5, 2, mo) || s[7] != '-' ||
        !num(8, 2, d)) {
        return std::nullopt;
    }
    std::size_t pos = 10;
    if (pos < s.size() && (s[pos] == 'T' || s[pos] == ' ')) {
        if (!num(pos + 1, 2, h) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
            !num(pos + 4, 2, mi)) {
            return std::nullopt;
        }
        pos += 6;
        if (pos < s.size() && s[pos] == ':') {
            if (!num(pos + 1, 2, sec)) return std::nullopt;
            pos += 3;
            if (pos < s.size() && s[pos] == '.') {
                std::size_t digits = 0;
                ++pos;
                int scale = 100;
                while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
                    if (digits < 3) ms += (s[pos] - '0') * scale;
                    scale /= 10;
                    ++digits;
                    ++pos;
                }
                if (digits == 0) return std::nullopt;
            }
        }
    }
    const std::string_view zone = s.substr(pos);
    if (!(zone.empty() || zone == "Z" || zone == "+00:00")) return std::nullopt;
    using namespace std::chrono;
    const year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)},
                             day{static_cast<unsigned>(d)}};
    // system_clock counts nanoseconds in 64 bits: it spans only 1678..2262. A year outside
    // 1900..2200 (a damaged manifest, a typo in --now) is rejected, never overflowed.
    if (!ymd.ok() || y < 1900 || y > 2200 || h > 23 || mi > 59 || sec > 60) return std::nullopt;
    return sys_days{ymd} + hours{h} + minutes{mi} + seconds{sec} + milliseconds{ms};
}

}  // namespace dbsafe::detail
