#!/usr/bin/env bash
# The suite's reliability and core tests under AddressSanitizer + UndefinedBehaviorSanitizer,
# and the concurrency tests under ThreadSanitizer. Only the targets those tests need are built
# (2 cores: a full sanitizer build of everything would double CI time); the tests of targets
# not built here are registered only as *_NOT_BUILT placeholders, which are excluded.
set -euo pipefail
cd "$(dirname "$0")/.."
asan_targets=(dbsafe_cli fs_fault_preload error_test verify_test local_directory_test
              vault_backup_test restore_test fault_injection_test crash_loop_test
              bad_input_test concurrency_test restore_source_test migration_guard_test)
cmake --preset asan >/dev/null
# The page repository's tests, when its backend is built (zstd and OpenSSL present): its
# follower and reconstruction run threads over shared files.
pages=()
if cmake --build build/asan --target help | grep page_repository_test > /dev/null; then
    pages=(page_repository_test page_direct_read_test page_format_test page_gc_test page_fault_test
           page_repo_tool)
fi
cmake --build build/asan -j2 --target "${asan_targets[@]}" "${pages[@]}"
# Leak checking stays on; the LD_PRELOAD fault shim sets its own ASAN_OPTIONS in the child.
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_stack_use_after_return=1} \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build/asan -j2 --output-on-failure -L unit -E '_NOT_BUILT$'
cmake --preset tsan >/dev/null
tsan_pages=()
if cmake --build build/tsan --target help | grep page_repository_test > /dev/null; then
    tsan_pages=(page_repository_test page_direct_read_test)
fi
cmake --build build/tsan -j2 --target concurrency_test dbsafe_cli "${tsan_pages[@]}"
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
    ctest --test-dir build/tsan -j2 --output-on-failure \
    -R '^(Concurrency|JournalModes/SeveralWriters|PageFollower|PageRepository\.(RoundTrip|ALargeSnapshot)|(JournalModes/)?DirectRead)'
