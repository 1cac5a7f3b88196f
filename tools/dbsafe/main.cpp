// dbsafe: verified backups, restores and guarded migrations for SQLite databases.
// Exit codes: 0 ok, 1 the operation failed, 2 usage error.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "cli.hpp"

namespace dbsafe::cli {

namespace {
bool json_on = false;
bool json_printed = false;
bool quiet_on = false;
bool verbose_on = false;
invocation current;

void close_progress_line();

void print_error(const std::string& code, const std::string& message, const std::string& path,
                 const std::string& hint = {}, const error* cause = nullptr) {
    close_progress_line();  // an error in mid-copy starts on its own line
    std::cerr << "dbsafe: " << message << "\n";
    if (!hint.empty()) std::cerr << "dbsafe: hint: " << hint << "\n";
    if (!json_on || json_printed) return;
    nlohmann::json j = {{"code", code}, {"message", message}, {"path", nullptr}};
    if (!path.empty()) j["path"] = json_path(path);
    if (!hint.empty()) j["hint"] = hint;
    // The chain of causes, outermost first: {"code", "message"[, "path"][, "cause"]}.
    nlohmann::json* slot = &j;
    for (const error* c = cause; c != nullptr; c = c->cause.get()) {
        nlohmann::json inner = {{"code", error_name(c->code)}, {"message", c->message}};
        if (!c->path.empty()) inner["path"] = json_path(c->path);
        (*slot)["cause"] = std::move(inner);
        slot = &(*slot)["cause"];
    }
    print_json({{"error", j}});
}
}  // namespace

void set_invocation(invocation at) { current = std::move(at); }
const invocation& current_invocation() { return current; }

std::string json_path(const std::string& p) {
    if (p.empty()) return p;
    std::error_code ec;
    const auto abs = std::filesystem::absolute(p, ec);
    return ec ? p : abs.lexically_normal().string();
}

void set_json_mode(bool on) { json_on = on; }
bool json_mode() { return json_on; }
bool quiet_mode() { return quiet_on; }
bool verbose_mode() { return verbose_on; }

void print_note(const std::string& message) {
    if (!quiet_on) std::cerr << "dbsafe: " << message << "\n";
}

void print_json(const nlohmann::json& j) {
    std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    json_printed = true;
}

int report(const dbsafe::error& e) {
    print_error(error_name(e.code), e.message, e.path, cli_hint(e, current), e.cause.get());
    return e.is(errc::invalid_id) ? exit_code::usage : exit_code::failed;
}

int usage_error(const std::string& message) {
    print_error("usage", message, {});
    return exit_code::usage;
}

nlohmann::json manifest_json(const manifest& m) {
    nlohmann::json j = to_json(m);
    j["path"] = json_path(m.data_path.string());
    // A page snapshot's counts side by side: how many pages it has, how many it stored.
    if (m.pages) j["pages"]["pages_total"] = m.page_count;
    return j;
}

std::string manifest_line(const manifest& m) {
    return m.id + "  " + std::string(to_string(m.kind)) + "  " + format_iso8601(m.created_at) +
           "  " + format_bytes(m.size_bytes) + "  schema " + std::to_string(m.schema_version) +
           (m.pages
                ? "  pages " + std::to_string(m.pages->pages_new) + "/" +
                      std::to_string(m.page_count) + " new, +" + format_bytes(m.pages->bytes_added)
                : std::string());
}

// The progress line on a terminal: one line per phase (progress.hpp: snapshot, check, store,
// unpack, checksum, safety backup, copy in), redrawn in place, then left on screen with the phase's
// size, time and rate, or erased (transient: `verify`, whose result lines are what stays).
namespace {
struct progress_line {
    bool open = false;      // a phase's line is on screen without its newline
    bool finished = false;  // the current phase printed its final line
    bool transient = false;
    progress_phase phase = progress_phase::snapshot;
    std::chrono::steady_clock::time_point started{};
};
progress_line line_state;
// Phases whose final line is already drawn and that were not announced again since: a late
// total of one of them draws nothing (a `pages` backup checks its snapshot inside the
// snapshot's read transaction, and the snapshot reports its total once that has ended).
std::set<progress_phase> phases_done;

void close_progress_line() {
    if (line_state.open && !line_state.finished) {
        std::fputs(line_state.transient ? "\r\x1b[K" : "\n", stderr);
    }
    line_state.open = false;
}

// One phase's line, without its leading \r and trailing \x1b[K.
std::string progress_text(const progress& p, double seconds) {
    char label[32];
    std::snprintf(label, sizeof label, "%-14s", std::string(to_string(p.phase)).c_str());
    const double rate = seconds > 0 ? static_cast<double>(p.bytes_done()) / seconds : 0.0;
    if (p.pages_total == 0) return std::string(label) + " ...";  // its size comes later
    if (p.pages_done >= p.pages_total) {
        if (p.bytes_total() == 0) return std::string(label) + " done in " + format_seconds(seconds);
        // The store's bytes were not measured as they went (progress.hpp): no rate to claim.
        if (p.phase == progress_phase::store) {
            return std::string(label) + " " + format_bytes(p.bytes_total()) + " in " +
                   format_seconds(seconds);
        }
        return std::string(label) + " " + format_bytes(p.bytes_total()) + " in " +
               format_seconds(seconds) + ", " + format_bytes(static_cast<std::uint64_t>(rate)) +
               "/s";
    }
    const std::string percent = std::to_string(static_cast<int>(p.fraction() * 100)) + "%";
    if (p.phase == progress_phase::check) {
        // How much of the file SQLite's check has reached, not how much of its time has passed
        // (detail/read_meter.hpp): no rate, no ETA, the time spent instead.
        return std::string(label) + " read " + percent + " of " + format_bytes(p.bytes_total()) +
               "  " + format_seconds(seconds);
    }
    // Rate and ETA once there is a rate to tell (not at the phase's first report).
    std::string pace;
    if (rate >= 1) {
        const double left = static_cast<double>(p.bytes_total() - p.bytes_done());
        pace = "  " + format_bytes(static_cast<std::uint64_t>(rate)) + "/s  ETA " +
               format_seconds(left / rate);
    }
    char head[48];
    std::snprintf(head, sizeof head, "%s %4s  ", label, percent.c_str());
    return std::string(head) + format_bytes(p.bytes_done()) + " / " +
           format_bytes(p.bytes_total()) + pace;
}
}  // namespace

progress_callback make_progress_bar(progress_display display) {
    // Never with --json (one document is all a program gets) nor off a terminal (logs).
    if (::isatty(STDERR_FILENO) == 0 || json_on || quiet_on) return {};
    const bool transient = display == progress_display::transient;
    // The first phase is timed from here: a backup's copy that reads the file directly
    // reports only when it is done. Later phases announce their start (announce_phase).
    auto first = std::make_shared<bool>(true);
    return [first, transient, created = std::chrono::steady_clock::now()](const progress& p) {
        const auto now = std::chrono::steady_clock::now();
        const bool announced = p.pages_total == 0;
        const bool done = !announced && p.pages_done >= p.pages_total;
        if (announced) phases_done.erase(p.phase);
        if (done && p.phase != line_state.phase && phases_done.contains(p.phase)) return;
        // A new line for a new phase, and for the same phase begun again (verify's next backup).
        const bool begins = announced && line_state.finished;
        if (!line_state.open || p.phase != line_state.phase || begins) {
            close_progress_line();
            line_state = {.open = true,
                          .finished = false,
                          .transient = transient,
                          .phase = p.phase,
                          .started = *first ? created : now};
            *first = false;
        }
        if (line_state.finished) return;  // a phase may report its total twice: one line
        const double seconds = std::chrono::duration<double>(now - line_state.started).count();
        if (done) phases_done.insert(p.phase);
        if (done && transient) {
            std::fputs("\r\x1b[K", stderr);
        } else {
            // \x1b[K clears what a longer progress text left on the line.
            std::fprintf(stderr, "\r%s\x1b[K%s", progress_text(p, seconds).c_str(),
                         done ? "\n" : "");
        }
        line_state.finished = done;
        std::fflush(stderr);
    };
}

bool parse_check_level(const std::string& text, check_level& out) {
    if (text == "full")
        out = check_level::full;
    else if (text == "quick")
        out = check_level::quick;
    else if (text == "none")
        out = check_level::none;
    else
        return false;
    return true;
}

}  // namespace dbsafe::cli

