#!/usr/bin/env bash
# bench/pages.sh [SIZE_MIB] [REPETITIONS]
#
# The page repository's goals, measured in one run on one sample database, page-cached
# (docs/benchmarks.md "Page repository"; the analysis is in bench/notes.md). After a first full
# backup, each repetition applies the workload (bench/pages_workload.cpp: rows adding 1 % to
# the file, 0.05 % of the rows updated at random) and backs the change up. Paired and
# alternating: every timed row runs once per repetition, the table shows medians.
#
#   incremental  page backup --verify none          vs  cp + sync of the database file
#   verified     page backup, default verification  vs  plain-files backup, same verification
#   growth       repository bytes added per backup  vs  zstd -3 of exactly the changed pages + 64 KiB
#   30 in a row  repository after 30 changes        vs  one zstd-compressed full backup
#   restic       .backup copy + restic backup       vs  dbsafe (when restic is installed)
#   restore      restore --to from a page snapshot  vs  from a plain backup
#   peak RSS     /usr/bin/time of an incremental page backup, at SIZE_MIB and at RSS_BIG_MIB
#
#   BUILD=build/release   build tree (tools/dbsafe, tools/dbsafe-sample, bench/dbsafe-pages-workload)
#   WORK=/tmp/...         scratch (default: a new one under /tmp, removed at exit)
#   RSS_BIG_MIB=2048      the second size peak RSS is measured at (0: skip)
#   IN_A_ROW=30           backups of the "in a row" row (0: skip)
# Prints a markdown section on stdout. Needs jq, zstd, sqlite3; restic is optional and for this
# bench only (not in scripts/install-deps.sh): `sudo apt-get install restic`.
set -euo pipefail

SIZE=${1:-512}
REPS=${2:-5}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build/release}
RSS_BIG_MIB=${RSS_BIG_MIB:-2048}
IN_A_ROW=${IN_A_ROW:-30}
DBSAFE=$BUILD/tools/dbsafe
SAMPLE=$BUILD/tools/dbsafe-sample
WORKLOAD=$BUILD/bench/dbsafe-pages-workload
for tool in "$DBSAFE" "$SAMPLE" "$WORKLOAD" sqlite3 zstd jq /usr/bin/time; do
    command -v "$tool" > /dev/null || { echo "pages.sh: $tool not found (build first?)" >&2; exit 2; }
done
if [[ -z ${WORK:-} ]]; then
    WORK=$(mktemp -d /tmp/dbsafe-pages.XXXXXX)
    trap 'rm -rf "$WORK"' EXIT
fi
LOG=$WORK/times.txt
: > "$LOG"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
now() { date +%s.%N; }
say() { echo "pages.sh: $*" >&2; }

# timed NAME COMMAND...: one timed run (sync and page-cache warm-up first, untimed).
timed() {
    local name=$1; shift
    sync
    cat "$DB" > /dev/null
    local t0 t1
    t0=$(now)
    "$@" > "$WORK/last.out"
    t1=$(now)
    echo "$name $(echo "$t1 - $t0" | bc -l)" >> "$LOG"
    say "  $name: $(echo "$t1 - $t0" | bc -l | cut -c1-6) s"
}
median() { grep "^$1 " "$LOG" | awk '{print $2}' | sort -g | awk '{a[NR]=$1} END {printf "%.3f\n", (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f\n", a / b}'; }
mib() { awk -v a="$1" 'BEGIN {printf "%.2f\n", a / 1048576}'; }
# change SEED: the workload; its JSON in $WORK/change.json, the changed pages in changed.bin
change() {
    "$WORKLOAD" "$DB" --seed "$1" --changed-out "$WORK/changed.bin" > "$WORK/change.json"
    echo "$(jq -r .pages_changed "$WORK/change.json") $(zstd -3 -c "$WORK/changed.bin" | wc -c)" >> "$WORK/changes.txt"
}
repo_bytes() { du -sb --apparent-size "$1/pages" | cut -f1; }

DB=$WORK/sample.db
say "generating a ${SIZE} MiB sample in $WORK ..."
"$SAMPLE" "$DB" --size-mib "$SIZE" > /dev/null
: > "$WORK/changes.txt"
P=$WORK/pages F=$WORK/files
"$DBSAFE" init --dir "$P" --format pages > /dev/null
"$DBSAFE" backup "$DB" --dir "$P" --verify none > /dev/null  # the first, full page backup
FULLZ=$("$DBSAFE" backup "$DB" --dir "$WORK/z" --compress zstd --verify none --json | jq .compression.compressed_size)
HAVE_RESTIC=0
if command -v restic > /dev/null; then
    HAVE_RESTIC=1
    export RESTIC_PASSWORD=bench RESTIC_REPOSITORY=$WORK/restic
    restic init -q > /dev/null
    sqlite3 "$DB" ".backup $WORK/copy.db" && restic backup -q "$WORK/copy.db" > /dev/null
