// Retention rules as pure functions: manifests + a fixed `now` -> keep/delete with reasons.
// Expected sets are computed by hand (see the comments next to each), not by the code under test.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <dbsafe/retention/default_retention.hpp>
#include <dbsafe/retention/keep_any_of.hpp>
#include <dbsafe/retention/keep_calendar.hpp>
#include <dbsafe/retention/keep_kinds.hpp>
#include <dbsafe/retention/keep_last.hpp>
#include <dbsafe/retention/keep_within.hpp>
#include <dbsafe/retention/max_total_size.hpp>
#include <dbsafe/retention/retention_rules.hpp>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

namespace {

using namespace std::chrono;
using dbsafe::backup_kind;
using dbsafe::manifest;
using dbsafe::retention_decision;
using time_point = system_clock::time_point;

time_point at(year_month_day ymd, int hour = 12, int minute = 0) {
    return sys_days{ymd} + hours{hour} + minutes{minute};
}

manifest make(std::string id, time_point created, backup_kind kind = backup_kind::manual,
              std::uint64_t size = 100) {
    manifest m;
    m.id = std::move(id);
    m.created_at = created;
    m.kind = kind;
    m.size_bytes = size;
    return m;
}

std::string day_id(sys_days d) {
    const year_month_day ymd{d};
    char buf[16];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                  unsigned(ymd.month()), unsigned(ymd.day()));
    return buf;
}

// One backup a day at 12:00 UTC from 2023-03-15 to 2024-03-31: 383 backups spanning a partial
// month, every month end of a year, New Year and the leap day 2024-02-29.
std::vector<manifest> year_of_daily_backups() {
    std::vector<manifest> out;
    for (sys_days d = sys_days{2023y / March / 15}; d <= sys_days{2024y / March / 31};
         d += days{1}) {
        out.push_back(make(day_id(d), d + hours{12}));
    }
    return out;
}
const time_point year_now = at(2024y / March / 31, 23);

std::set<std::string> kept(const std::vector<retention_decision>& plan) {
    std::set<std::string> out;
    for (const auto& d : plan) {
        if (d.keep) out.insert(d.id);
    }
    return out;
}

std::map<std::string, retention_decision> by_id(const std::vector<retention_decision>& plan) {
    std::map<std::string, retention_decision> out;
    for (const auto& d : plan) out.emplace(d.id, d);
    return out;
}

bool has_reason(const retention_decision& d, const std::string& text) {
    return std::find(d.reasons.begin(), d.reasons.end(), text) != d.reasons.end();
}

// --- default_retention, table-driven with a fixed clock ---

struct backup_spec {
    std::string id;
    hours age;
    backup_kind kind = backup_kind::manual;
};

struct default_case {
    const char* name;
    std::vector<backup_spec> backups;
    std::set<std::string> expect_kept;
    std::map<std::string, std::string> expect_reason;  // id -> one reason it must carry
};

const time_point fixed_now = at(2026y / November / 25, 12);

