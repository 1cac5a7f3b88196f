// The configuration file: defaults for any command's flags, below the command line and the
// environment (flags > DBSAFE_DIR > file). TOML as CLI11 reads it:
//
//     dir = "/var/backups/app"      # every command that has --dir
//     busy-timeout = 20000          # every command that has --busy-timeout
//     [backup]
//     verify = "quick"              # dbsafe backup only
//     require-table = ["orders", "customers"]
//
// Read from --config FILE, else $DBSAFE_CONFIG, else $XDG_CONFIG_HOME/dbsafe/config.toml (or
// ~/.config/dbsafe/config.toml) when it exists. A setting becomes the flag it names, added to
// the command line only when the command line (or, for dir, the environment) has none, so CLI11
// checks its value as it checks a typed one. A setting no command has, or a [section] key the
// command lacks, is a usage error naming the file: a typo must not silently do nothing.
#include <cstdlib>
#include <fstream>
#include <iostream>

#include "cli.hpp"

namespace dbsafe::cli {
namespace {

std::vector<std::string> command_line;  // as typed, for `config show` to find --config

struct setting {
    std::string section;  // "" for a top-level key
    std::string name;
    std::vector<std::string> values;
};

struct config_source {
    std::filesystem::path path;
    bool explicit_path = false;  // --config or DBSAFE_CONFIG: it must exist
};

config_source locate_config(const std::vector<std::string>& args) {
    for (std::size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "--config" && i + 1 < args.size()) return {args[i + 1], true};
        if (args[i].starts_with("--config=")) return {args[i].substr(9), true};
    }
    if (const char* env = std::getenv(config_variable); env != nullptr && *env != '\0') {
        return {env, true};
    }
    if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg != nullptr && *xdg != '\0') {
        return {std::filesystem::path(xdg) / "dbsafe" / "config.toml", false};
    }
    if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
        return {std::filesystem::path(home) / ".config" / "dbsafe" / "config.toml", false};
    }
    return {};
}

result<std::vector<setting>> read_settings(const config_source& where) {
    std::vector<setting> out;
    if (where.path.empty() && where.explicit_path) {
        return error(errc::invalid_argument,
                     std::string("the configuration file's path is empty: give --config FILE "
                                 "(or unset ") +
                         config_variable + " to use the default file)");
    }
    if (where.path.empty()) return out;
    std::error_code ec;
    if (!std::filesystem::is_regular_file(where.path, ec)) {
        if (!where.explicit_path && !std::filesystem::exists(where.path, ec)) return out;
        return error(errc::invalid_argument,
                     "configuration file " + where.path.string() +
                         " is not a readable file: fix the path given by --config or " +
                         config_variable,
                     where.path.string());
    }
    std::ifstream in(where.path);
    try {
        for (const auto& item : CLI::ConfigTOML().from_config(in)) {
            if (item.name == "--" || item.name == "++") continue;  // CLI11's section markers
            if (item.parents.size() > 1) {
                return error(errc::invalid_argument,
                             "configuration file " + where.path.string() + ": '" + item.fullname() +
                                 "' is nested too deep: use top-level keys or one [command] "
                                 "section",
                             where.path.string());
            }
            out.push_back({item.parents.empty() ? std::string() : item.parents.front(), item.name,
                           item.inputs});
        }
    } catch (const CLI::Error& e) {
        return error(errc::invalid_argument,
                     "configuration file " + where.path.string() + " does not parse: " + e.what(),
                     where.path.string());
    }
    return out;
}

// The command line names this flag already (--name, --name=..., or a short name).
bool given(const std::vector<std::string>& args, const CLI::Option& o) {
    for (const auto& a : args) {
        for (const auto& l : o.get_lnames()) {
            if (a == "--" + l || a.starts_with("--" + l + "=")) return true;
        }
        for (const auto& s : o.get_snames()) {
            if (a == "-" + s) return true;
        }
    }
    return false;
}

// A flag the command line rules out: `verify --file F` with a configured dir would be
// `--dir excludes --file`. A default never turns a valid command line into a usage error.
bool excluded(const std::vector<std::string>& args, const CLI::Option& o) {
    for (const CLI::Option* other : o.get_excludes()) {
        if (given(args, *other)) return true;
    }
    return false;
}

bool dir_from_environment(const std::string& name) {
    const char* env = std::getenv(dir_variable);
    return name == "dir" && env != nullptr && *env != '\0';
}

CLI::App* command_named(CLI::App& app, const std::string& name) {
    for (CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
        if (sub->get_name() == name) return sub;
    }
    return nullptr;
}

// Every command a setting is meant for: its section's, or each that has the flag.
std::vector<CLI::App*> commands_for(CLI::App& app, const setting& s) {
    std::vector<CLI::App*> out;
    for (CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
        if (!s.section.empty() && sub->get_name() != s.section) continue;
        if (sub->get_option_no_throw("--" + s.name) != nullptr) out.push_back(sub);
    }
    return out;
}

result<void> check_known(CLI::App& app, const std::vector<setting>& settings,
                         const std::filesystem::path& file) {
    for (const auto& s : settings) {
        if (!s.section.empty() && command_named(app, s.section) == nullptr) {
            return error(errc::invalid_argument,
                         "configuration file " + file.string() + ": [" + s.section +
                             "] is no dbsafe command (run `dbsafe help` for the commands)",
                         file.string());
        }
        if (commands_for(app, s).empty()) {
            return error(
                errc::invalid_argument,
                "configuration file " + file.string() + ": " +
                    (s.section.empty() ? "no command has" : "dbsafe " + s.section + " has no") +
                    " --" + s.name + " flag (run `dbsafe help " +
                    (s.section.empty() ? std::string("COMMAND") : s.section) + "` for the flags)",
                file.string());
        }
    }
    return success();
}

}  // namespace

