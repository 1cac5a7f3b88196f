// `dbsafe help --man`: the manual page, dbsafe(1), in roff, generated from the commands and
// flags this binary registers (so it cannot drift from them). The build writes it to
// dbsafe.1 and installs it under share/man/man1 (tools/CMakeLists.txt); docs/cli.md stays the
// full reference, and the page points there for what a flag's one-line description leaves out.
#include <sstream>

#include "cli.hpp"

namespace dbsafe::cli {
namespace {

// Text as roff reads it: a backslash is \e, a '-' is \- (a real hyphen-minus, so a flag can be
// copied and searched for), and a line starting with '.' or '\'' is not a request.
std::string roff(const std::string& text) {
    std::string out;
    bool line_start = true;
    for (const char c : text) {
        if (line_start && (c == '.' || c == '\'')) out += "\\&";
        if (c == '\\')
            out += "\\e";
        else if (c == '-')
            out += "\\-";
        else
            out += c;
        line_start = c == '\n';
    }
    return out;
}

// "--dir DIR", "--json": a flag as a synopsis shows it.
std::string flag_text(const CLI::Option& o) {
    std::string names;
    for (const auto& s : o.get_snames()) names += (names.empty() ? "-" : ", -") + s;
    for (const auto& l : o.get_lnames()) names += (names.empty() ? "--" : ", --") + l;
    if (o.get_items_expected_max() == 0) return "\\fB" + roff(names) + "\\fR";
    std::string value = o.get_type_name();
    if (value.empty()) value = "VALUE";
    return "\\fB" + roff(names) + "\\fR \\fI" + roff(value) + "\\fR";
}

}  // namespace

std::string manual_page(const CLI::App& app) {
    std::ostringstream m;
    const auto all = [](const CLI::App*) { return true; };
    m << ".TH DBSAFE 1 \"\" \"dbsafe " << DBSAFE_VERSION_STRING << "\" \"User Commands\"\n"
      << ".SH NAME\n"
      << "dbsafe \\- verified backups, safe restores and guarded migrations for SQLite\n"
      << ".SH SYNOPSIS\n";
    for (const CLI::App* sub : app.get_subcommands(all)) {
        m << ".B dbsafe " << roff(sub->get_name()) << "\n"
          << ".RI [ OPTIONS ]\n.br\n";
    }
    m << ".SH DESCRIPTION\n"
      << "dbsafe takes consistent online backups of SQLite databases, verifies them (SQLite's own "
         "checks, required tables, checksums), restores them into live databases with a safety "
         "backup that is put back automatically if anything fails, guards migrations, and "
         "prunes by retention rules. Backups are kept in a directory (\\fB\\-\\-dir\\fR) as "
         "plain files, zstd archives or a page repository that stores only the pages that "
         "changed.\n"
      << ".PP\n"
      << "Ids: a command that takes a backup id takes the whole id as \\fBdbsafe list\\fR "
         "prints it, any start of one that only one backup has, or \\fBlatest\\fR.\n"
      << ".SH COMMANDS\n";
    for (const CLI::App* sub : app.get_subcommands(all)) {
        m << ".SS " << roff(sub->get_name()) << "\n" << roff(sub->get_description()) << "\n";
        for (const CLI::Option* o : sub->get_options()) {
            if (!o->nonpositional()) {  // DATABASE, ids, COMMAND, shell
                m << ".TP\n\\fI" << roff(o->get_name()) << "\\fR\n"
                  << roff(o->get_description()) << "\n";
            } else {
                m << ".TP\n" << flag_text(*o) << "\n" << roff(o->get_description()) << "\n";
            }
        }
    }
    m << ".SH ENVIRONMENT\n"
      << ".TP\n.B DBSAFE_DIR\n"
      << "The backup directory of every command that takes \\fB\\-\\-dir\\fR, when the command "
         "line has none (a \\fB\\-\\-dir\\fR flag wins).\n"
      << ".TP\n.B DBSAFE_NO_MMAP\n"
      << "Set to 1, SQLite's checks read backups page by page instead of through a memory map, "
         "so a read error names the failing file.\n"
      << ".SH EXIT STATUS\n"
      << ".TP\n.B 0\nSuccess.\n"
      << ".TP\n.B 1\nThe operation failed (verify: a backup failed; health: unhealthy); the "
         "message on standard error names the file, what was expected and what to do.\n"
      << ".TP\n.B 2\nUsage error: unknown command or flag, missing argument, a value out of "
         "range, a malformed or ambiguous backup id; nothing was read or written.\n"
      << ".SH SEE ALSO\n"
      << "\\fBsqlite3\\fR(1). The full reference, with every output format: docs/cli.md in "
         "dbsafe's sources; \\fBdbsafe help\\fR \\fICOMMAND\\fR.\n";
    return m.str();
}

}  // namespace dbsafe::cli
