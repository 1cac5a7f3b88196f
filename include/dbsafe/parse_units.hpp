// Durations ("30d", "26h", "2w", "6m", "1y", "1d12h") and sizes ("10GiB", "1.5MiB", "4096") as
// people type them on a command line or in a config file, and back to text for messages.
//
// Strict on purpose: these values decide what gets deleted, so anything that is not exactly a
// number and a known unit is an error that says what was expected, never a guess. Decimal size
// units (KB, MB, GB) are refused because "10GB" means 10^10 to some and 10 * 2^30 to others.
// A month is std::chrono::months (30.436875 days) and a year std::chrono::years (365.2425 days):
// fixed lengths, so `--keep-within 6m` means the same span whenever it runs.
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "dbsafe/detail/format_bytes.hpp"
#include "dbsafe/detail/iso8601.hpp"
#include "dbsafe/error.hpp"

namespace dbsafe {

namespace detail {

inline std::string quoted_input(std::string_view text) {
    constexpr std::size_t shown = 64;  // a fuzzer's megabyte of junk is not a useful message
    return "'" + std::string(text.substr(0, shown)) + (text.size() > shown ? "...'" : "'");
}

// Reads the decimal digits at text[pos...] into `out`; false on no digits or overflow.
inline bool read_digits(std::string_view text, std::size_t& pos, std::uint64_t& out,
                        std::size_t& digits) {
    out = 0;
    digits = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
        const auto d = static_cast<std::uint64_t>(text[pos] - '0');
        if (out > (std::numeric_limits<std::uint64_t>::max() - d) / 10) return false;
        out = out * 10 + d;
        ++pos;
        ++digits;
    }
    return digits != 0;
}

}  // namespace detail

// The longest duration accepted: far beyond any retention period, small enough that adding it
// to a time_point (nanoseconds since 1970 in a 64-bit count) cannot overflow.
inline constexpr std::chrono::seconds max_parsed_duration = std::chrono::years{200};

// "30d", "26h", "2w", "6m", "1y", or several joined ("1y6m", "1d12h"). Units: h (hours), d
// (days), w (weeks), m (months), y (years). Minutes are deliberately absent: "m" is months, as in
// restic's --keep-within, and no retention or health rule needs minutes.
inline result<std::chrono::seconds> parse_duration(std::string_view text) {
    const auto bad = [&](const std::string& why) {
        return error(errc::invalid_argument,
                     "invalid duration " + detail::quoted_input(text) + ": " + why +
                         " (expected a whole number followed by a unit h, d, w, m or y, e.g. "
                         "26h, 30d, 2w, 6m, 1y or 1d12h)");
    };
    if (text.empty()) return bad("it is empty");
    std::chrono::seconds total{0};
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::uint64_t n = 0;
        std::size_t digits = 0;
        const std::size_t start = pos;
        if (!detail::read_digits(text, pos, n, digits)) {
            if (digits == 0) {
                return bad(start == 0 ? "it does not start with a number"
                                      : "a unit must be followed by a number or nothing");
            }
            return bad("the number is too large");
        }
        if (pos == text.size())
            return bad("the number " + std::string(text.substr(start)) + " has no unit");
        std::chrono::seconds unit{0};
        switch (text[pos]) {
            case 'h':
                unit = std::chrono::hours{1};
                break;
            case 'd':
                unit = std::chrono::days{1};
                break;
            case 'w':
                unit = std::chrono::weeks{1};
                break;
            case 'm':
                unit = std::chrono::months{1};
                break;
            case 'y':
                unit = std::chrono::years{1};
                break;
            default:
                return bad("unknown unit '" + std::string(1, text[pos]) + "'");
        }
        ++pos;
        const auto limit = static_cast<std::uint64_t>((max_parsed_duration - total) / unit);
        if (n > limit) return bad("it is longer than 200 years");
        total += unit * static_cast<std::int64_t>(n);
    }
    return total;
}

