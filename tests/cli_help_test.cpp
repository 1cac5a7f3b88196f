// `dbsafe help COMMAND`, `dbsafe --version`, and docs/cli.md against the real binary: the
// reference documents every command and every flag the CLI accepts, so a new flag without
// documentation fails here rather than surprising a user.
#include <gtest/gtest.h>

#include <algorithm>
#include <dbsafe/version.hpp>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
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
    const std::regex flag(R"((?:^|[\s,])(--[a-z][a-z0-9-]*))");
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

// What bash offers after `words` (the last one being completed), through the script that
// `dbsafe completion bash` printed, sourced in a real bash.
std::vector<std::string> bash_offers(const std::string& script_path,
                                     const std::vector<std::string>& words,
                                     const dbsafe::test::temp_dir& dir) {
    std::string array;
    for (const auto& w : words) array += " '" + w + "'";
    const std::string program = "cd '" + dir.path().string() + "' && source '" + script_path +
                                "'; COMP_WORDS=(" + array +
                                "); COMP_CWORD=" + std::to_string(words.size() - 1) +
                                "; _dbsafe; printf '%s\\n' \"${COMPREPLY[@]}\"";
    const auto r = dbsafe::test::run({"/bin/bash", "-c", program}, {}, dir.path());
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::vector<std::string> out;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) {
        if (!line.empty()) out.push_back(line);
    }
    return out;
}

TEST(Completion, BashOffersTheBinarysOwnCommandsFlagsAndFixedValues) {
    const dbsafe::test::temp_dir dir;
    const auto script = dbsafe_cli({"completion", "bash"}, dir);
    ASSERT_EQ(script.exit_code, 0) << script.err;
    const std::string path = (dir / "dbsafe.bash").string();
    std::ofstream(path) << script.out;

    using words = std::vector<std::string>;
    EXPECT_EQ(bash_offers(path, {"dbsafe", "res"}, dir), words{"restore"});
    EXPECT_EQ(bash_offers(path, {"dbsafe", "restore", "app.db", "--la"}, dir), words{"--latest"});
    EXPECT_EQ(bash_offers(path, {"dbsafe", "list", "--kind", ""}, dir),
              (words{"manual", "pre_migration", "safety"}));
    EXPECT_EQ(bash_offers(path, {"dbsafe", "help", "ver"}, dir), words{"verify"});
    // A path where no flag is being typed: the files in the working directory.
    std::ofstream(dir / "app.db").flush();
    EXPECT_EQ(bash_offers(path, {"dbsafe", "backup", "ap"}, dir), words{"app.db"});

    // Every command `dbsafe help` lists is offered, and every flag of each one's help.
    const auto listed = dbsafe_cli({"help"}, dir);
    for (const auto& name : commands(listed.out)) {
        const auto offered = bash_offers(path, {"dbsafe", name.substr(0, 3)}, dir);
        EXPECT_NE(std::find(offered.begin(), offered.end(), name), offered.end()) << name;
        const auto all_flags = bash_offers(path, {"dbsafe", name, "--"}, dir);
        for (const auto& flag : flags(dbsafe_cli({"help", name}, dir).out)) {
            EXPECT_NE(std::find(all_flags.begin(), all_flags.end(), flag), all_flags.end())
                << "dbsafe " << name << " " << flag << " is not completed";
        }
    }
}

TEST(Completion, ZshUsesTheBashFunctionAndFishListsEveryFlagWithItsDescription) {
    const dbsafe::test::temp_dir dir;
    const auto bash = dbsafe_cli({"completion", "bash"}, dir);
    const auto zsh = dbsafe_cli({"completion", "zsh"}, dir);
    const auto fish = dbsafe_cli({"completion", "fish"}, dir);
    ASSERT_EQ(zsh.exit_code, 0) << zsh.err;
    ASSERT_EQ(fish.exit_code, 0) << fish.err;
    EXPECT_EQ(zsh.out.rfind("#compdef dbsafe\n", 0), 0U) << zsh.out;
    const auto function = bash.out.substr(bash.out.find("_dbsafe() {"));
    EXPECT_NE(zsh.out.find(function), std::string::npos) << zsh.out;
    const auto listed = dbsafe_cli({"help"}, dir);
    for (const auto& name : commands(listed.out)) {
        EXPECT_NE(fish.out.find("-n __fish_use_subcommand -a " + name + " -d '"), std::string::npos)
            << name;
        for (const auto& flag : flags(dbsafe_cli({"help", name}, dir).out)) {
            EXPECT_NE(fish.out.find("'__fish_seen_subcommand_from " + name + "' -l " +
                                    flag.substr(2) + " "),
                      std::string::npos)
                << "fish: dbsafe " << name << " " << flag;
        }
    }
    // A description's quote is escaped, so fish reads the line as one command.
    EXPECT_NE(fish.out.find("the live database\\'s"), std::string::npos) << fish.out;
    const auto other = dbsafe_cli({"completion", "tcsh"}, dir);
    EXPECT_EQ(other.exit_code, 2);
    EXPECT_TRUE(other.out.empty()) << other.out;
}

// A flag as the manual page spells it: every '-' as roff's \-.
std::string roff_flag(const std::string& flag) {
    std::string out;
    for (const char c : flag) out += c == '-' ? std::string("\\-") : std::string(1, c);
    return out;
}

TEST(Manual, ListsEveryCommandAndFlagOfTheBinaryAndRendersWithoutRoffWarnings) {
    const dbsafe::test::temp_dir dir;
    const auto page = dbsafe_cli({"help", "--man"}, dir);
    ASSERT_EQ(page.exit_code, 0) << page.err;
    EXPECT_EQ(page.out.rfind(".TH DBSAFE 1 ", 0), 0U) << page.out.substr(0, 200);
    const auto listed = dbsafe_cli({"help"}, dir);
    for (const auto& name : commands(listed.out)) {
        EXPECT_NE(page.out.find("\n.SS " + name + "\n"), std::string::npos) << name;
        for (const auto& flag : flags(dbsafe_cli({"help", name}, dir).out)) {
            EXPECT_NE(page.out.find(roff_flag(flag) + "\\fR"), std::string::npos)
                << "dbsafe(1) lacks dbsafe " << name << " " << flag;
        }
    }
    // The page the build writes (and installs) is this one.
    const auto built = std::filesystem::path(DBSAFE_CLI_PATH).parent_path() / "dbsafe.1";
    EXPECT_EQ(dbsafe::test::slurp(built), page.out) << built;
    // groff reads it without a warning (-ww: all of them), where groff is installed.
    if (std::filesystem::exists("/usr/bin/groff")) {
        const auto file = dir / "dbsafe.1";
        std::ofstream(file) << page.out;
        const auto r = dbsafe::test::run(
            {"/usr/bin/groff", "-man", "-Tutf8", "-ww", "-z", file.string()}, {}, dir.path());
        EXPECT_EQ(r.exit_code, 0) << r.err;
        EXPECT_EQ(r.err, "") << "groff warnings";
    }
    EXPECT_EQ(dbsafe_cli({"help", "--man", "backup"}, dir).exit_code, 2);
}

}  // namespace
