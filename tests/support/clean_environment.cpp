// Linked into every test program (dbsafe_add_test): the dbsafe tool takes defaults from the
// environment (DBSAFE_DIR, DBSAFE_CONFIG) and from a configuration file under
// $XDG_CONFIG_HOME or ~/.config (docs/cli.md). On a developer's machine those would change what
// a test's command line means, so no test process and no tool it starts sees any of them; the
// tests of those defaults set them on the command they run. Runs before main().
#include <cstdlib>

namespace {

const bool environment_cleaned = [] {
    ::unsetenv("DBSAFE_DIR");
    ::unsetenv("DBSAFE_CONFIG");
    ::setenv("XDG_CONFIG_HOME", "/nonexistent/dbsafe-tests-read-no-configuration", 1);
    return true;
}();

}  // namespace