fi

: > "$WORK/growth.txt"
for ((i = 1; i <= REPS; i++)); do
    say "repetition $i of $REPS"
    # 1. the floor, then the incremental page backup of a fresh change, unverified
    change $((100 + i))
    timed cp_sync sh -c 'cp "$1" "$2" && sync "$2"' _ "$DB" "$WORK/out.cp"
    rm -f "$WORK/out.cp"
    before=$(repo_bytes "$P")
    timed pages_none "$DBSAFE" backup "$DB" --dir "$P" --verify none --json
    after=$(repo_bytes "$P")
    echo "$(jq .pages.bytes_added "$WORK/last.out") $((after - before)) $(tail -1 "$WORK/changes.txt")" >> "$WORK/growth.txt"
    # 2. a new change, then page backup and plain-files backup with the default verification
    change $((200 + i))
    if ((i % 2)); then
        timed pages_full "$DBSAFE" backup "$DB" --dir "$P"
        timed files_full "$DBSAFE" backup "$DB" --dir "$F" --format files
    else
        timed files_full "$DBSAFE" backup "$DB" --dir "$F" --format files
        timed pages_full "$DBSAFE" backup "$DB" --dir "$P"
    fi
    # 3. restic of a .backup copy of a new change, and dbsafe's unverified page backup of it
    if ((HAVE_RESTIC)); then
        change $((300 + i))
        timed restic sh -c 'sqlite3 "$1" ".backup $2" && restic backup -q "$2"' _ "$DB" "$WORK/copy.db"
        timed pages_none_restic "$DBSAFE" backup "$DB" --dir "$P" --verify none
    fi
    # 4. restore --to from the newest page snapshot and the newest plain backup that were both
    #    verified when taken (step 2): a backup verified at creation restores without SQLite's
    #    check (the trust chain), so comparing a verified one with an unverified one would
    #    time quick_check, not the format.
    PID=$("$DBSAFE" list --dir "$P" --json | jq -r '[.[] | select(.pages != null and .verified != null)][0].id')
    FID=$("$DBSAFE" list --dir "$F" --json | jq -r '[.[] | select(.verified != null)][0].id')
    rm -f "$WORK"/restored.*
    if ((i % 2)); then
        timed restore_pages "$DBSAFE" restore --to "$WORK/restored.p" --dir "$P" --id "$PID"
        timed restore_files "$DBSAFE" restore --to "$WORK/restored.f" --dir "$F" --id "$FID"
    else
        timed restore_files "$DBSAFE" restore --to "$WORK/restored.f" --dir "$F" --id "$FID"
        timed restore_pages "$DBSAFE" restore --to "$WORK/restored.p" --dir "$P" --id "$PID"
    fi
    rm -f "$WORK"/restored.*
done

# Peak RSS of an incremental page backup (a change first), here and at RSS_BIG_MIB; unverified,
# so it is the repository's memory, not SQLite's page cache during integrity_check.
peak_rss() {  # DB DIR -> KiB
    "$WORKLOAD" "$1" --seed 999 > /dev/null
    # A command substitution does not inherit `set -e`: a failed backup would report the RSS
    # of its error path, so its status is checked. --format pages: a directory whose first
    # backup chose pages per backup (no `init`) still defaults to plain files; the 2 GiB row
    # measured a plain backup (12 MiB) that way until 2026-12-02.
    if ! /usr/bin/time -f %M -o "$WORK/rss" "$DBSAFE" backup "$1" --dir "$2" --format pages --verify none > /dev/null; then
        say "peak RSS: the backup of $1 failed"
        exit 1
    fi
    tail -1 "$WORK/rss"
}
RSS_SMALL=$(peak_rss "$DB" "$P") || exit 1
RSS_BIG=-
if ((RSS_BIG_MIB > 0)); then
    say "generating a ${RSS_BIG_MIB} MiB sample for peak RSS ..."
    "$SAMPLE" "$WORK/big.db" --size-mib "$RSS_BIG_MIB" > /dev/null
    "$DBSAFE" backup "$WORK/big.db" --dir "$WORK/bigp" --format pages --verify none > /dev/null
    RSS_BIG=$(peak_rss "$WORK/big.db" "$WORK/bigp") || exit 1
    rm -rf "$WORK/big.db" "$WORK/big.db-wal" "$WORK/big.db-shm" "$WORK/bigp"
