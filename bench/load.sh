#!/usr/bin/env bash
# bench/load.sh: a backup while a writer process commits small transactions continuously
# (bench/load_writer.cpp: one insert + one update per transaction, synchronous=NORMAL), in WAL
# and in rollback-journal mode. Prints a Markdown table: backup time idle vs under load, writer
# commits/s alone vs during the backup, the writer's longest transaction (its longest wait for
# a lock) alone vs during the backup, and whether `sqlite3 .backup` finishes under the same
# load within CAP seconds.
#
#   BUILD=build/release  DB=<database to copy; default: generate SIZE MiB>  SIZE=128  CAP=60
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build/release}
CAP=${CAP:-60}
SIZE=${SIZE:-128}
DBSAFE=$BUILD/tools/dbsafe
WRITER=$BUILD/bench/dbsafe-load-writer
OWN_WORK=0
if [[ -z ${WORK:-} ]]; then
    WORK=$(mktemp -d /tmp/dbsafe-load.XXXXXX)
    OWN_WORK=1
fi
L=$WORK/load
rm -rf "$L"
mkdir -p "$L"
cleanup() {
    [[ -n ${WPID:-} ]] && kill "$WPID" 2> /dev/null || true
    rm -rf "$L"
    [[ $OWN_WORK == 1 ]] && rm -rf "$WORK"
    return 0
}
trap cleanup EXIT
if [[ -z ${DB:-} ]]; then
    DB=$WORK/load-sample.db
    [[ -f $DB ]] || "$BUILD/tools/dbsafe-sample" "$DB" --size-mib "$SIZE" > /dev/null
fi

now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc -l | cut -c1-6; }

echo "| journal mode | backup idle (s) | backup under load (s) | ratio | writer alone (commits/s) | writer during backup (commits/s) | ratio | writer's longest wait alone / during backup (ms) | \`sqlite3 .backup\` under load |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---|"
for mode in wal delete; do
    live=$L/live-$mode.db
    cp "$DB" "$live"
    sqlite3 "$live" "PRAGMA journal_mode=$mode" > /dev/null
    cat "$live" > /dev/null

    # Writer alone, 5 s.
    read -r _ _ solo solo_longest < <("$WRITER" "$live" --seconds 5)

    # Backup idle.
    rm -rf "$L/vault"
    t0=$(now); "$DBSAFE" backup "$live" --dir "$L/vault" --verify quick > /dev/null; t1=$(now)
    idle=$(elapsed "$t0" "$t1")

    # Backup under load: the writer starts first and stops when the backup is done.
    rm -rf "$L/vault"
    "$WRITER" "$live" > "$L/writer.out" &
    WPID=$!
    sleep 1
    t0=$(now)
    if timeout "$CAP" "$DBSAFE" backup "$live" --dir "$L/vault" --verify quick > "$L/backup.out" 2>&1; then
        t1=$(now); loaded=$(elapsed "$t0" "$t1")
    else
        loaded="failed: $(tail -1 "$L/backup.out")"
    fi
    kill -TERM "$WPID"; wait "$WPID" || true; WPID=
    read -r _ _ during during_longest < "$L/writer.out"

    # The shell's .backup under the same load, capped.
    "$WRITER" "$live" > /dev/null &
    WPID=$!
    sleep 1
    t0=$(now)
    rm -f "$L/shell.db"
    if timeout "$CAP" sqlite3 "$live" ".backup $L/shell.db" > /dev/null 2>&1; then
        t1=$(now); shell="finished in $(elapsed "$t0" "$t1") s"
    else
        shell="did not finish in $CAP s"
    fi
    kill -TERM "$WPID"; wait "$WPID" || true; WPID=

    printf '| %s | %s | %s | %s | %s | %s | %s | %s / %s | %s |\n' "$mode" "$idle" "$loaded" \
        "$(echo "$loaded / $idle" | bc -l 2> /dev/null | cut -c1-4)" "$solo" "$during" \
        "$(echo "$during / $solo" | bc -l | cut -c1-4)" "$solo_longest" "$during_longest" "$shell"
    rm -f "$live" "$live"-wal "$live"-shm "$live"-journal
done
echo
echo "Database: $(( $(stat -c %s "$DB") / 1048576 )) MiB; \`dbsafe backup --verify quick\` (1024 pages per step; in WAL mode one read transaction for the whole copy, in rollback mode the file copied under one read lock that gives way as soon as a writer holds RESERVED, and if it gave way, the file copied with no lock, then that copy compared page by page with the file and its differing pages rewritten under one read lock, which gives way 3 times before it holds on; every read lock asked for every 250 us); writer: \`bench/load_writer.cpp\`; cap $CAP s."
