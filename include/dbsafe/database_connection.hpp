// Opening an SQLite database the way dbsafe does, for a program (or the dbsafe tool) that runs
// its own statements beside a vault, e.g. a migration under a migration_guard:
//
//     DBSAFE_TRY(auto db, dbsafe::open_and_probe("app.db", dbsafe::open_mode::read_write, 10000));
//     DBSAFE_TRYV(dbsafe::exec(db.get(), "BEGIN IMMEDIATE"));
//
// The connection (a std::unique_ptr that closes it) never follows a symlink in the file's last
// component, never creates a database it was asked to read, and reads a path as a path even in
// SQLite builds that take "file:..." for a URI. Failures are dbsafe errors that name the file and
// say what to do: not_found, symlink_refused, not_a_database, busy_timeout (locked past the
// timeout), or SQLite's own code.
#pragma once

#include "dbsafe/detail/sqlite.hpp"

namespace dbsafe {

// read_only, read_write, create (the only mode that makes a missing file).
using detail::open_mode;

// open_database(path, mode, busy_timeout_ms = 5000, vfs = nullptr): the connection, with
// extended result codes on and the busy timeout set.
using detail::open_database;

// open_and_probe(path, mode, busy_timeout_ms = 5000, vfs = nullptr): open_database, then a read
// of the schema, so a file that is no database, or one locked past the timeout, fails here.
using detail::open_and_probe;

// database_name(db): the file a connection has open, ":memory:" for none.
using detail::database_name;

// exec(db, sql): runs statements without results; the error names the SQL and the database.
using detail::exec;

// query_int(db, sql): the first column of the first row as an integer (PRAGMA user_version).
using detail::query_int;

// polling_busy_wait(db, timeout): while it lives, `db` waits for another connection's lock by
// asking again every 250 us, up to `timeout`, instead of with SQLite's default busy handler
// (sleeps growing to 100 ms), and the connection's own busy timeout is set back when it ends.
// For a connection of your own beside a rollback-journal writer committing back to back, whose
// gaps between commits last tens of microseconds (docs/concepts.md). dbsafe's own connections
// already wait this way; the tool's `migrate` uses it for its connection.
using detail::polling_busy_wait;

}  // namespace dbsafe