TEST(DefaultRetention, FollowsFr024Table) {
    const std::vector<default_case> cases = {
        {"31-day-old manual deleted, fresh one kept",
         {{"fresh", hours{24}}, {"old", days{31}}},
         {"fresh"},
         {{"old", "deleted: older than 30 days"}, {"fresh", "kept: within 30 days"}}},
        {"90-day-old pre_migration kept",
         {{"fresh", hours{24}}, {"premig", days{90}, backup_kind::pre_migration}},
         {"fresh", "premig"},
         {{"premig", "kept: kind pre_migration"}}},
        {"newest kept even at 100 days old",
         {{"newest", days{100}}, {"older", days{120}}, {"oldest", days{400}}},
         {"newest"},
         {{"newest", "kept: newest"}, {"older", "deleted: not the newest"}}},
        {"safety backups follow the age rule",
         {{"fresh", hours{1}},
          {"safety10", days{10}, backup_kind::safety},
          {"safety40", days{40}, backup_kind::safety}},
         {"fresh", "safety10"},
         {{"safety10", "kept: within 30 days"}, {"safety40", "deleted: older than 30 days"}}},
        {"exactly 30 days is within, one hour more is not",
         {{"fresh", hours{1}}, {"edge", days{30}}, {"past", days{30} + hours{1}}},
         {"fresh", "edge"},
         {{"edge", "kept: within 30 days"}, {"past", "deleted: older than 30 days"}}},
        {"an old pre_migration is not the newest but still kept; an old manual newest too",
         {{"manual", days{60}},
          {"premig", days{70}, backup_kind::pre_migration},
          {"manual2", days{80}}},
         {"manual", "premig"},
         {{"manual", "kept: newest"}, {"manual2", "deleted: older than 30 days"}}},
        {"no backups, no decisions", {}, {}, {}},
    };
    const dbsafe::default_retention policy;
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        std::vector<manifest> backups;
        for (const auto& b : c.backups) backups.push_back(make(b.id, fixed_now - b.age, b.kind));
        const auto plan = policy.plan(backups, fixed_now);
        ASSERT_EQ(plan.size(), backups.size());
        EXPECT_EQ(kept(plan), c.expect_kept);
        const auto decisions = by_id(plan);
        for (const auto& [id, reason] : c.expect_reason) {
            EXPECT_TRUE(has_reason(decisions.at(id), reason))
                << id << " lacks reason '" << reason << "'";
        }
        for (const auto& d : plan) {
            ASSERT_FALSE(d.reasons.empty()) << d.id;
            for (const auto& r : d.reasons) {
                EXPECT_TRUE(r.starts_with(d.keep ? "kept: " : "deleted: ")) << d.id << ": " << r;
            }
        }
    }
}

TEST(DefaultRetention, IsTheUnionOfItsThreeRules) {
    using union_type = decltype(dbsafe::keep_within{} | dbsafe::keep_kinds{} | dbsafe::keep_last{});
    static_assert(std::is_base_of_v<union_type, dbsafe::default_retention>);
    const auto data = year_of_daily_backups();
    const auto plan = dbsafe::default_retention{}.plan(data, year_now);
    // Hand count: kept iff 2024-03-31T23:00 - (D 12:00) <= 30 days, i.e. D >= 2024-03-02:
    // 2024-03-02 .. 2024-03-31 is 30 backups; 2024-03-01 12:00 is 30 days 11 hours old.
    const auto k = kept(plan);
    EXPECT_EQ(k.size(), 30U);
    EXPECT_EQ(*k.begin(), "2024-03-02");
    EXPECT_EQ(by_id(plan).at("2024-03-01").reasons.front(), "deleted: older than 30 days");
}

// --- calendar rules over a year of daily backups, expectations by hand ---

struct calendar_case {
    const char* name;
    std::function<std::vector<retention_decision>(const std::vector<manifest>&)> plan;
    std::set<std::string> expect_kept;
};

