#!/usr/bin/env bash
# bench/compare.sh [SIZE_MIB] [REPETITIONS]
#
# Times dbsafe against the shell tools on ONE database file, in one run, page-cached, and writes
# docs/benchmarks.md. Every command runs REPETITIONS times (default 3); the table shows the
# median and the ratio to `cp` + sync, the floor for a durable copy. Also records peak RSS of
# dbsafe (/usr/bin/time), system-call counts (strace -c) and, unless LOAD=0, bench/load.sh.
#
#   BUILD=build/release  build tree holding tools/dbsafe and tools/dbsafe-sample
#   WORK=/tmp/...         scratch directory (default: a new one under /tmp, removed at exit)
#   OUT=docs/benchmarks.md
#
# Build first:  cmake --preset release && cmake --build --preset release -j2
set -euo pipefail

SIZE=${1:-512}
REPS=${2:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build/release}
OUT=${OUT:-$ROOT/docs/benchmarks.md}
DBSAFE=$BUILD/tools/dbsafe
SAMPLE=$BUILD/tools/dbsafe-sample
for tool in "$DBSAFE" "$SAMPLE" sqlite3 zstd /usr/bin/time; do
    command -v "$tool" > /dev/null || { echo "compare.sh: $tool not found (build first?)" >&2; exit 2; }
done
if [[ -z ${WORK:-} ]]; then
    WORK=$(mktemp -d /tmp/dbsafe-compare.XXXXXX)
    trap 'rm -rf "$WORK"' EXIT
fi
DB=$WORK/sample.db
LOG=$WORK/times.txt
: > "$LOG"

echo "generating a ${SIZE} MiB sample database in $WORK ..." >&2
[[ -f $DB ]] || "$SAMPLE" "$DB" --size-mib "$SIZE" > /dev/null
DB_BYTES=$(stat -c %s "$DB")
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

now() { date +%s.%N; }
clean() { rm -rf "$WORK"/out.* "$WORK"/vault "$WORK"/zvault "$WORK"/raw.zst "$WORK"/safety.db; }

# run NAME COMMAND...: REPS timed runs (clean + sync + page-cache warm-up before each, untimed).
run() {
    local name=$1; shift
    local i
    for ((i = 0; i < REPS; i++)); do
        clean
        [[ -n ${PREPARE:-} ]] && eval "$PREPARE"
        sync
        cat "$DB" > /dev/null
        local t0 t1
        t0=$(now)
        "$@" > /dev/null
        t1=$(now)
        echo "$name $(echo "$t1 - $t0" | bc -l)" >> "$LOG"
        echo "  $name: $(echo "$t1 - $t0" | bc -l | cut -c1-6) s" >&2
    done
}