fi

# IN_A_ROW changes, each backed up unverified, into a new repository after one full backup.
ROW_BYTES=- ROW_FULLZ=-
if ((IN_A_ROW > 0)); then
    say "$IN_A_ROW backups in a row ..."
    R=$WORK/row
    "$DBSAFE" backup "$DB" --dir "$R" --format pages --verify none > /dev/null
    ROW_FIRST=$(repo_bytes "$R")
    for ((k = 1; k <= IN_A_ROW; k++)); do
        "$WORKLOAD" "$DB" --seed $((1000 + k)) > /dev/null
        "$DBSAFE" backup "$DB" --dir "$R" --format pages --verify none > /dev/null
    done
    ROW_BYTES=$(repo_bytes "$R")
    ROW_FULLZ=$("$DBSAFE" backup "$DB" --dir "$WORK/z2" --compress zstd --verify none --json | jq .compression.compressed_size)
fi
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# The table.
CP=$(median cp_sync)
PN=$(median pages_none)
PF=$(median pages_full)
FF=$(median files_full)
RP=$(median restore_pages)
RF=$(median restore_files)
read -r GROWTH_MED GOAL_MED < <(awk '{print $1, 1.1 * ($4 + 65536)}' "$WORK/growth.txt" | sort -g | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}')
CHANGED=$(awk '{print $3}' "$WORK/growth.txt" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
CHANGEDZ=$(awk '{print $4}' "$WORK/growth.txt" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
echo "## Page repository"
echo
echo "$(date -u +%Y-%m-%d), $(nproc) cores, load average $LOAD_BEFORE before / $LOAD_AFTER after;"
echo "${SIZE} MiB sample (WAL), $REPS paired repetitions, medians; build: $BUILD. Each change:"
echo "rows adding 1 % to the file and 0.05 % of the rows updated at random (bench/pages_workload.cpp):"
echo "median $CHANGED pages changed, $(mib "$CHANGEDZ") MiB as zstd -3. \`bench/pages.sh\` made this."
echo
echo "| measure | dbsafe | reference | ratio | goal |"
echo "|---|---|---|---|---|"
echo "| incremental page backup \`--verify none\` vs \`cp\` + sync | ${PN} s | ${CP} s | $(ratio "$PN" "$CP")× | ≤ 0.5× |"
echo "| page backup, default verification vs plain-files backup | ${PF} s | ${FF} s | $(ratio "$PF" "$FF")× | ≤ 1× |"
echo "| repository growth per incremental backup vs 1.1 × (zstd of the changed pages + 64 KiB) | $(mib "$GROWTH_MED") MiB | $(mib "$GOAL_MED") MiB | $(ratio "$GROWTH_MED" "$GOAL_MED")× | ≤ 1× |"
if [[ $ROW_BYTES != - ]]; then
    echo "| repository after $IN_A_ROW backups in a row vs one zstd full backup (of the final file) | $(mib "$ROW_BYTES") MiB | $(mib "$ROW_FULLZ") MiB | $(ratio "$ROW_BYTES" "$ROW_FULLZ")× | ≤ 1.5× |"
    echo "| (the same, vs one zstd full backup of the first file; first page backup alone: $(mib "$ROW_FIRST") MiB) | $(mib "$ROW_BYTES") MiB | $(mib "$FULLZ") MiB | $(ratio "$ROW_BYTES" "$FULLZ")× | |"
fi
if ((HAVE_RESTIC)); then
    RS=$(median restic)
    PR=$(median pages_none_restic)
    echo "| \`.backup\` copy + \`restic backup\` vs page backup \`--verify none\` | ${PR} s | ${RS} s | $(ratio "$RS" "$PR")× faster | ≥ 10× faster |"
else
    echo "| restic | not installed (\`apt-get install restic\`) | | | ≥ 10× faster |"
fi
echo "| restore \`--to\` from a page snapshot vs from a plain backup | ${RP} s | ${RF} s | $(ratio "$RP" "$RF")× | ≤ 1.2× |"
echo "| peak RSS of an incremental page backup \`--verify none\`, ${SIZE} MiB / ${RSS_BIG_MIB} MiB | ${RSS_SMALL} KiB / ${RSS_BIG} KiB | | | < 64 MiB, flat |"
