// `dbsafe help COMMAND`, `dbsafe --version`, and docs/cli.md against the real binary: the
// reference documents every command and every flag the CLI accepts, so a new flag without
// documentation fails here rather than surprising a user.
#include <gtest/gtest.h>

#include <algorithm>
#include <dbsafe/version.hpp>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "support/child_process.hpp"
#include "support/temp_dir.hpp"

namespace {

using dbsafe::test::child_result;

child_result dbsafe_cli(const std::vector<std::string>& args, const dbsafe::test::temp_dir& dir) {
    std::vector<std::string> argv{DBSAFE_CLI_PATH};
    argv.insert(argv.end(), args.begin(), args.end());
    return dbsafe::test::run(argv, {}, dir.path());
}

// Command names from the "Subcommands:" block of `dbsafe help`.
std::vector<std::string> commands(const std::string& help_text) {
    std::vector<std::string> out;
    const auto block = help_text.find("Subcommands:");
    if (block == std::string::npos) return out;
    const std::regex line(R"(\n  ([a-z][a-z-]*) )");
    for (std::sregex_iterator it(help_text.begin() + static_cast<std::ptrdiff_t>(block),
                                 help_text.end(), line);
         it != std::sregex_iterator(); ++it) {
        out.push_back((*it)[1]);
    }
    return out;
}

// Every --flag a command's help lists (CLI11 prints "  --dir TEXT REQUIRED  Backup directory").
std::set<std::string> flags(const std::string& help_text) {
    std::set<std::string> out;
    const std::regex flag(R"((?:^|[\s,])(--[a-z][a-z-]*))");
    for (std::sregex_iterator it(help_text.begin(), help_text.end(), flag);
         it != std::sregex_iterator(); ++it) {
        if ((*it)[1] != "--help") out.insert((*it)[1]);
    }
    return out;
}

TEST(Help, ShowsTheSameTextAsTheCommandsOwnHelpFlag) {
    const dbsafe::test::temp_dir dir;
    const auto via_help = dbsafe_cli({"help", "backup"}, dir);
    const auto via_flag = dbsafe_cli({"backup", "--help"}, dir);
    ASSERT_EQ(via_help.exit_code, 0) << via_help.err;
    EXPECT_NE(via_help.out.find("--require-table"), std::string::npos) << via_help.out;
    EXPECT_NE(via_help.out.find("dbsafe backup [OPTIONS]"), std::string::npos) << via_help.out;
    EXPECT_EQ(via_help.out, via_flag.out);
}

TEST(Help, UnknownCommandIsAUsageErrorThatListsTheCommands) {
    const dbsafe::test::temp_dir dir;
    const auto r = dbsafe_cli({"help", "bakup"}, dir);
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("no command 'bakup'"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("backup"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("restore"), std::string::npos) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST(Help, WithoutACommandListsEveryCommand) {
    const dbsafe::test::temp_dir dir;
    const auto r = dbsafe_cli({"help"}, dir);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto names = commands(r.out);
    for (const char* expected : {"backup", "list", "verify", "restore", "help"}) {
        EXPECT_NE(std::find(names.begin(), names.end(), expected), names.end())
            << expected << " missing from:\n"
            << r.out;
    }
}

TEST(Version, PrintsTheProjectVersionAndTheSqliteVersion) {
    const dbsafe::test::temp_dir dir;
    const auto r = dbsafe_cli({"--version"}, dir);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out.rfind(std::string("dbsafe ") + DBSAFE_VERSION_STRING + " (SQLite ", 0), 0u)
        << r.out;
}

TEST(Docs, CliReferenceDocumentsEveryCommandAndEveryFlag) {
    const dbsafe::test::temp_dir dir;
    const std::string reference =
        dbsafe::test::slurp(std::filesystem::path(DBSAFE_SOURCE_DIR) / "docs" / "cli.md");
    ASSERT_FALSE(reference.empty()) << "docs/cli.md is missing";
    const auto listed = dbsafe_cli({"help"}, dir);
    ASSERT_EQ(listed.exit_code, 0) << listed.err;
    const auto names = commands(listed.out);
    ASSERT_GE(names.size(), 4u) << listed.out;
    for (const auto& name : names) {
        EXPECT_NE(reference.find("## `dbsafe " + name), std::string::npos)
            << "docs/cli.md has no section for `dbsafe " << name << "`";
        const auto help = dbsafe_cli({"help", name}, dir);
        ASSERT_EQ(help.exit_code, 0) << help.err;
        for (const auto& flag : flags(help.out)) {
            EXPECT_NE(reference.find(flag), std::string::npos)
                << "docs/cli.md does not document `dbsafe " << name << " " << flag << "`";
        }
    }
}

}  // namespace
