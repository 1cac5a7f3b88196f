// vault_like: the operations built on a vault (the migration guard, its recovery, restore,
// backup_async) take anything that models the concept, so a wrapper around a vault works with
// them. The diagnostics for types that do not are pinned by tests/compile_fail.
#include <gtest/gtest.h>

#include <dbsafe/backup_async.hpp>
#include <dbsafe/dbsafe.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "support/sqlite_fixtures.hpp"
#include "support/temp_dir.hpp"

namespace {

using namespace dbsafe;
using dbsafe::test::db_handle;
using dbsafe::test::dump_rows;
using dbsafe::test::temp_dir;
namespace fs = std::filesystem;

static_assert(vault_like<vault>);
static_assert(backup_taker<vault>);
static_assert(!vault_like<int>);
static_assert(!vault_like<local_directory>);

// An application's wrapper: every backup, whoever asks for it, goes through here (to count or
// log them), and the parts are the wrapped vault's own.
struct counting_vault {
    vault& inner;
    local_directory& storage = inner.storage;
    const standard_checks& verification = inner.verification;
    const user_version& schema = inner.schema;
    const vault_options& options = inner.options;
    std::vector<backup_kind> taken{};

    result<manifest> backup(const database_ref& db, const backup_options& opts) {
        taken.push_back(opts.kind);
        return inner.backup(db, opts);
    }
    [[nodiscard]] std::chrono::system_clock::time_point now() const { return inner.now(); }
};
static_assert(vault_like<counting_vault>);

struct fixture {
    temp_dir dir;
    fs::path live = dir / "app.db";
    vault v{.storage = local_directory{dir / "backups"},
            .snapshot = {},
            .verification = standard_checks{.level = check_level::quick, .required = {}},
            .retention = {},
            .options = {}};
    fixture() { test::create_sample_db(live, 100); }
};

TEST(VaultLike, AWrappedVaultGuardsAMigrationAndRollsItBackThroughTheWrapper) {
    fixture f;
    const auto before = dump_rows(f.live);
    counting_vault counted{f.v};
    {
        db_handle db(f.live);
        auto guard = migration_guard::open(counted, db.db);
        ASSERT_TRUE(guard) << guard.error().message;
        test::exec(db, "DELETE FROM orders; DROP TABLE customers");
        // No commit: leaving the scope restores the pre-migration backup, and the restore's
        // safety backup is taken through the wrapper as well.
    }
    EXPECT_EQ(dump_rows(f.live), before);
    EXPECT_EQ(counted.taken,
              (std::vector<backup_kind>{backup_kind::pre_migration, backup_kind::safety}));
}

TEST(VaultLike, AWrappedVaultTakesAnAsyncBackup) {
    fixture f;
    counting_vault counted{f.v};
    auto task = backup_async(counted, database_ref(f.live));
    const auto& done = task.wait();
    ASSERT_TRUE(done) << done.error().message;
    EXPECT_EQ(counted.taken, std::vector<backup_kind>{backup_kind::manual});
    EXPECT_TRUE(f.v.verify(done.value().id)) << "the wrapped vault published a verified backup";
}

}  // namespace