// "10GiB", "512MiB", "100KiB", "1.5GiB", "2TiB", "4096B" or plain bytes "4096".
inline result<std::uint64_t> parse_size(std::string_view text) {
    const auto bad = [&](const std::string& why) {
        return error(errc::invalid_argument,
                     "invalid size " + detail::quoted_input(text) + ": " + why +
                         " (expected a number with an optional binary unit B, KiB, MiB, GiB or "
                         "TiB, e.g. 512MiB, 10GiB, 1.5GiB or 4096)");
    };
    if (text.empty()) return bad("it is empty");
    std::size_t pos = 0;
    std::uint64_t whole = 0;
    std::size_t digits = 0;
    if (!detail::read_digits(text, pos, whole, digits)) {
        return bad(digits == 0 ? "it does not start with a number" : "the number is too large");
    }
    std::uint64_t fraction = 0;
    std::size_t fraction_digits = 0;
    if (pos < text.size() && text[pos] == '.') {
        ++pos;
        if (!detail::read_digits(text, pos, fraction, fraction_digits) || fraction_digits > 9) {
            return bad("expected 1 to 9 digits after the decimal point");
        }
    }
    const std::string_view unit_text = text.substr(pos);
    std::uint64_t unit = 0;
    if (unit_text.empty() || unit_text == "B")
        unit = 1;
    else if (unit_text == "KiB")
        unit = std::uint64_t{1} << 10U;
    else if (unit_text == "MiB")
        unit = std::uint64_t{1} << 20U;
    else if (unit_text == "GiB")
        unit = std::uint64_t{1} << 30U;
    else if (unit_text == "TiB")
        unit = std::uint64_t{1} << 40U;
    else if (unit_text == "KB" || unit_text == "MB" || unit_text == "GB" || unit_text == "TB" ||
             unit_text == "kB" || unit_text == "K" || unit_text == "M" || unit_text == "G" ||
             unit_text == "T") {
        return bad("'" + std::string(unit_text) +
                   "' is ambiguous; write the binary unit instead (KiB, MiB, GiB or TiB)");
    } else {
        return bad("unknown unit '" + std::string(unit_text.substr(0, 16)) + "'");
    }
    const std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
    if (whole > max / unit) return bad("it is larger than 16 EiB");
    std::uint64_t bytes = whole * unit;
    if (fraction_digits != 0) {
        if (unit == 1) return bad("a number of bytes cannot have a fraction");
        std::uint64_t scale = 1;
        for (std::size_t i = 0; i < fraction_digits; ++i) scale *= 10;
        // fraction < 10^9 and unit <= 2^40: the product fits in 64 bits.
        const std::uint64_t extra = fraction * unit / scale;
        if (bytes > max - extra) return bad("it is larger than 16 EiB");
        bytes += extra;
    }
    return bytes;
}

// 30 days -> "30 days", 26 hours -> "26 hours", 2 weeks -> "2 weeks": the largest unit that
// divides the duration exactly, so a message repeats what the user asked for.
inline std::string format_duration(std::chrono::seconds d) {
    struct unit {
        std::chrono::seconds length;
        const char* name;
    };
    static constexpr unit units[] = {
        {std::chrono::years{1}, "year"},    {std::chrono::months{1}, "month"},
        {std::chrono::weeks{1}, "week"},    {std::chrono::days{1}, "day"},
        {std::chrono::hours{1}, "hour"},    {std::chrono::minutes{1}, "minute"},
        {std::chrono::seconds{1}, "second"}};
    const bool negative = d.count() < 0;
    const std::chrono::seconds magnitude = negative ? -d : d;
    for (const auto& u : units) {
        if (magnitude.count() != 0 && magnitude % u.length != std::chrono::seconds{0}) continue;
        if (magnitude.count() == 0 && u.length != std::chrono::seconds{1}) continue;
        const auto n = magnitude / u.length;
        return std::string(negative ? "-" : "") + std::to_string(n) + " " + u.name +
               (n == 1 ? "" : "s");
    }
    return std::to_string(d.count()) + " seconds";  // unreachable: seconds divide everything
}

// Sizes and times back to text, as manifests and messages spell them:
//   format_bytes(1536) == "1.5 KiB" (for people; not for parsing back)
//   format_iso8601(tp) == "2026-11-25T11:44:58.123Z" (UTC, milliseconds), and parse_iso8601
//   reads that form (or a date, "2026-11-25") back, nullopt for anything else.
using detail::format_bytes;
using detail::format_iso8601;
using detail::parse_iso8601;

}  // namespace dbsafe
