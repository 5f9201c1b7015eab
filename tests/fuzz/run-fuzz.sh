#!/bin/bash
# Builds the fuzz harness with clang's libFuzzer + ASan + UBSan, records a
# seed corpus from live interpreters (one capture per installed version,
# running tests/targets/py_names.py), and fuzzes for SECONDS (default 60).
# Any crash, sanitizer report, timeout or out-of-memory fails. Prints
# "fuzz: N runs, 0 crashes" in Check's spirit.
#
# Usage: run-fuzz.sh BUILD_DIR [SECONDS]
set -u
build=$(realpath "${1:?build dir}")
secs=${2:-60}
src=$(cd "$(dirname "$0")/../.." && pwd)
out=$build/fuzz
mkdir -p "$out/corpus" "$out/artifacts"
command -v clang >/dev/null || { echo "fuzz: clang is missing"; exit 1; }
common=(-std=gnu11 -D_GNU_SOURCE -g -O1 -I"$src/include" -I"$src/src" -I"$src/tests/fuzz"
	"$src"/src/err.c "$src"/src/strset.c "$src"/src/reader.c "$src"/src/prefetch.c "$src"/src/maps.c "$src"/src/elfsym.c
	"$src"/src/proc.c "$src"/src/arch_x86_64.c "$src"/src/py/*.c "$src"/src/perf/sample.c -lelf)
clang -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	"${common[@]}" "$src/tests/fuzz/fuzz_py.c" -o "$out/fuzz_py" || exit 1
clang "${common[@]}" "$src/tests/fuzz/capture.c" -o "$out/capture" || exit 1

# Seed corpus: real memory of every interpreter the tests use.
root=${PYENV_ROOT:-$HOME/.pyenv}
# shellcheck disable=SC2086
for py in "$root"/versions/3.*/bin/python3 /usr/bin/python3.1[0-9] ${MSTTOP_DEBIAN_PYTHONS:+${MSTTOP_DEBIAN_PYTHONS//:/ }}; do
	[ -x "$py" ] || continue
	log=$(mktemp)
	MSTTOP_TARGET_TIMEOUT=60 "$py" "$src/tests/targets/py_names.py" > "$log" 2>&1 &
	pid=$!
	for _ in $(seq 100); do grep -q '^ready' "$log" && break; sleep 0.1; done
	sleep 0.3
	"$out/capture" "$pid" "$out/corpus/$(basename "$(dirname "$(dirname "$py")")")-$(basename "$py")" 2>/dev/null
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	# And a frame holding one value of each type --locals shows.
	MSTTOP_TARGET_TIMEOUT=60 "$py" "$src/tests/targets/py_locals.py" > "$log" 2>&1 &
	pid=$!
	for _ in $(seq 100); do grep -q '^ready' "$log" && break; sleep 0.1; done
	sleep 0.3
	"$out/capture" "$pid" "$out/corpus/locals-$(basename "$(dirname "$(dirname "$py")")")-$(basename "$py")" 2>/dev/null
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rm -f "$log"
done
# Inputs that once crashed the decoder stay in the corpus for good.
cp "$src"/tests/fuzz/regress/* "$out/corpus/" 2>/dev/null
echo "fuzz: $(ls "$out/corpus" | wc -l) seeds, fuzzing for ${secs}s"
"$out/fuzz_py" "$out/corpus" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	-max_len=1048576 -artifact_prefix="$out/artifacts/" -print_final_stats=1 \
	> "$out/fuzz.log" 2>&1
rc=$?
runs=$(grep -E '^stat::number_of_executed_units' "$out/fuzz.log" | awk '{print $2}')
tail -3 "$out/fuzz.log" | grep -v '^stat' 
if [ $rc -ne 0 ]; then
	grep -E 'ERROR|SUMMARY|deadly|timeout|crash' "$out/fuzz.log" | head -20
	echo "fuzz: ${runs:-0} runs, 1 crashes"
	exit 1
fi
echo "fuzz: ${runs:-0} runs, 0 crashes"
