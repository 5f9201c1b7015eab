#!/bin/bash
# Benchmark: wall time of `msttop --dump` against `eu-stack -p` (elfutils,
# native stacks only) and `gdb -batch -ex 'thread apply all bt'` on the same
# target, median of N runs each, run alternately in one invocation so both
# see the same machine. Prints medians and ratios. Not a pass/fail test.
#
# Usage: bench_dump.sh BUILD_DIR [RUNS]
set -u
build=${1:?build dir}
runs=${2:-11}
src=$(cd "$(dirname "$0")/../.." && pwd)
root=${PYENV_ROOT:-$HOME/.pyenv}
py=$(ls -d "$root"/versions/3.11* 2>/dev/null | sort -V | tail -1)
py=${py:+$py/bin/python3}
[ -x "${py:-}" ] || py=$(command -v python3)

ns() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

bench_target() {
	local name=$1 pid=$2
	local m=() e=() es=() g=()
	for i in $(seq "$runs"); do
		t0=$(ns); "$build/msttop" --dump -p "$pid" >/dev/null 2>&1; t1=$(ns)
		m+=($(( (t1 - t0) / 1000 )))
		t0=$(ns); eu-stack -p "$pid" >/dev/null 2>&1; t1=$(ns)
		e+=($(( (t1 - t0) / 1000 )))
		t0=$(ns); eu-stack -i -s -p "$pid" >/dev/null 2>&1; t1=$(ns)
		es+=($(( (t1 - t0) / 1000 )))
		if command -v gdb >/dev/null && [ "$i" -le 3 ]; then
			t0=$(ns); gdb -p "$pid" -batch -nx -ex 'thread apply all bt' >/dev/null 2>&1; t1=$(ns)
			g+=($(( (t1 - t0) / 1000 )))
		fi
	done
	local mm em esm gm
	mm=$(printf '%s\n' "${m[@]}" | median)
	em=$(printf '%s\n' "${e[@]}" | median)
	esm=$(printf '%s\n' "${es[@]}" | median)
	printf '%-36s msttop --dump %7.1f ms | eu-stack %7.1f ms, ratio %.2f | eu-stack -i -s (inlines, lines) %7.1f ms, ratio %.2f\n' \
		"$name" "$(echo "$mm/1000" | bc -l)" "$(echo "$em/1000" | bc -l)" "$(echo "$mm/$em" | bc -l)" \
		"$(echo "$esm/1000" | bc -l)" "$(echo "$mm/$esm" | bc -l)"
	if [ ${#g[@]} -gt 0 ]; then
		gm=$(printf '%s\n' "${g[@]}" | median)
		printf '%-36s gdb thread apply all bt %8.1f ms (median of %d)   ratio msttop/gdb %.3f\n' \
			"" "$(echo "$gm/1000" | bc -l)" "${#g[@]}" "$(echo "$mm/$gm" | bc -l)"
	fi
}

start() {
	"$@" > /tmp/msttop-bench.$$ 2>&1 &
	local pid=$!
	for _ in $(seq 100); do grep -q '^ready' /tmp/msttop-bench.$$ 2>/dev/null && break; sleep 0.1; done
	echo "$pid"
}

echo "median of $runs runs each (gdb: 3), $(nproc) cores"
for n in 4 16; do
	pid=$(start "$build/tests/native_chain" threads "$n" spin)
	bench_target "C target, $n CPU-bound threads" "$pid"
	kill -9 "$pid"; wait "$pid" 2>/dev/null
	pid=$(start "$py" "$src/tests/targets/py_spin.py" "$n")
	bench_target "Python $("$py" -c 'import sys;print(sys.version.split()[0])'), $n CPU-bound threads" "$pid"
	kill -9 "$pid"; wait "$pid" 2>/dev/null
done
rm -f /tmp/msttop-bench.$$
