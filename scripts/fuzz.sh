#!/usr/bin/env bash
# Builds the libFuzzer harnesses in tests/fuzz with clang (ASan + UBSan) and runs each for a
# fixed budget, seeded from tests/fuzz/corpus/. New inputs go to a scratch directory, never
# into the repository. Usage: scripts/fuzz.sh [seconds per harness, default 10] [build dir]
# FUZZ_SEED fixes libFuzzer's seed (CI sets it, so a red run replays); unset, each run explores
# new inputs, which is what a long hunt by hand wants.
set -euo pipefail
cd "$(dirname "$0")/.."
budget=${1:-10}
out=${2:-build/fuzz}
cxx=${CLANGXX:-clang++}
if ! command -v "$cxx" >/dev/null 2>&1; then
    echo "fuzz: $cxx not found, skipping the fuzzers (install clang to run them)" >&2
    exit 0
fi
mkdir -p "$out"
flags=(-std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -Iinclude -Ibackends/zstd/include -Ibackends/pages/include)
status=0
# The page repository's parsers need libzstd and libcrypto (when the backend can be built).
harnesses=(manifest:manifest text:text)
if [[ -f /usr/include/zstd.h && -f /usr/include/openssl/evp.h ]]; then
    harnesses+=(pages:pages repository_config:repository_config)
fi
for harness in "${harnesses[@]}"; do
    name=${harness%%:*}
    corpus=tests/fuzz/corpus/${harness##*:}
    pages_libs=()
    [[ $name == pages || $name == repository_config ]] && pages_libs=(-lzstd -lcrypto)
    "$cxx" "${flags[@]}" "tests/fuzz/fuzz_${name}.cpp" -o "$out/fuzz_${name}" -lsqlite3 "${pages_libs[@]}"
    work="$out/corpus_${name}"
    mkdir -p "$work"
    echo "fuzz: fuzz_${name} for ${budget} s" >&2
    seed=()
    [[ -n ${FUZZ_SEED:-} ]] && seed=(-seed="$FUZZ_SEED")
    if ! "$out/fuzz_${name}" "${seed[@]}" -max_total_time="$budget" -max_len=4096 -print_final_stats=1 \
        -artifact_prefix="$out/crash_${name}_" "$work" "$corpus" 2>"$out/fuzz_${name}.log"; then
        tail -40 "$out/fuzz_${name}.log" >&2
        echo "fuzz: fuzz_${name} FAILED; reproducer in $out/crash_${name}_*" >&2
        status=1
    else
        grep -E "stat::number_of_executed_units|Done" "$out/fuzz_${name}.log" | tail -2 >&2 || true
    fi
done
exit $status