TEST(CalendarRetention, YearOfDailyBackupsMatchesHandComputedBuckets) {
    const std::vector<calendar_case> cases = {
        {"keep_daily 7: the last seven days",
         [](const auto& b) { return dbsafe::keep_daily{7}.plan(b, year_now); },
         {"2024-03-25", "2024-03-26", "2024-03-27", "2024-03-28", "2024-03-29", "2024-03-30",
          "2024-03-31"}},
        {"keep_hourly 3: one backup per hour, so the three newest",
         [](const auto& b) { return dbsafe::keep_hourly{3}.plan(b, year_now); },
         {"2024-03-29", "2024-03-30", "2024-03-31"}},
        // 2024-03-31 is a Sunday; ISO weeks start on Monday, so each week's newest is a Sunday.
        {"keep_weekly 4: the Sundays of the last four ISO weeks",
         [](const auto& b) { return dbsafe::keep_weekly{4}.plan(b, year_now); },
         {"2024-03-10", "2024-03-17", "2024-03-24", "2024-03-31"}},
        // Week 2024-W01 is Mon 2024-01-01 .. Sun 01-07; Sun 2023-12-31 ends 2023-W52.
        {"keep_weekly 14: crosses New Year on ISO week boundaries",
         [](const auto& b) { return dbsafe::keep_weekly{14}.plan(b, year_now); },
         {"2023-12-31", "2024-01-07", "2024-01-14", "2024-01-21", "2024-01-28", "2024-02-04",
          "2024-02-11", "2024-02-18", "2024-02-25", "2024-03-03", "2024-03-10", "2024-03-17",
          "2024-03-24", "2024-03-31"}},
        {"keep_monthly 3: month ends, the leap day included",
         [](const auto& b) { return dbsafe::keep_monthly{3}.plan(b, year_now); },
         {"2024-01-31", "2024-02-29", "2024-03-31"}},
        // March 2023 starts on the 15th but its newest is still the 31st: 13 buckets in all.
        {"keep_monthly 13: every month end back to the partial first month",
         [](const auto& b) { return dbsafe::keep_monthly{13}.plan(b, year_now); },
         {"2023-03-31", "2023-04-30", "2023-05-31", "2023-06-30", "2023-07-31", "2023-08-31",
          "2023-09-30", "2023-10-31", "2023-11-30", "2023-12-31", "2024-01-31", "2024-02-29",
          "2024-03-31"}},
        {"keep_monthly 40: only 13 months hold backups",
         [](const auto& b) { return dbsafe::keep_monthly{40}.plan(b, year_now); },
         {"2023-03-31", "2023-04-30", "2023-05-31", "2023-06-30", "2023-07-31", "2023-08-31",
          "2023-09-30", "2023-10-31", "2023-11-30", "2023-12-31", "2024-01-31", "2024-02-29",
          "2024-03-31"}},
        {"keep_yearly 5: New Year's Eve and the newest",
         [](const auto& b) { return dbsafe::keep_yearly{5}.plan(b, year_now); },
         {"2023-12-31", "2024-03-31"}},
        {"keep_daily 0 keeps nothing",
         [](const auto& b) { return dbsafe::keep_daily{0}.plan(b, year_now); },
         {}},
        // Union: 7 daily + weekly adds 03-10/17/24 + monthly 6 adds 02-29, 01-31, 2023-12-31,
        // 11-30, 10-31 (03-31 already in): 7 + 3 + 5 = 15.
        {"daily 7 | weekly 4 | monthly 6",
         [](const auto& b) {
             return (dbsafe::keep_daily{7} | dbsafe::keep_weekly{4} | dbsafe::keep_monthly{6})
                 .plan(b, year_now);
         },
         {"2023-10-31", "2023-11-30", "2023-12-31", "2024-01-31", "2024-02-29", "2024-03-10",
          "2024-03-17", "2024-03-24", "2024-03-25", "2024-03-26", "2024-03-27", "2024-03-28",
          "2024-03-29", "2024-03-30", "2024-03-31"}},
    };
    const auto data = year_of_daily_backups();
    ASSERT_EQ(data.size(), 383U);  // 17 days of March 2023 + 366 days (leap year)
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        const auto plan = c.plan(data);
        ASSERT_EQ(plan.size(), data.size());
        EXPECT_EQ(kept(plan), c.expect_kept);
    }
}

TEST(CalendarRetention, ReasonsNameTheBucket) {
    const auto data = year_of_daily_backups();
    const auto plan =
        by_id((dbsafe::keep_monthly{2} | dbsafe::keep_weekly{1}).plan(data, year_now));
    EXPECT_TRUE(has_reason(plan.at("2024-02-29"), "kept: monthly (2024-02)"));
    EXPECT_TRUE(has_reason(plan.at("2024-03-31"), "kept: monthly (2024-03)"));
    EXPECT_TRUE(has_reason(plan.at("2024-03-31"), "kept: weekly (2024-W13)"));
    EXPECT_TRUE(has_reason(plan.at("2024-02-28"),
                           "deleted: not the newest of the last 2 months with backups"));
}

