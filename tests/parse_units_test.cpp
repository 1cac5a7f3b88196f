// Durations and sizes as typed on the command line: exact values, and refusals that say why.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <dbsafe/parse_units.hpp>
#include <string>

namespace {

using namespace std::chrono;

TEST(ParseDuration, AcceptsEachUnitAndCombinations) {
    EXPECT_EQ(dbsafe::parse_duration("26h").value(), hours{26});
    EXPECT_EQ(dbsafe::parse_duration("30d").value(), days{30});
    EXPECT_EQ(dbsafe::parse_duration("2w").value(), weeks{2});
    EXPECT_EQ(dbsafe::parse_duration("6m").value(), months{6});
    EXPECT_EQ(dbsafe::parse_duration("1y").value(), years{1});
    EXPECT_EQ(dbsafe::parse_duration("1d12h").value(), hours{36});
    EXPECT_EQ(dbsafe::parse_duration("0d").value(), seconds{0});
    EXPECT_EQ(dbsafe::parse_duration("200y").value(), years{200});
}

TEST(ParseDuration, RefusesAnythingElseWithAHint) {
    for (const char* bad : {"", "banana", "30", "d", "30x", "30 d", "-1d", "1.5d", "30dd", "30D",
                            "201y", "99999999999999999999h", "18446744073709551615y"}) {
        const auto r = dbsafe::parse_duration(bad);
        ASSERT_FALSE(r) << "'" << bad << "' parsed as " << r.value().count() << " s";
        EXPECT_TRUE(r.error().is(dbsafe::errc::invalid_argument));
        EXPECT_NE(r.error().message.find("e.g. 26h, 30d"), std::string::npos) << r.error().message;
    }
    EXPECT_NE(dbsafe::parse_duration("banana").error().message.find("'banana'"), std::string::npos);
    EXPECT_NE(dbsafe::parse_duration("30").error().message.find("has no unit"), std::string::npos);
}

TEST(ParseSize, AcceptsBinaryUnitsFractionsAndPlainBytes) {
    EXPECT_EQ(dbsafe::parse_size("4096").value(), 4096U);
    EXPECT_EQ(dbsafe::parse_size("4096B").value(), 4096U);
    EXPECT_EQ(dbsafe::parse_size("100KiB").value(), 102400U);
    EXPECT_EQ(dbsafe::parse_size("512MiB").value(), 512ULL << 20U);
    EXPECT_EQ(dbsafe::parse_size("10GiB").value(), 10ULL << 30U);
    EXPECT_EQ(dbsafe::parse_size("2TiB").value(), 2ULL << 40U);
    EXPECT_EQ(dbsafe::parse_size("1.5GiB").value(), 3ULL << 29U);
    EXPECT_EQ(dbsafe::parse_size("0.001KiB").value(), 1U);  // 1.024 bytes, rounded down
    EXPECT_EQ(dbsafe::parse_size("0").value(), 0U);
    EXPECT_EQ(dbsafe::parse_size("16777215TiB").value(), 16777215ULL << 40U);
}

TEST(ParseSize, RefusesAmbiguousAndMalformedSizes) {
    for (const char* bad :
         {"", "GiB", "ten", "10GB", "10G", "10 GiB", "10gib", "1.5", "1.GiB", "1.0000000001GiB",
          "-1KiB", "16777216TiB", "18446744073709551616", "10GiBs"}) {
        const auto r = dbsafe::parse_size(bad);
        ASSERT_FALSE(r) << "'" << bad << "' parsed as " << r.value();
        EXPECT_TRUE(r.error().is(dbsafe::errc::invalid_argument));
        EXPECT_NE(r.error().message.find("KiB, MiB, GiB"), std::string::npos) << r.error().message;
    }
    EXPECT_NE(dbsafe::parse_size("10GB").error().message.find("ambiguous"), std::string::npos);
}

TEST(FormatDuration, UsesTheLargestExactUnit) {
    EXPECT_EQ(dbsafe::format_duration(days{30}), "30 days");
    EXPECT_EQ(dbsafe::format_duration(hours{26}), "26 hours");
    EXPECT_EQ(dbsafe::format_duration(weeks{2}), "2 weeks");
    EXPECT_EQ(dbsafe::format_duration(months{6}), "6 months");
    EXPECT_EQ(dbsafe::format_duration(years{1}), "1 year");
    EXPECT_EQ(dbsafe::format_duration(hours{36}), "36 hours");
    EXPECT_EQ(dbsafe::format_duration(seconds{0}), "0 seconds");
    EXPECT_EQ(dbsafe::format_duration(seconds{61}), "61 seconds");
}

}  // namespace
