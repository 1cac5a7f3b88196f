// dbsafe: verified backups, safe restores and guarded migrations for SQLite.
// This header brings in the core (no backend); backends live in dbsafe/backends/.
#pragma once

#include "dbsafe/backup_async.hpp"
#include "dbsafe/backup_id.hpp"
#include "dbsafe/backup_kind.hpp"
#include "dbsafe/checksum.hpp"
#include "dbsafe/database_connection.hpp"
#include "dbsafe/database_ref.hpp"
#include "dbsafe/error.hpp"
#include "dbsafe/error_name.hpp"
#include "dbsafe/free_space.hpp"
#include "dbsafe/health.hpp"
#include "dbsafe/manifest.hpp"
#include "dbsafe/migration_guard.hpp"
#include "dbsafe/parse_units.hpp"
#include "dbsafe/progress.hpp"
#include "dbsafe/prune.hpp"
#include "dbsafe/restore.hpp"
#include "dbsafe/retention/default_retention.hpp"
#include "dbsafe/retention/keep_any_of.hpp"
#include "dbsafe/retention/keep_calendar.hpp"
#include "dbsafe/retention/keep_kinds.hpp"
#include "dbsafe/retention/keep_last.hpp"
#include "dbsafe/retention/keep_within.hpp"
#include "dbsafe/retention/max_total_size.hpp"
#include "dbsafe/retention/retention_limit.hpp"
#include "dbsafe/retention/retention_policy.hpp"
#include "dbsafe/retention/retention_rules.hpp"
#include "dbsafe/schema/any_schema.hpp"
#include "dbsafe/schema/migration_table.hpp"
#include "dbsafe/schema/schema_version.hpp"
#include "dbsafe/schema/sql_query.hpp"
#include "dbsafe/schema/user_version.hpp"
#include "dbsafe/snapshot/online_backup.hpp"
#include "dbsafe/snapshot/snapshot_strategy.hpp"
#include "dbsafe/snapshot/vacuum_into.hpp"
#include "dbsafe/source_identity.hpp"
#include "dbsafe/storage/backup_file_names.hpp"
#include "dbsafe/storage/local_directory.hpp"
#include "dbsafe/storage/storage_target.hpp"
#include "dbsafe/vault.hpp"
#include "dbsafe/verify/all_of.hpp"
#include "dbsafe/verify/checksum_matches.hpp"
#include "dbsafe/verify/database_verifier.hpp"
#include "dbsafe/verify/required_tables.hpp"
#include "dbsafe/verify/sqlite_checks.hpp"
#include "dbsafe/verify/standard_checks.hpp"
#include "dbsafe/verify/verifier.hpp"
#include "dbsafe/version.hpp"

namespace dbsafe {

// The common case: online backup API, checksum + integrity_check, default_retention (30 days,
// pre_migration kept, newest kept) for prune(), into a local directory.
using vault = basic_vault<online_backup, standard_checks, default_retention, local_directory>;

}  // namespace dbsafe
