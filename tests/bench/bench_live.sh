#!/bin/bash
# Benchmark: what the live sampler costs its target. A 4-thread CPU-bound
# CPython target counts loop iterations; we measure its throughput over
# alternating windows without and with msttop attached (in one run, same
# target, same machine), and msttop's own CPU time. Prints ratios. Not a
# pass/fail test.
#
# Usage: bench_live.sh BUILD_DIR [SECONDS_PER_WINDOW] [RATE] [EXTRA msttop OPTIONS...]
set -u
build=${1:?build dir}
secs=${2:-5}
rate=${3:-100}
shift $(( $# < 3 ? $# : 3 ))
extra=("$@")
src=$(cd "$(dirname "$0")/../.." && pwd)
root=${PYENV_ROOT:-$HOME/.pyenv}
py=$(ls -d "$root"/versions/3.11* 2>/dev/null | sort -V | tail -1)
py=${py:+$py/bin/python3}
[ -x "${py:-}" ] || py=$(command -v python3)
threads=4
out=$(mktemp)
"$py" "$src/tests/targets/py_spin.py" "$threads" > "$out" 2>&1 &
target=$!
trap 'kill -9 $target 2>/dev/null; rm -f "$out"' EXIT
for _ in $(seq 100); do grep -q '^ready' "$out" && break; sleep 0.1; done

# Iterations so far, as the target reports them on SIGUSR1.
count() {
	local before
	before=$(grep -c '^iterations' "$out")
	kill -USR1 "$target"
	for _ in $(seq 200); do
		[ "$(grep -c '^iterations' "$out")" -gt "$before" ] && break
		sleep 0.01
	done
	grep '^iterations' "$out" | tail -1 | sed -E 's/.*total=([0-9]+).*/\1/'
}
clk=$(getconf CLK_TCK)
base=0 with=0 cpu_ticks=0
for round in 1 2 3; do
	a=$(count); sleep "$secs"; b=$(count)
	base=$((base + b - a))
	a=$(count)
	"$build/msttop" -p "$target" -b --duration "$secs" --rate "$rate" "${extra[@]}" > /tmp/msttop-bench-report.$$ &
	m=$!
	sleep "$secs"
	wait $m
	b=$(count)
	with=$((with + b - a))
done
# msttop's CPU: one more run, measured by the shell's own accounting.
t=$( { TIMEFORMAT='%U %S'; time "$build/msttop" -p "$target" -b --duration "$secs" --rate "$rate" "${extra[@]}" >/dev/null; } 2>&1 )
user=$(echo "$t" | awk '{print $1}'); sys=$(echo "$t" | awk '{print $2}')
head -3 /tmp/msttop-bench-report.$$
rm -f /tmp/msttop-bench-report.$$
echo "target: $("$py" -c 'import sys;print(sys.version.split()[0])'), $threads CPU-bound threads; msttop --rate $rate ${extra[*]}; 3 x ${secs}s windows each"
printf 'throughput without msttop %d iterations, with %d: ratio %.3f (loss %.1f%%)\n' \
	"$base" "$with" "$(echo "$with/$base" | bc -l)" "$(echo "(1-$with/$base)*100" | bc -l)"
printf 'msttop CPU: user %.2fs + sys %.2fs over %ss = %.1f%% of one core\n' "$user" "$sys" "$secs" \
	"$(echo "($user+$sys)/$secs*100" | bc -l)"
