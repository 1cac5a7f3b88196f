// keep_hourly / keep_daily / keep_weekly / keep_monthly / keep_yearly {n}: for each of the last
// n calendar buckets (UTC hours, days, ISO weeks starting Monday, months, years) that hold a
// backup, keep the newest backup of that bucket. This is restic's `forget --keep-daily` rule:
// buckets are counted back from the newest backup, and a bucket without backups does not use
// up one of the n. So a machine that stopped taking backups for a month still keeps its last n
// daily backups instead of losing them all as time passes.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include "dbsafe/manifest.hpp"
#include "dbsafe/retention/newest_first.hpp"
#include "dbsafe/retention/retention_policy.hpp"

namespace dbsafe {

enum class calendar_period { hour, day, week, month, year };

namespace detail {

struct calendar_bucket {
    std::int64_t key;   // equal for two times in the same bucket, decreasing into the past
    std::string label;  // "2024-02-29", "2024-W09", ...
};

inline calendar_bucket bucket_of(calendar_period period, std::chrono::system_clock::time_point t) {
    using namespace std::chrono;
    const auto day = floor<days>(t);
    const year_month_day ymd{day};
    const int y = static_cast<int>(ymd.year());
    const unsigned mo = unsigned(ymd.month());
    const unsigned d = unsigned(ymd.day());
    char buf[32];
    switch (period) {
        case calendar_period::hour: {
            const auto h = floor<hours>(t);
            std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02dZ", y, mo, d,
                          static_cast<int>((h - day).count()));
            return {h.time_since_epoch().count(), buf};
        }
        case calendar_period::day:
            std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", y, mo, d);
            return {day.time_since_epoch().count(), buf};
        case calendar_period::week: {
            // ISO 8601: weeks start on Monday; the week belongs to the year of its Thursday.
            const sys_days monday = day - days{weekday{day}.iso_encoding() - 1};
            const sys_days thursday = monday + days{3};
            const year iso_year = year_month_day{thursday}.year();
            const auto week = (thursday - sys_days{iso_year / January / 1}).count() / 7 + 1;
            std::snprintf(buf, sizeof buf, "%04d-W%02d", static_cast<int>(iso_year),
                          static_cast<int>(week));
            return {monday.time_since_epoch().count(), buf};
        }
        case calendar_period::month:
            std::snprintf(buf, sizeof buf, "%04d-%02u", y, mo);
            return {std::int64_t{y} * 12 + mo, buf};
        case calendar_period::year:
            std::snprintf(buf, sizeof buf, "%04d", y);
            return {y, buf};
    }
    return {0, ""};
}

constexpr const char* period_adjective(calendar_period p) {
    switch (p) {
        case calendar_period::hour:
            return "hourly";
        case calendar_period::day:
            return "daily";
        case calendar_period::week:
            return "weekly";
        case calendar_period::month:
            return "monthly";
        case calendar_period::year:
            return "yearly";
    }
    return "";
}

constexpr const char* period_noun(calendar_period p) {
    switch (p) {
        case calendar_period::hour:
            return "hour";
        case calendar_period::day:
            return "day";
        case calendar_period::week:
            return "week";
        case calendar_period::month:
            return "month";
        case calendar_period::year:
            return "year";
    }
    return "";
}

}  // namespace detail

template <calendar_period Period>
struct keep_calendar {
    std::size_t count = 0;

    [[nodiscard]] std::vector<retention_decision> plan(
        std::span<const manifest> backups, std::chrono::system_clock::time_point) const {
        std::vector<retention_decision> out;
        out.reserve(backups.size());
        for (const auto& m : backups) out.push_back({m.id, false, {}, false});
        const std::string kept_prefix = std::string("kept: ") + detail::period_adjective(Period);
        const std::string deleted_reason =
            "deleted: not the newest of the last " + std::to_string(count) + " " +
            detail::period_noun(Period) + (count == 1 ? "" : "s") + " with backups";
        std::size_t buckets = 0;
        bool have_last = false;
        std::int64_t last_key = 0;
        // Newest first: the first backup met in a bucket is that bucket's newest.
        for (const std::size_t i : detail::newest_first(backups)) {
            auto& d = out[i];
            const auto bucket = detail::bucket_of(Period, backups[i].created_at);
            if (buckets < count && (!have_last || bucket.key != last_key)) {
                ++buckets;
                have_last = true;
                last_key = bucket.key;
                d.keep = true;
                d.reasons.push_back(kept_prefix + " (" + bucket.label + ")");
            } else {
                d.reasons.push_back(deleted_reason);
            }
        }
        return out;
    }
};

using keep_hourly = keep_calendar<calendar_period::hour>;
using keep_daily = keep_calendar<calendar_period::day>;
using keep_weekly = keep_calendar<calendar_period::week>;
using keep_monthly = keep_calendar<calendar_period::month>;
using keep_yearly = keep_calendar<calendar_period::year>;

static_assert(retention_policy<keep_daily>);

}  // namespace dbsafe