// The SQLite checks read backups through a memory map (cli.hpp, checks_memory_mapped): a disk
// read error or a file truncated under us then arrives as SIGBUS. Say what happened instead of
// dying with "Bus error". Only async-signal-safe calls here.
extern "C" void on_sigbus(int /*signal*/) {
    static constexpr char message[] =
        "dbsafe: error: a read of a memory-mapped database file failed (the disk reported an I/O "
        "error, or the file was truncated while it was being checked); nothing was changed. Run "
        "again with DBSAFE_NO_MMAP=1 to have SQLite name the failing file.\n";
    (void)!::write(STDERR_FILENO, message, sizeof message - 1);
    ::_exit(1);
}

int main(int argc, char** argv) {
    using namespace dbsafe::cli;
    struct sigaction bus {};
    bus.sa_handler = on_sigbus;
    ::sigaction(SIGBUS, &bus, nullptr);
    CLI::App app{"dbsafe " DBSAFE_VERSION_STRING
                 ": verified backups, safe restores and guarded migrations for SQLite"};
    app.set_version_flag("--version", std::string("dbsafe ") + DBSAFE_VERSION_STRING + " (SQLite " +
                                          sqlite3_libversion() + ")");
    app.require_subcommand(1);
    std::function<int()> run;
    std::string config_path;  // --config: read before parsing, by with_configured_flags
    add_backup_command(app, run);
    add_list_command(app, run);
    add_verify_command(app, run);
    add_restore_command(app, run);
    add_migrate_command(app, run);
    add_recover_command(app, run);
    add_prune_command(app, run);
    add_health_command(app, run);
    add_init_command(app, run);
    add_stats_command(app, run);
    add_diff_command(app, run);
    add_config_command(app, run);
    // `dbsafe help [COMMAND]`: the text of `dbsafe COMMAND --help`, for people who type it the
    // git way. Looked up at run time, so it covers every command registered above.
    std::string help_topic;
    CLI::App* help = app.add_subcommand("help", "Show the help of a command: dbsafe help COMMAND");
    help->add_option("command", help_topic, "The command to explain (default: all commands)");
    bool as_manual = false;
    help->add_flag("--man", as_manual,
                   "Print the manual page, dbsafe(1), in roff (installed with dbsafe; read it "
                   "with `man dbsafe`)");
    help->callback([&] {
        run = [&]() -> int {
            if (as_manual) {
                if (!help_topic.empty()) {
                    return usage_error("help --man prints the whole manual: leave out the command");
                }
                std::cout << manual_page(app);
                return exit_code::ok;
            }
            if (help_topic.empty()) {
                std::cout << app.get_formatter()->make_help(&app, app.get_name(),
                                                            CLI::AppFormatMode::Normal);
                return exit_code::ok;
            }
            CLI::App* topic = nullptr;
            try {
                topic = app.get_subcommand(help_topic);
            } catch (const CLI::OptionNotFound&) {
            }
            if (topic == nullptr) {
                std::string names;
                const auto all = [](const CLI::App*) { return true; };
                for (const CLI::App* sub : std::as_const(app).get_subcommands(all)) {
                    if (sub != help) names += " " + sub->get_name();
                }
                return usage_error("no command '" + help_topic + "'; the commands are:" + names);
            }
            std::cout << topic->help(app.get_name());  // argv[0], as `COMMAND --help` says
            return exit_code::ok;
        };
    });
    add_completion_command(app, run);  // after help: it lists every command, help included
    // -q and -v on every command that does something (help and completion only print text).
    for (CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
        if (sub == help || sub->get_name() == "completion" || sub->get_name() == "config") continue;
        // Read before parsing (with_configured_flags); registered so that help shows it.
        sub->add_option("--config", config_path,
                        "Configuration file with defaults for the flags (default: $DBSAFE_CONFIG, "
                        "else ~/.config/dbsafe/config.toml; see `dbsafe config show`)");
        auto* quiet = sub->add_flag_callback(
            "-q,--quiet", [] { quiet_on = true; },
            "Print nothing on success but what --json asks for: no text, no progress, no notes "
            "(errors still go to stderr)");
        auto* verbose = sub->add_flag_callback(
            "-v,--verbose", [] { verbose_on = true; },
            "Also say how the work was done (method, checks relied on, proofs)");
        quiet->excludes(verbose);
    }
    // Known before parsing, so even a usage error comes back as JSON to a script that asked.
    for (int i = 1; i < argc; ++i) {
        if (std::string_view(argv[i]) == "--") break;
        if (std::string_view(argv[i]) == "--json") set_json_mode(true);
    }
    // CLI11 would say "A subcommand is required" for a misspelt command; name it instead.
    if (argc > 1 && argv[1][0] != '-') {
        const auto all = [](const CLI::App*) { return true; };
        bool known = false;
        for (const CLI::App* sub : std::as_const(app).get_subcommands(all)) {
            known = known || sub->check_name(argv[1]);
        }
        if (!known)
            return usage_error(std::string("no command '") + argv[1] + "' (run `dbsafe help`)");
    }
    // The configuration file's settings become flags where the command line has none.
    auto configured = with_configured_flags(app, std::vector<std::string>(argv, argv + argc));
    if (!configured) {
        print_error("usage", configured.error().message, configured.error().path);
        return exit_code::usage;
    }
    std::vector<char*> args;
    for (auto& a : configured.value()) {
        args.push_back(a.data());
        if (a == "--json") set_json_mode(true);  // `json = true` in the file counts as typed
    }
    try {
        app.parse(static_cast<int>(args.size()), args.data());
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        return usage_error(std::string(e.what()) + " (run `dbsafe help" +
                           (app.get_subcommands().empty()
                                ? std::string()
                                : " " + app.get_subcommands().front()->get_name()) +
                           "` for the flags)");
    }
    // --quiet: a command's text on stdout goes nowhere (its JSON document, when asked for, is
    // still printed: a script asked for it).
    if (quiet_on && !json_on) std::cout.setstate(std::ios::badbit);
    try {
        return run ? run() : exit_code::usage;
    } catch (const std::exception& e) {  // a bug, not an expected failure: still no core dump
        print_error("internal_error", std::string("internal error: ") + e.what(), {});
        return exit_code::failed;
    }
}