TEST(CalendarRetention, KeepsTheNewestBackupOfEachBucket) {
    const std::vector<manifest> backups = {
        make("early", at(2024y / June / 3, 1)),
        make("late", at(2024y / June / 3, 23, 59)),
        make("noon", at(2024y / June / 3, 12)),
        make("yesterday", at(2024y / June / 2, 23, 59)),
    };
    const auto plan = dbsafe::keep_daily{2}.plan(backups, at(2024y / June / 4));
    EXPECT_EQ(kept(plan), (std::set<std::string>{"late", "yesterday"}));
}

TEST(CalendarRetention, EmptyBucketsDoNotUseUpTheCount) {
    // restic's rule: the last n days that *have* backups, however far back they are.
    const std::vector<manifest> backups = {
        make("jan", at(2024y / January / 1)),
        make("feb", at(2024y / February / 15)),
        make("mar30", at(2024y / March / 30)),
        make("mar31", at(2024y / March / 31)),
    };
    const auto plan = dbsafe::keep_daily{3}.plan(backups, at(2024y / September / 1));
    EXPECT_EQ(kept(plan), (std::set<std::string>{"feb", "mar30", "mar31"}));
}

TEST(CalendarRetention, HourlyBucketsAreUtcHours) {
    const std::vector<manifest> backups = {
        make("10:05", at(2024y / June / 3, 10, 5)),
        make("10:55", at(2024y / June / 3, 10, 55)),
        make("11:30", at(2024y / June / 3, 11, 30)),
        make("13:00", at(2024y / June / 3, 13, 0)),
    };
    const auto now = at(2024y / June / 3, 14);
    EXPECT_EQ(kept(dbsafe::keep_hourly{2}.plan(backups, now)),
              (std::set<std::string>{"11:30", "13:00"}));
    EXPECT_EQ(kept(dbsafe::keep_hourly{3}.plan(backups, now)),
              (std::set<std::string>{"10:55", "11:30", "13:00"}));
}

// --- keep_last, keep_kinds ---

TEST(KeepLast, KeepsTheNNewestWhateverTheirAge) {
    const std::vector<manifest> backups = {
        make("a", fixed_now - days{400}), make("b", fixed_now - days{300}),
        make("c", fixed_now - days{200}), make("d", fixed_now - days{500})};
    const auto plan = by_id(dbsafe::keep_last{2}.plan(backups, fixed_now));
    EXPECT_TRUE(plan.at("c").keep);
    EXPECT_TRUE(has_reason(plan.at("c"), "kept: newest"));
    EXPECT_TRUE(has_reason(plan.at("b"), "kept: among the newest 2"));
    EXPECT_FALSE(plan.at("a").keep);
    EXPECT_FALSE(plan.at("d").keep);
    EXPECT_TRUE(has_reason(plan.at("d"), "deleted: not among the newest 2"));
}

TEST(KeepLast, EqualTimesAreOrderedById) {
    // Two processes can stamp the same millisecond; ids break the tie as `list` does.
    const std::vector<manifest> backups = {make("x-aaa", fixed_now), make("x-bbb", fixed_now)};
    EXPECT_EQ(kept(dbsafe::keep_last{1}.plan(backups, fixed_now)),
              (std::set<std::string>{"x-bbb"}));
}

TEST(KeepKinds, KeepsListedKindsAndPinsThem) {
    const std::vector<manifest> backups = {
        make("m", fixed_now - days{900}),
        make("p", fixed_now - days{900}, backup_kind::pre_migration),
        make("s", fixed_now - days{900}, backup_kind::safety)};
    const auto plan =
        by_id(dbsafe::keep_kinds{backup_kind::pre_migration, backup_kind::safety}.plan(backups,
                                                                                       fixed_now));
    EXPECT_FALSE(plan.at("m").keep);
    EXPECT_TRUE(plan.at("p").keep);
    EXPECT_TRUE(plan.at("p").pinned);
    EXPECT_TRUE(has_reason(plan.at("s"), "kept: kind safety"));
    EXPECT_TRUE(dbsafe::keep_kinds{}.plan(backups, fixed_now)[1].keep)
        << "keep_kinds{} defaults to pre_migration";
}

