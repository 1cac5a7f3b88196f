#!/usr/bin/env bash
# Runs the crash loops of tests/crash_loop_test.cpp with many trials: a child backs up,
# restores, runs a guarded migration (library, and `dbsafe migrate` followed by `dbsafe recover`)
# or prunes, or (when built with the page repository) backs up into a page repository or
# collects its garbage, and is killed with SIGKILL at a random moment;
# after each kill the database and the backup directory are checked.
# Usage: scripts/crash_loop.sh [--trials N per operation, default 1000] [--seed S] [build dir]
set -euo pipefail
cd "$(dirname "$0")/.."
trials=1000
seed=
build=build/ci
while (($#)); do
    case $1 in
        --trials) trials=$2; shift 2 ;;
        --seed) seed=$2; shift 2 ;;
        *) build=$1; shift ;;
    esac
done
binary="$build/tests/crash_loop_test"
[ -x "$binary" ] || { echo "crash_loop: build $binary first (cmake --build $build --target crash_loop_test dbsafe_cli)" >&2; exit 2; }
export DBSAFE_CRASH_TRIALS=$trials
[ -z "$seed" ] || export DBSAFE_CRASH_SEED=$seed
start=$SECONDS
"$binary" --gtest_brief=1 | grep -E "^crash-loop:|FAILED|Failure" || true
status=${PIPESTATUS[0]}
echo "crash_loop: $((SECONDS - start)) s, exit status $status ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores)"
exit "$status"