result<std::vector<std::string>> with_configured_flags(CLI::App& app,
                                                       std::vector<std::string> args) {
    // args[0] is the program, args[1] the command (main checked it names one).
    command_line = args;
    // help, completion and --version work whatever the file holds (they read no flags from it).
    if (args.size() < 2 || args[1].starts_with("-") || args[1] == "help" ||
        args[1] == "completion") {
        return args;
    }
    const auto where = locate_config(args);
    DBSAFE_TRY(const auto settings, read_settings(where));
    if (settings.empty()) return args;
    DBSAFE_TRYV(check_known(app, settings, where.path));
    CLI::App* command = command_named(app, args[1]);
    if (command == nullptr || command->get_name() == "config") return args;
    std::vector<std::string> added;
    // A [command] key wins over a top-level one: read the section first.
    for (const bool sectioned : {true, false}) {
        for (const auto& s : settings) {
            if (s.section.empty() == sectioned) continue;
            if (!s.section.empty() && s.section != command->get_name()) continue;
            const CLI::Option* o = command->get_option_no_throw("--" + s.name);
            if (o == nullptr || given(args, *o) || given(added, *o) ||
                dir_from_environment(s.name) || excluded(args, *o)) {
                continue;
            }
            if (o->get_items_expected_max() == 0) {  // a flag: true adds it, false leaves it out
                if (s.values.size() == 1 && s.values.front() == "true")
                    added.push_back("--" + s.name);
                continue;
            }
            for (const auto& v : s.values) {
                added.push_back("--" + s.name);
                added.push_back(v);
            }
        }
    }
    args.insert(args.end(), added.begin(), added.end());
    return args;
}

void add_config_command(CLI::App& app, std::function<int()>& run) {
    auto* cmd = app.add_subcommand(
        "config",
        "Show the configuration: each setting of the configuration file, the value "
        "that applies and where it comes from (flags > environment > file)");
    auto* show = cmd->add_subcommand("show", "Show each setting, its value and its source");
    cmd->require_subcommand(1);
    auto json = std::make_shared<bool>(false);
    show->add_flag("--json", *json, "Print one JSON object");
    auto file = std::make_shared<std::string>();  // read by locate_config from the command line
    show->add_option("--config", *file, "The configuration file to show (default: see above)");
    show->callback([&app, json, file, &run] {  // `file` lives as long as the command does
        run = [&app, json]() -> int {
            // The file as the other commands find it; --config is on this command line too.
            const auto where = locate_config(command_line);
            auto settings = read_settings(where);
            if (!settings) return report(settings.error());
            if (auto known = check_known(app, settings.value(), where.path); !known) {
                return report(known.error());
            }
            const bool present = !where.path.empty() && std::filesystem::exists(where.path);
            nlohmann::json list = nlohmann::json::array();
            if (!*json) {
                std::cout << "configuration file: "
                          << (where.path.empty() ? std::string("(none: no HOME)")
                                                 : where.path.string())
                          << (present ? "" : " (not present)") << "\n";
            }
            const char* env_dir = std::getenv(dir_variable);
            const bool has_env_dir = env_dir != nullptr && *env_dir != '\0';
            bool dir_listed = false;
            for (const auto& s : settings.value()) {
                const bool env_wins = dir_from_environment(s.name);  // the rule commands apply
                dir_listed = dir_listed || s.name == "dir";
                std::string value;
                for (const auto& v : s.values) value += (value.empty() ? "" : ", ") + v;
                std::string commands;
                for (const CLI::App* c : commands_for(app, s)) {
                    commands += (commands.empty() ? "" : " ") + c->get_name();
                }
                const std::string key = (s.section.empty() ? "" : "[" + s.section + "] ") + s.name;
                list.push_back({{"section", s.section.empty() ? nlohmann::json(nullptr)
                                                              : nlohmann::json(s.section)},
                                {"name", s.name},
                                {"value", env_wins ? std::string(env_dir) : value},
                                {"source", env_wins ? "environment" : "file"},
                                {"file_value", value},
                                {"commands", commands}});
                if (!*json) {
                    std::cout << "  " << key << " = "
                              << (env_wins ? std::string(env_dir) + "  (from " + dir_variable +
                                                 "; the file's " + value + " is not used)"
                                           : value + "  (from the file; for: " + commands + ")")
                              << "\n";
                }
            }
            if (has_env_dir && !dir_listed) {
                list.push_back({{"section", nullptr},
                                {"name", "dir"},
                                {"value", env_dir},
                                {"source", "environment"},
                                {"file_value", nullptr},
                                {"commands", "every command with --dir"}});
                if (!*json) {
                    std::cout << "  dir = " << env_dir << "  (from " << dir_variable << ")\n";
                }
            }
            if (*json) {
                print_json({{"file", present ? nlohmann::json(json_path(where.path.string()))
                                             : nlohmann::json(nullptr)},
                            {"settings", list}});
            } else {
                std::cout << "flags on a command line win over both\n";
            }
            return static_cast<int>(exit_code::ok);
        };
    });
}

}  // namespace dbsafe::cli