// --- max_total_size ---

std::vector<manifest> five_daily_backups(std::uint64_t size = 100) {
    std::vector<manifest> out;
    for (int i = 1; i <= 5; ++i) {
        out.push_back(
            make("day" + std::to_string(i), fixed_now - days{i}, backup_kind::manual, size));
    }
    return out;
}

TEST(MaxTotalSize, DeletesOldestFirstUntilUnderTheCap) {
    // 5 x 100 B, cap 250 B: delete day5 (400), day4 (300), day3 (200 <= 250).
    const auto backups = five_daily_backups();
    const auto plan = dbsafe::max_total_size{250}.plan(backups, fixed_now);
    EXPECT_EQ(kept(plan), (std::set<std::string>{"day1", "day2"}));
    const auto d = by_id(plan);
    EXPECT_EQ(d.at("day5").reasons.front(), "deleted: over the 250 B size cap, oldest first");
    EXPECT_TRUE(has_reason(d.at("day1"), "kept: within the 250 B size cap"));
}

TEST(MaxTotalSize, TrimsTheUnionWhereverItStands) {
    const auto backups = five_daily_backups();
    const auto a =
        (dbsafe::keep_within{days{30}} | dbsafe::max_total_size{250}).plan(backups, fixed_now);
    const auto b =
        (dbsafe::max_total_size{250} | dbsafe::keep_within{days{30}}).plan(backups, fixed_now);
    EXPECT_EQ(kept(a), (std::set<std::string>{"day1", "day2"}));
    EXPECT_EQ(kept(b), kept(a));
    EXPECT_EQ(by_id(a).at("day3").reasons.front(),
              "deleted: over the 250 B size cap, oldest first (overrides kept: within 30 days)");
    EXPECT_TRUE(has_reason(by_id(a).at("day1"), "kept: within 30 days"));
}

TEST(MaxTotalSize, NeverDeletesTheNewestOrPinnedKinds) {
    // newest manual (1d), pre_migration (2d), manual (3d), manual (4d), pre_migration (5d); cap
    // 250 of 500: day4 and day3 go; the pins and the newest stay although 300 > 250.
    auto backups = five_daily_backups();
    backups[1].kind = backup_kind::pre_migration;
    backups[4].kind = backup_kind::pre_migration;
    const auto policy = dbsafe::default_retention{} | dbsafe::max_total_size{250};
    const auto plan = by_id(policy.plan(backups, fixed_now));
    EXPECT_EQ(kept(policy.plan(backups, fixed_now)),
              (std::set<std::string>{"day1", "day2", "day5"}));
    EXPECT_TRUE(has_reason(plan.at("day1"), "kept: exempt from the 250 B size cap: newest backup"));
    EXPECT_TRUE(has_reason(plan.at("day5"), "kept: exempt from the 250 B size cap: pinned"));
    EXPECT_TRUE(has_reason(plan.at("day5"), "kept: kind pre_migration"));
}

TEST(MaxTotalSize, NewestAloneOverTheCapIsKept) {
    const auto backups = five_daily_backups(1000);
    EXPECT_EQ(kept(dbsafe::max_total_size{10}.plan(backups, fixed_now)),
              (std::set<std::string>{"day1"}));
}

TEST(MaxTotalSize, CountsCompressedSizeOnDisk) {
    // 5 archives of 40 B (100 B uncompressed), cap 100: keep 2 (80 B); uncompressed would be 1.
    auto backups = five_daily_backups(100);
    for (auto& m : backups) m.compression = dbsafe::compression_info{"zstd", 3, 40};
    EXPECT_EQ(kept(dbsafe::max_total_size{100}.plan(backups, fixed_now)),
              (std::set<std::string>{"day1", "day2"}));
}