median() { grep "^$1 " "$LOG" | awk '{print $2}' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# --- copies ---------------------------------------------------------------------------------
run cp            cp "$DB" "$WORK/out.db"
run cp_sync       sh -c 'cp "$1" "$2" && sync "$2"' _ "$DB" "$WORK/out.db"
run shell_backup  sqlite3 "$DB" ".backup $WORK/out.db"
run vacuum_into   sqlite3 "$DB" "VACUUM INTO '$WORK/out.db'"
run shell_backup_zstd sh -c 'sqlite3 "$1" ".backup $2" && zstd -q -3 -T2 "$2" -o "$2.zst"' _ "$DB" "$WORK/out.db"
run zstd_raw      zstd -q -3 -T2 "$DB" -o "$WORK/raw.zst"
run dbsafe_backup_none  "$DBSAFE" backup "$DB" --dir "$WORK/vault" --verify none
run dbsafe_backup_quick "$DBSAFE" backup "$DB" --dir "$WORK/vault" --verify quick
run dbsafe_backup_full  "$DBSAFE" backup "$DB" --dir "$WORK/vault"
run dbsafe_backup_zstd  "$DBSAFE" backup "$DB" --dir "$WORK/zvault" --verify quick --compress zstd:3 --threads 2
run dbsafe_backup_zstd_none "$DBSAFE" backup "$DB" --dir "$WORK/zvault" --verify none --compress zstd:3 --threads 2

# --- rollback-journal database (issue 15, backup) -------------------------------------------
# The same sample in journal_mode=DELETE, SQLite's default: its own floor and the default-step
# backup, which copies the file under one read lock when no writer holds RESERVED.
RDB=$WORK/sample-rollback.db
cp "$DB" "$RDB"
sqlite3 "$RDB" "PRAGMA journal_mode=DELETE" > /dev/null
PREPARE='cat "$RDB" > /dev/null'
run cp_sync_rollback sh -c 'cp "$1" "$2" && sync "$2"' _ "$RDB" "$WORK/out.db"
run dbsafe_backup_none_rollback "$DBSAFE" backup "$RDB" --dir "$WORK/vault" --verify none
unset PREPARE
# --- end of the rollback-journal block ---------------------------------------------------------

# Compression ratios (one more run each, untimed).
clean
zstd -q -3 -T2 "$DB" -o "$WORK/raw.zst"
RAW_RATIO=$(echo "$DB_BYTES / $(stat -c %s "$WORK/raw.zst")" | bc -l | cut -c1-5)
"$DBSAFE" backup "$DB" --dir "$WORK/zvault" --verify none --compress zstd:3 --threads 2 > /dev/null
DBSAFE_RATIO=$(echo "$DB_BYTES / $(stat -c %s "$WORK"/zvault/*.db.zst)" | bc -l | cut -c1-5)

# --- verification of one backup ---------------------------------------------------------------
clean
"$DBSAFE" backup "$DB" --dir "$WORK/vault" --verify none > /dev/null
BACKUP=$(ls "$WORK"/vault/*.db)
ID=$(basename "$BACKUP" .db)
clean() { rm -rf "$WORK"/out.* "$WORK"/raw.zst "$WORK"/safety.db "$WORK"/live.db*; }
run dbsafe_verify_quick "$DBSAFE" verify --dir "$WORK/vault" "$ID" --check quick
run dbsafe_verify_full  "$DBSAFE" verify --dir "$WORK/vault" "$ID"
run integrity_check     sqlite3 "$BACKUP" "PRAGMA integrity_check"
run quick_check         sqlite3 "$BACKUP" "PRAGMA quick_check"

# --- restore: dbsafe vs the shell recipe -----------------------------------------------------
# Shell recipe: shell .backup of the live database as a safety copy, integrity_check of the
# backup, copy it back over the live database (and sync it, to be as durable as dbsafe).
PREPARE='cp "$DB" "$WORK/live.db"; rm -f "$WORK"/vault/*safety* 2>/dev/null; for f in "$WORK"/vault/*.json; do grep -q "\"kind\": *\"safety\"" "$f" && rm -f "$f" "${f%.json}.db"; done; true'
run shell_restore sh -c 'sqlite3 "$1" ".backup $3" && [ "$(sqlite3 "$2" "PRAGMA integrity_check")" = ok ] && cp "$2" "$1" && sync "$1"' _ "$WORK/live.db" "$BACKUP" "$WORK/safety.db"
run dbsafe_restore_quick "$DBSAFE" restore "$WORK/live.db" --dir "$WORK/vault" --id "$ID" --allow-other-database --verify quick
run dbsafe_restore_full  "$DBSAFE" restore "$WORK/live.db" --dir "$WORK/vault" --id "$ID" --allow-other-database
unset PREPARE

# --- [issue 15: restore and verify, both journal modes] ---------------------------------------
# A backup taken with the default checks records them in its manifest (`verified`), so verify
# and restore re-hash it instead of re-running integrity_check (--full-check forces it). Each
# live database is the backups' own source (restore refuses another database's backup), reset
# by `cp` over it (same inode) before every run; safety backups are dropped between runs.
RJ_SOURCE=$WORK/rj.db
cp "$DB" "$RJ_SOURCE" && sqlite3 "$RJ_SOURCE" 'PRAGMA journal_mode=DELETE' > /dev/null
for mode in wal rj; do
    src=$DB; [[ $mode == rj ]] && src=$RJ_SOURCE
    rm -rf "$WORK/t_$mode" "$WORK/live_$mode.db"*
    cp "$src" "$WORK/live_$mode.db"
    "$DBSAFE" backup "$WORK/live_$mode.db" --dir "$WORK/t_$mode" > /dev/null
done
T_WAL_ID=$(basename "$(ls "$WORK"/t_wal/*.db)" .db)
T_RJ_ID=$(basename "$(ls "$WORK"/t_rj/*.db)" .db)
run dbsafe_verify_trusted    "$DBSAFE" verify --dir "$WORK/t_wal" "$T_WAL_ID"
run dbsafe_verify_full_check "$DBSAFE" verify --dir "$WORK/t_wal" "$T_WAL_ID" --full-check
run integrity_check_trusted  sqlite3 "$WORK/t_wal/$T_WAL_ID.db" "PRAGMA integrity_check"
reset_live() {  # wal|rj
    local src=$DB; [[ $1 == rj ]] && src=$RJ_SOURCE
    rm -f "$WORK/live_$1.db-wal" "$WORK/live_$1.db-shm" "$WORK"/t_"$1"/*-safety-* "$WORK/safety.db"
    cp "$src" "$WORK/live_$1.db"
}
# At least 5 runs each: on this machine's disk the safety backup's fsync stalls for seconds in
# some restores (bench/notes.md); a median of 3 then too often reads a stall.
REPS_SAVED=$REPS
REPS=$((REPS < 5 ? 5 : REPS))
# The recipe's safety copies are kept until the end of this block: deleting one (512 MiB,
# fsynced by SQLite's commit) before the next run made that run pay for it on this disk (a
# dbsafe restore took 2.1-4.4 s after the deletion, 2.0-2.1 s with the copy kept;
# bench/notes.md). The two also alternate run by run, in both orders.
RECIPE_COPIES=$WORK/recipe-copies
mkdir -p "$RECIPE_COPIES"
restore_pair() {  # mode id first(recipe|dbsafe)
    local mode=$1 id=$2
    local recipe=(run shell_restore_$mode sh -c 'sqlite3 "$1" ".backup $(mktemp -p "$3")" && [ "$(sqlite3 "$2" "PRAGMA integrity_check")" = ok ] && cp "$2" "$1" && sync "$1"' _ "$WORK/live_$mode.db" "$WORK/t_$mode/$id.db" "$RECIPE_COPIES")
    local ours=(run dbsafe_restore_$mode "$DBSAFE" restore "$WORK/live_$mode.db" --dir "$WORK/t_$mode" --id "$id")
    if [[ $3 == recipe ]]; then "${recipe[@]}"; "${ours[@]}"; else "${ours[@]}"; "${recipe[@]}"; fi
}
for mode in wal rj; do
    id=$T_WAL_ID; [[ $mode == rj ]] && id=$T_RJ_ID
    PREPARE="reset_live $mode"
    REPS_PAIRS=$REPS
    REPS=1
    for ((pair = 0; pair < REPS_PAIRS; pair++)); do
        if ((pair % 2 == 0)); then restore_pair $mode "$id" recipe; else restore_pair $mode "$id" dbsafe; fi
    done
    REPS=$REPS_PAIRS
    # One more run, its phases (restore --json): verify, safety backup, copy in, check.
    reset_live $mode
    printf -v "PHASES_${mode^^}" '%s' "$("$DBSAFE" restore "$WORK/live_$mode.db" --dir "$WORK/t_$mode" --id "$id" --json | sed -n 's/.*"image_proven":\([a-z]*\).*"seconds":{\(.*\)}}$/image_proven \1; \2/p')"
done
rm -rf "$RECIPE_COPIES"
REPS=$REPS_SAVED
unset PREPARE
# --- [end issue 15: restore and verify] ---------------------------------------------------------

# --- peak memory and system calls --------------------------------------------------------------
rss() { /usr/bin/time -f %M "$@" 2>&1 > /dev/null | tail -1; }
# One table row: max RSS of backup, compressed backup, verify and restore, in KiB.
rss_row() {
    rm -rf "$WORK/rss"
    local backup zstd verify restore
    backup=$(rss "$DBSAFE" backup "$DB" --dir "$WORK/rss" --verify quick)
    zstd=$(rss "$DBSAFE" backup "$DB" --dir "$WORK/rss" --verify quick --compress zstd:3 --threads 2)
    verify=$(rss "$DBSAFE" verify --dir "$WORK/vault" "$ID")
    cp "$DB" "$WORK/live.db"
    restore=$(rss "$DBSAFE" restore "$WORK/live.db" --dir "$WORK/vault" --id "$ID" --allow-other-database --verify quick)
    echo "$backup | $zstd | $verify | $restore"
}
RSS_MAPPED=$(rss_row)
# The same without the memory-mapped checks: max RSS counts the file pages a map touched,
# page cache the kernel may drop at any time, so this is the memory dbsafe itself holds.
RSS_OWN=$(DBSAFE_NO_MMAP=1 rss_row)
rm -rf "$WORK/rss"

STRACE_TABLE="(strace not installed)"
if command -v strace > /dev/null; then
    syscalls() {  # name command...: "pread64 pwrite64 fsync" counts
        strace -f -c -o "$WORK/strace.txt" "$@" > /dev/null 2>&1 || true
        awk '$NF ~ /^(pread64|pwrite64|fsync|fdatasync|read|write)$/ {c[$NF]=$4} END {
            printf "%s | %s | %s | %s | %s", c["pread64"]+0, c["pwrite64"]+0, c["read"]+0,
                   c["write"]+0, c["fsync"]+c["fdatasync"]+0}' "$WORK/strace.txt"
    }
    rm -rf "$WORK/st" "$WORK/out.db"
    # Restore's copy into the live database goes through dbsafe-live-write (64 KiB writes).
    reset_live wal && sync
    ST_RESTORE_WAL=$(syscalls "$DBSAFE" restore "$WORK/live_wal.db" --dir "$WORK/t_wal" --id "$T_WAL_ID")
    reset_live rj && sync
    ST_RESTORE_RJ=$(syscalls "$DBSAFE" restore "$WORK/live_rj.db" --dir "$WORK/t_rj" --id "$T_RJ_ID")
    STRACE_TABLE="| command | pread64 | pwrite64 | read | write | fsync |
|---|---:|---:|---:|---:|---:|
| \`sqlite3 .backup\` | $(syscalls sqlite3 "$DB" ".backup $WORK/out.db") |
| \`dbsafe backup --verify none\` | $(syscalls "$DBSAFE" backup "$DB" --dir "$WORK/st" --verify none) |
| \`dbsafe restore\`, WAL database | $ST_RESTORE_WAL |
| \`dbsafe restore\`, rollback-journal database | $ST_RESTORE_RJ |"
    rm -rf "$WORK/st" "$WORK/out.db"
fi

LOAD_SECTION="(skipped: LOAD=0)"
if [[ ${LOAD:-1} != 0 ]]; then
    LOAD_SECTION=$(BUILD=$BUILD WORK=$WORK DB=$DB "$ROOT/bench/load.sh")
fi

# --- the report ----------------------------------------------------------------------------------
FLOOR=$(median cp_sync)
row() {  # key label [note]
    local m
    m=$(median "$1")
    printf '| %s | %.2f | %.2f× | %s |\n' "$2" "$m" "$(echo "$m / $FLOOR" | bc -l)" "${3:-}"
}
ratio() { printf "%.3g" "$(echo "$(median "$1") / $(median "$2")" | bc -l)"; }

# What follows this marker in OUT was written by other scripts (bench/pages.sh) or by hand: a
# new run keeps it, after its own sections.
KEEP_MARKER='<!-- Below: sections written by other scripts (bench/pages.sh) or by hand; bench/compare.sh keeps them. -->'
KEPT=""
[[ -f $OUT ]] && KEPT=$(awk -v m="$KEEP_MARKER" 'index($0, m) == 1 { on = 1 } on' "$OUT")
mkdir -p "$(dirname "$OUT")"
{
cat <<EOF
# Benchmarks

Generated by \`bench/compare.sh $SIZE $REPS\` on $(date -u +%Y-%m-%d). All numbers come from
this one run on one database file; median of $REPS runs, page-cached (the file is read once
before every run), outputs on the same file system as the database.

## Machine

- CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores available
- Memory: $(free -g | awk '/^Mem:/ {print $2}') GiB; kernel $(uname -r); file system: $(df -T "$WORK" | awk 'NR==2 {print $2}')
- SQLite $(sqlite3 --version | cut -d' ' -f1) (shell and library), $(zstd --version | head -1 | sed 's/\*\*\* //; s/ \*\*\*//; s/, by.*//')
- Load average (1, 5, 15 min) at the start: $LOAD_BEFORE; at the end: $(cut -d' ' -f1-3 /proc/loadavg)
  (other work on the machine shares the cores and the disk: compare ratios, not absolute times)
- Database: \`dbsafe-sample --size-mib $SIZE\` (WAL mode), $(echo "$DB_BYTES / 1048576" | bc) MiB

## Backup, verify, restore

| operation | median (s) | vs \`cp\` + sync | note |
|---|---:|---:|---|
$(row cp '`cp`' 'not durable')
$(row cp_sync '`cp` + `sync FILE`' 'the floor for a durable copy')
$(row shell_backup '`sqlite3 .backup`')
$(row vacuum_into '`sqlite3 "VACUUM INTO"`' 'no fsync')
$(row shell_backup_zstd '`.backup && zstd -3 -T2`')
$(row zstd_raw '`zstd -3 -T2` of the raw file' "compression floor, ratio $RAW_RATIO")
$(row dbsafe_backup_none '`dbsafe backup --verify none`' 'durable + xxh3-128 checksum')
$(row dbsafe_backup_quick '`dbsafe backup --verify quick`' '+ quick_check')
$(row dbsafe_backup_full '`dbsafe backup` (default: full)' '+ integrity_check')
$(row dbsafe_backup_zstd '`dbsafe backup --verify quick --compress zstd:3 --threads 2`' "ratio $DBSAFE_RATIO")
$(row dbsafe_backup_zstd_none '`dbsafe backup --verify none --compress zstd:3 --threads 2`' 'copy + checksum + compression only')
$(row cp_sync_rollback '`cp` + `sync FILE`, rollback-journal copy' 'its floor')
$(row dbsafe_backup_none_rollback '`dbsafe backup --verify none`, rollback-journal copy' "$(ratio dbsafe_backup_none_rollback cp_sync_rollback)× its own floor")
$(row quick_check '`PRAGMA quick_check`')
$(row integrity_check '`PRAGMA integrity_check`')
$(row dbsafe_verify_quick '`dbsafe verify --check quick`' 'checksum + quick_check')
$(row dbsafe_verify_full '`dbsafe verify`' 'checksum + integrity_check')
$(row shell_restore 'shell recipe: `.backup` safety copy + integrity_check + `cp` back + sync')
$(row dbsafe_restore_quick '`dbsafe restore --verify quick`' 'verify, safety backup, copy in, check')
$(row dbsafe_restore_full '`dbsafe restore`' 'same with integrity_check of the backup')

### Against the goals of issue 7

| goal | measured |
|---|---|
| durable, checksummed backup ≤ 1.2× \`cp\` + sync | $(ratio dbsafe_backup_none cp_sync)× (\`--verify none\`); $(ratio dbsafe_backup_quick cp_sync)× with quick_check |
| the same for a rollback-journal database (issue 15) | $(ratio dbsafe_backup_none_rollback cp_sync_rollback)× (\`--verify none\`, default steps); writers during it: see "Under load", rollback row |
| ≈ 2× faster than \`sqlite3 .backup\` | \`.backup\` / dbsafe = $(ratio shell_backup dbsafe_backup_none) (\`--verify none\`) |
| compressed backup ≤ 1.15× \`zstd -3 -T2\`, equal or better ratio | $(ratio dbsafe_backup_zstd_none zstd_raw)× (\`--verify none\`), $(ratio dbsafe_backup_zstd zstd_raw)× (with quick_check), ratio $DBSAFE_RATIO vs $RAW_RATIO |
| verification (quick_check + checksum) ≤ 0.3× integrity_check | $(ratio dbsafe_verify_quick integrity_check)× |
| restore with verification and safety backup ≥ 2× faster than the shell recipe | shell / dbsafe = $(ratio shell_restore dbsafe_restore_quick) (quick), $(ratio shell_restore dbsafe_restore_full) (full) |

### Restore and verify, both journal modes (issue 15)

Restores: median of $((REPS < 5 ? 5 : REPS)) runs, the recipe's and dbsafe's alternating in both orders, the recipe's safety copies deleted only after the last run (on this machine a run right after such a deletion pays for it; bench/notes.md).

| operation | median (s) | vs \`cp\` + sync | note |
|---|---:|---:|---|
$(row integrity_check_trusted '`PRAGMA integrity_check` of a backup verified at creation')
$(row dbsafe_verify_trusted '`dbsafe verify` of it' 'checksum only: relies on the check at creation')
$(row dbsafe_verify_full_check '`dbsafe verify --full-check` of it' 'checksum + integrity_check')
$(row shell_restore_wal 'shell recipe, WAL database')
$(row dbsafe_restore_wal '`dbsafe restore`, WAL database' 'default checks')
$(row shell_restore_rj 'shell recipe, rollback-journal database')
$(row dbsafe_restore_rj '`dbsafe restore`, rollback-journal database' 'default checks')

| goal | measured |
|---|---|
| \`dbsafe verify\` of a backup verified at creation ≤ 0.2× integrity_check | $(ratio dbsafe_verify_trusted integrity_check_trusted)× |
| \`dbsafe restore\` ≤ 1.0× the shell recipe | WAL $(ratio dbsafe_restore_wal shell_restore_wal)×, rollback journal $(ratio dbsafe_restore_rj shell_restore_rj)× |

Phases of one more restore (\`restore --json\`, seconds): WAL: $PHASES_WAL; rollback journal: $PHASES_RJ.

## Peak memory (max RSS, KiB)

| run | \`dbsafe backup --verify quick\` | with \`--compress zstd:3\` | \`dbsafe verify\` | \`dbsafe restore --verify quick\` |
|---|---:|---:|---:|---:|
| default (checks memory-mapped) | $RSS_MAPPED |
| \`DBSAFE_NO_MMAP=1\` | $RSS_OWN |

With memory-mapped checks, max RSS includes the database pages the map touched (at most 2 GiB:
SQLite's mapping limit). Those are shared, clean page-cache pages the kernel reclaims at will,
not memory dbsafe allocates; the \`DBSAFE_NO_MMAP=1\` row is dbsafe's own memory.

## System calls of one copy or restore (\`strace -f -c\`)

$STRACE_TABLE

## Under load (bench/load.sh)

$LOAD_SECTION

$(cat "$ROOT/bench/notes.md" 2> /dev/null || true)

## Reproduce

\`\`\`sh
cmake --preset release && cmake --build --preset release -j2
bench/compare.sh 512 3          # writes docs/benchmarks.md; LOAD=0 skips the load test
# library-level numbers (Google Benchmark), any size:
DBSAFE_BENCH_MIB=512 build/release/bench/snapshot_bench
DBSAFE_BENCH_MIB=512 build/release/bench/verify_bench
\`\`\`

Raw timings of this run:

\`\`\`
$(cat "$LOG")
\`\`\`
EOF
[[ -z $KEPT ]] || printf '\n%s\n' "$KEPT"
} > "$OUT"
echo "wrote $OUT" >&2