TEST(MaxTotalSize, NeverResurrectsADeletedBackup) {
    const auto backups = five_daily_backups();
    const auto plan =
        (dbsafe::keep_last{2} | dbsafe::max_total_size{1'000'000}).plan(backups, fixed_now);
    EXPECT_EQ(kept(plan), (std::set<std::string>{"day1", "day2"}));
    EXPECT_TRUE(has_reason(by_id(plan).at("day3"), "deleted: not among the newest 2"));
}

// --- composition ---

TEST(RetentionUnion, FlattensAndKeepsIfAnyRuleKeeps) {
    using flat = decltype((dbsafe::keep_last{} | dbsafe::keep_daily{}) | dbsafe::keep_kinds{});
    static_assert(
        std::is_same_v<
            flat, dbsafe::keep_any_of<dbsafe::keep_last, dbsafe::keep_daily, dbsafe::keep_kinds>>);
    const std::vector<manifest> backups = {
        make("new", fixed_now - days{1}), make("old", fixed_now - days{50}),
        make("oldpre", fixed_now - days{50}, backup_kind::pre_migration)};
    const auto plan =
        by_id((dbsafe::keep_within{days{30}} | dbsafe::keep_kinds{}).plan(backups, fixed_now));
    EXPECT_TRUE(plan.at("new").keep);
    EXPECT_EQ(plan.at("new").reasons, std::vector<std::string>{"kept: within 30 days"});
    EXPECT_TRUE(plan.at("oldpre").keep);
    EXPECT_TRUE(plan.at("oldpre").pinned);
    EXPECT_FALSE(plan.at("old").keep);
    // A deletion lists why every rule let it go.
    EXPECT_EQ(plan.at("old").reasons.size(), 2U);
}

TEST(RetentionUnion, DecisionsDoNotDependOnInputOrder) {
    auto data = year_of_daily_backups();
    const auto policy = dbsafe::keep_daily{7} | dbsafe::keep_weekly{4} | dbsafe::keep_monthly{6} |
                        dbsafe::max_total_size{1200};
    const auto sorted = by_id(policy.plan(data, year_now));
    std::mt19937 rng(42);
    std::shuffle(data.begin(), data.end(), rng);
    const auto plan = policy.plan(data, year_now);
    for (std::size_t i = 0; i < data.size(); ++i) {
        ASSERT_EQ(plan[i].id, data[i].id) << "one decision per backup, in input order";
        EXPECT_EQ(plan[i].keep, sorted.at(plan[i].id).keep) << plan[i].id;
        EXPECT_EQ(plan[i].reasons, sorted.at(plan[i].id).reasons) << plan[i].id;
    }
    EXPECT_EQ(kept(plan).size(), 12U);  // 15 kept by the rules, cap 1200 B = 12 x 100 B
}

TEST(RetentionRules, RuntimeRulesMatchTheStaticUnion) {
    const auto data = year_of_daily_backups();
    dbsafe::retention_rules rules;
    rules.add(dbsafe::keep_daily{7})
        .add(dbsafe::max_total_size{1200})
        .add(dbsafe::keep_weekly{4})
        .add(dbsafe::keep_monthly{6});
    const auto dynamic = rules.plan(data, year_now);
    const auto fixed = (dbsafe::keep_daily{7} | dbsafe::keep_weekly{4} | dbsafe::keep_monthly{6} |
                        dbsafe::max_total_size{1200})
                           .plan(data, year_now);
    ASSERT_EQ(dynamic.size(), fixed.size());
    for (std::size_t i = 0; i < fixed.size(); ++i) {
        EXPECT_EQ(dynamic[i].keep, fixed[i].keep) << fixed[i].id;
        EXPECT_EQ(dynamic[i].reasons, fixed[i].reasons) << fixed[i].id;
    }
}

TEST(RetentionRules, NoRuleKeepsEverything) {
    const auto data = five_daily_backups();
    const auto plan = dbsafe::retention_rules{}.plan(data, fixed_now);
    EXPECT_EQ(kept(plan).size(), data.size());
    EXPECT_EQ(plan.front().reasons, std::vector<std::string>{"kept: no keep rule given"});
}

}  // namespace
