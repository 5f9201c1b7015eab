#!/bin/bash
# msttop's benchmark suite (issue 5), one command, one report:
#
#   1. dump latency: `msttop --dump` against `eu-stack -p` (and `eu-stack -i -s`,
#      which also resolves inlines and lines) and `gdb -batch -ex 'thread apply
#      all bt'`, on 4- and 16-thread CPU-bound targets, C and Python; medians,
#      tools run alternately on the same target;
#   2. live cost: throughput of a 4-thread CPU-bound Python target over
#      alternating windows without msttop and with `msttop --batch` (the live
#      sampler without the screen) merged at 100 Hz, the same recording a
#      trace and a flame graph (issue 13), --nonblocking at 1000 Hz and
#      merged at 1000 Hz; msttop's CPU during each window; achieved rate,
#      merged thread-stacks per second, per-thread pause p50/p99;
#   3. the same on a 16-thread target merged at 200 Hz (high stack rate);
#   4. msttop's VmRSS every few seconds over a live run at 100 Hz, growth after
#      warm-up;
#   5. a summary table: each target of issue 5 and whether it is met;
#   6. core files (issue 15): `msttop --core` against `eu-stack --core` and
#      gdb's `thread apply all bt` on one gcore of the mixed target; medians;
#   7. the perf back end (issue 16): the 4-thread target's throughput and
#      msttop's CPU at 100 Hz and 1 kHz, ptrace against perf (--sampler), in
#      alternating windows with a baseline and a second baseline (the noise),
#      twice the rounds; the target's tasks polled for a stopped state (t/T)
#      during every window (counted in the perf windows); where bpftool is
#      there, the time the kernel counted in the sampling BPF program
#      (kernel.bpf_stats_enabled, on for the section): what each sample costs
#      the sampled thread itself, a figure the window-to-window noise of the
#      throughput does not blur; where perf is installed, the kernel's clock
#      alone at 1 kHz in the same windows, on every CPU (as the perf back
#      end's) and per thread (`perf record -p`): what sampling costs this
#      target before msttop does anything;
#   7b. the time a sample takes from the thread it lands on (issue 16): one
#      Python thread reading the clock in a loop (tests/bench/gaps.py), its
#      gaps summed, without msttop, with perf and ptrace at 1 kHz and with
#      the kernel's clock alone (`perf record -a`, where perf is installed):
#      the share of the thread's time a sampler takes, and per sample, a
#      figure the CPU's changing speed does not blur;
#   7c. the 4-thread target's throughput against a reference loop sharing its
#      CPU (issue 16; both pinned to CPU 0, the sampler to CPU 1), which
#      measures the CPU's speed in the same seconds: without msttop, perf at
#      100 Hz and 1 kHz, the kernel's clock alone on every CPU and `perf
#      record -p` (a clock per thread; where perf is installed), a second
#      baseline; the loss section 7 measures, with a noise of a percent or two
#      a window instead of 15 %;
#   8. many threads (issue 17): 4 busy threads and 1,000 idle ones (blocked
#      in Event.wait) against 4 busy and none, at 100 Hz: merged (ptrace and
#      perf) and --nonblocking, rate achieved, thread stacks/s, msttop's CPU,
#      the CPU an idle thread costs per tick (the difference of the two
#      targets), msttop's RSS; --dump of the 1,000-thread target.
#
# Every ratio is against a baseline measured in this same invocation, on the
# same target. Not a pass/fail test: the exit code is 0 whether targets are
# met or not (non-zero only for usage errors or if nothing could run).
#
# Usage: tests/bench/run.sh [BUILD_DIR] [options]     (BUILD_DIR default: build)
#   --quick            a smoke run (~1 min): dump runs 5, gdb 1, 2 s windows,
#                      1 round, 20 s RSS run
#   --runs N           --dump/eu-stack runs per target (default 11)
#   --gdb-runs N       gdb runs per target (default 3; it is slow)
#   --window S         seconds per throughput window (default 5)
#   --rounds N         rounds of alternating windows (default 3)
#   --warmup S         seconds msttop samples before a window starts (default 1)
#   --rss-seconds S    length of the RSS run (default 60; 600 for the issue's figure)
#   --rss-every S      VmRSS sampling interval (default 5)
#   --rss-warmup S     growth is counted from this point of the RSS run (default 10)
#   --rss-idle N       idle threads (Event.wait) beside the RSS run's 4 busy ones
#                      (default 0; 1000 for issue 17's figure)
#   --only LIST        sections to run, comma-separated: dump,live,rss,core,perf,
#                      many (default all)
#   --idle N           idle threads of the many-threads target (default 1000)
#   --python PATH      the interpreter of the Python targets (default: newest
#                      $PYENV_ROOT/versions/3.11*, else python3)
#   --old-msttop PATH  section 8 also runs this msttop binary (an older build,
#                      e.g. from a git worktree) in the same windows
#   --austin PATH      section 8 also runs austin (Python only, 10 ms, built from
#                      its public source outside the repository) in them
set -u

usage() {
	local c=${1:-2}
	sed -n '/^# Usage:/,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//' >&$(( c ? 2 : 1 ))
	exit "$c"
}

src=$(cd "$(dirname "$0")/../.." && pwd)
build=$src/build
runs=11 gdb_runs=3 window=5 rounds=3 warmup=1
rss_secs=60 rss_every=5 rss_warm=10 rss_idle=0 only=dump,live,rss,core,perf,many py= nidle=1000
old_msttop= austin=
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then build=$1; shift; fi
while [ $# -gt 0 ]; do
	case $1 in
	--quick) runs=5 gdb_runs=1 window=2 rounds=1 rss_secs=20 rss_every=2 rss_warm=6 ;;
	--runs) runs=${2:?}; shift ;;
	--gdb-runs) gdb_runs=${2:?}; shift ;;
	--window) window=${2:?}; shift ;;
	--rounds) rounds=${2:?}; shift ;;
	--warmup) warmup=${2:?}; shift ;;
	--rss-seconds) rss_secs=${2:?}; shift ;;
	--rss-every) rss_every=${2:?}; shift ;;
	--rss-warmup) rss_warm=${2:?}; shift ;;
	--only) only=${2:?}; shift ;;
	--idle) nidle=${2:?}; shift ;;
	--rss-idle) rss_idle=${2:?}; shift ;;
	--python) py=${2:?}; shift ;;
	--old-msttop) old_msttop=${2:?}; shift ;;
	--austin) austin=${2:?}; shift ;;
	-h | --help) usage 0 ;;
	*) echo "run.sh: unknown option '$1'" >&2; usage 2 ;;
	esac
	shift
done
for v in runs gdb_runs rounds; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --${v//_/-} wants a positive integer" >&2; exit 2; }
done
for v in window warmup rss_secs rss_every rss_warm; do
	[[ ${!v} =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "run.sh: ${v//_/-} wants seconds" >&2; exit 2; }
done
build=$(cd "$build" 2>/dev/null && pwd) || { echo "run.sh: no build directory" >&2; exit 2; }
msttop=$build/msttop
native=$build/tests/native_chain
[ -x "$msttop" ] || { echo "run.sh: $msttop not found: build first (ninja -C $build)" >&2; exit 2; }
want() { [[ ",$only," == *",$1,"* ]]; }

if [ -z "$py" ]; then
	root=${PYENV_ROOT:-$HOME/.pyenv}
	py=$(ls -d "$root"/versions/3.11* 2>/dev/null | sort -V | tail -1)
	py=${py:+$py/bin/python3}
	[ -x "${py:-}" ] || py=$(command -v python3 || true)
fi
pyver=
[ -n "$py" ] && pyver=$("$py" -c 'import sys;print(sys.version.split()[0])' 2>/dev/null)
poll_py=${py:-python3}
have_eu=$(command -v eu-stack || true)
have_gdb=$(command -v gdb || true)
clk=$(getconf CLK_TCK)

tmp=$(mktemp -d /tmp/msttop-bench.XXXXXX)
pids=()   # everything we started, killed on exit
cleanup() {
	local p
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do
		for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	pids=()
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap '' PIPE # a target that died makes a write to its FIFO fail, not kill us
# Targets must outlive the longest section, and die by themselves if we do.
MSTTOP_TARGET_TIMEOUT=$(awk -v a="$rss_secs" -v r="$rounds" -v w="$window" -v u="$warmup" \
	'BEGIN {printf "%d", a + 5 * r * (w + u + 3) + 600}')
export MSTTOP_TARGET_TIMEOUT

# --- helpers ---------------------------------------------------------------
now_us() { local t=${EPOCHREALTIME//[!0-9]/}; echo "${t#0}"; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print ""}'; }
calc() { awk "BEGIN {printf \"$1\", $2}"; }   # calc FORMAT EXPR
forget() { # forget PID: reap it and drop it from the kill list
	local p keep=()
	wait "$1" 2>/dev/null
	for p in "${pids[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	pids=("${keep[@]}")
}
# start_target OUT CMD...: start it, wait for its ready line; its PID in $tpid.
tpid=
start_target() {
	local out=$1; shift
	"$@" >"$out" 2>&1 &
	tpid=$!
	pids+=("$tpid")
	for _ in $(seq 200); do
		grep -q '^ready' "$out" 2>/dev/null && return 0
		kill -0 "$tpid" 2>/dev/null || break
		sleep 0.05
	done
	echo "run.sh: target did not start: $* ($(head -c 300 "$out"))" >&2
	return 1
}
stop_target() { kill -KILL "$1" 2>/dev/null; forget "$1"; }
# start_ctl OUT SCRIPT ARGS...: a target of tests/bench (spin.py, gaps.py),
# its stdin a FIFO held open on fd $ctl (a line there asks for its figures);
# its PID in $tpid. With $ctl_cpu set, pinned to that CPU.
ctl=
start_ctl() {
	local out=$1 script=$2 fifo=$tmp/ctl.$RANDOM pin=()
	shift 2
	mkfifo "$fifo" || return 1
	[ -n "${ctl_cpu:-}" ] && pin=(taskset -c "$ctl_cpu")
	"${pin[@]}" "$py" "$src/tests/bench/$script" "$@" <"$fifo" >"$out" 2>&1 &
	tpid=$!
	pids+=("$tpid")
	exec {ctl}>"$fifo"
	for _ in $(seq 200); do
		grep -q '^ready' "$out" 2>/dev/null && return 0
		kill -0 "$tpid" 2>/dev/null || break
		sleep 0.05
	done
	echo "run.sh: $script did not start: $(head -c 300 "$out")" >&2
	return 1
}
# start_spin N OUT [IDLE]: tests/bench/spin.py with N threads.
start_spin() { start_ctl "$2" spin.py "$1" "${3:-0}"; }
stop_spin() { # it exits at end of input; killed if it has not within a second
	exec {ctl}>&-
	for _ in $(seq 20); do kill -0 "$1" 2>/dev/null || break; sleep 0.05; done
	stop_target "$1"
}
# stop_msttop PID: end a batch run with SIGINT (it prints its report and
# detaches), forcefully if it does not end within 10 s.
stop_msttop() {
	kill -INT "$1" 2>/dev/null
	for _ in $(seq 200); do kill -0 "$1" 2>/dev/null || break; sleep 0.05; done
	kill -KILL "$1" 2>/dev/null
	forget "$1"
}
# utime+stime of a process in clock ticks ("" once it is gone).
cpu_ticks() { local s; s=$(cat "/proc/$1/stat" 2>/dev/null) || return; s=${s##*) }; set -- $s; echo $(( ${12} + ${13} )); }
# Nanoseconds its threads have run, summed ("" once it is gone): the
# scheduler's own count, not ticks.
task_ns() {
	local f a s=0
	for f in /proc/"$1"/task/*/schedstat; do
		read -r a _ <"$f" 2>/dev/null && s=$(( s + a ))
	done
	[ -d "/proc/$1" ] && echo "$s"
}

# --- header ----------------------------------------------------------------
echo "msttop benchmark (issue 5) — $(date '+%Y-%m-%d %H:%M:%S')"
echo "build $build$(cd "$src" && git rev-parse --short HEAD 2>/dev/null | sed 's/^/, commit /')"
echo "machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), kernel $(uname -r)"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)   (others running on the machine make every figure noisy)"
if [ -n "$pyver" ]; then
	note=; [[ $pyver == 3.11* ]] || note="  (not 3.11: the issue's targets are for 3.11)"
	echo "Python targets: $py ($pyver)$note"
else
	echo "no Python interpreter found: Python targets skipped"
fi
[ -n "$have_eu" ] || echo "eu-stack not found (Debian: elfutils): its columns are skipped"
[ -n "$have_gdb" ] || echo "gdb not found: its column is skipped"
echo "settings: dump runs $runs (gdb $gdb_runs); live windows $rounds x ${window}s per config after ${warmup}s warm-up; RSS run ${rss_secs}s every ${rss_every}s"

# Summary rows: "target|measured|met".
summary=()
add_summary() { summary+=("$1|$2|$3"); }
verdict() { # VALUE LIMIT -> yes/no ("n/a" if no value)
	[ -n "$1" ] || { echo n/a; return; }
	awk -v v="$1" -v l="$2" 'BEGIN {print (v <= l) ? "yes" : "no"}'
}

# --- 1. dump latency --------------------------------------------------------
declare -A dump_ms dump_eu
# time_us CMD...: run it, print "microseconds exitcode".
time_us() { local t0 t1 rc; t0=$(now_us); "$@" >/dev/null 2>&1; rc=$?; t1=$(now_us); echo "$((t1 - t0)) $rc"; }
ms() { [ -n "$1" ] && calc '%.1f' "$1/1000" || echo "-"; }
ratio() { [ -n "$1" ] && [ -n "$2" ] && [ "$2" -gt 0 ] && calc '%.2f' "$1/$2" || echo "-"; }
bench_dump() { # NAME KEY PID THREADS
	local name=$1 key=$2 pid=$3 nth=$(( $4 + 1 )) m=() e=() es=() g=() fails=0 r i d note=""
	# Is what is timed a full merged dump? Every thread, Python frames in a Python target.
	d=$("$msttop" --dump -p "$pid" 2>&1)
	[ "$(grep -c '^Thread ' <<<"$d")" -ge "$nth" ] || note+="  (dump shows fewer than $nth threads)"
	[[ $key != py* ]] || grep -q '(Python)' <<<"$d" || note+="  (dump has no Python frames)"
	for i in $(seq "$runs"); do
		r=$(time_us "$msttop" --dump -p "$pid"); m+=("${r% *}"); [ "${r#* }" = 0 ] || fails=$((fails + 1))
		if [ -n "$have_eu" ]; then
			r=$(time_us eu-stack -p "$pid"); e+=("${r% *}")
			r=$(time_us eu-stack -i -s -p "$pid"); es+=("${r% *}")
		fi
		if [ -n "$have_gdb" ] && [ "$i" -le "$gdb_runs" ]; then
			r=$(time_us gdb -p "$pid" -batch -nx -ex 'thread apply all bt'); g+=("${r% *}")
		fi
	done
	local mm em esm gm
	mm=$(printf '%s\n' "${m[@]}" | median)
	em=$( [ ${#e[@]} -gt 0 ] && printf '%s\n' "${e[@]}" | median)
	esm=$( [ ${#es[@]} -gt 0 ] && printf '%s\n' "${es[@]}" | median)
	gm=$( [ ${#g[@]} -gt 0 ] && printf '%s\n' "${g[@]}" | median)
	dump_ms[$key]=$mm dump_eu[$key]=$em
	printf '%-26s %9s %9s %6s %12s %6s %9s %7s%s\n' "$name" "$(ms "$mm")" \
		"$(ms "$em")" "$(ratio "$mm" "$em")" "$(ms "$esm")" "$(ratio "$mm" "$esm")" \
		"$(ms "$gm")" "$(ratio "$mm" "$gm")" \
		"$([ $fails -gt 0 ] && echo "  ($fails msttop runs failed)")$note"
}
if want dump; then
	echo
	echo "== 1. Dump latency: median wall time (msttop, eu-stack: $runs runs; gdb: $gdb_runs), tools alternated on one target"
	echo "   ratio = msttop / tool (below 1: msttop is faster); msttop prints merged native + Python stacks"
	printf '%-26s %9s %9s %6s %12s %6s %9s %7s\n' "target (ms)" "msttop" "eu-stack" "ratio" \
		"eu-stack -is" "ratio" "gdb bt" "ratio"
	for n in 4 16; do
		if [ -x "$native" ]; then
			start_target "$tmp/c$n.out" "$native" threads "$n" spin &&
				bench_dump "C, $n CPU-bound threads" "c$n" "$tpid" "$n"
			stop_target "$tpid"
		else
			echo "C, $n threads: $native not built, skipped"
		fi
		if [ -n "$pyver" ]; then
			start_target "$tmp/py$n.out" "$py" "$src/tests/targets/py_spin.py" "$n" &&
				bench_dump "Python $pyver, $n threads" "py$n" "$tpid" "$n"
			stop_target "$tpid"
		fi
	done
	key=py16; [ -n "${dump_ms[$key]:-}" ] || key=c16
	if [ -n "${dump_ms[$key]:-}" ] && [ -n "${dump_eu[$key]:-}" ]; then
		met=no; [ "${dump_ms[$key]}" -le "${dump_eu[$key]}" ] && met=yes
		add_summary "--dump <= eu-stack, 16 threads ($key)" \
			"$(ms "${dump_ms[$key]}") vs $(ms "${dump_eu[$key]}") ms, ratio $(ratio "${dump_ms[$key]}" "${dump_eu[$key]}")" "$met"
	else
		add_summary "--dump <= eu-stack, 16 threads" "not measured (no eu-stack or target)" "n/a"
	fi
fi

# --- 2./3. live cost ---------------------------------------------------------
# Per key "threads:config": summed iterations and target-clock seconds, msttop
# CPU ticks and wall seconds inside the windows, and the batch reports' figures.
declare -A it el rr cput cpuw samp ssec stacks p50s p99 miss errs failed bpft bpfc bpfw
# The perf back end's sampling program (named "sample"): "run_time_ns
# run_cnt" summed over those loaded, when the kernel counts them
# (kernel.bpf_stats_enabled); empty otherwise.
bpf_stats() {
	[ -n "${bpf_counting:-}" ] || return 0
	bpftool prog show name sample 2>/dev/null |
		sed -nE 's/.* run_time_ns ([0-9]+) run_cnt ([0-9]+).*/\1 \2/p' |
		awk '{t += $1; c += $2} END {if (NR) print t, c}'
}
cfg_opts() {
	case $1 in
	m100) echo "--rate 100" ;;
	r100) echo "--rate 100 --record $tmp/rec.trace.json --record $tmp/rec.svg" ;;
	m200) echo "--rate 200" ;;
	m1000) echo "--rate 1000" ;;
	nb1000) echo "--rate 1000 --nonblocking" ;;
	p100) echo "--rate 100 --sampler perf" ;;
	p1000) echo "--rate 1000 --sampler perf" ;;
	esac
}
cfg_label() {
	case $1 in
	base) echo "without msttop" ;;
	base2) echo "without, again" ;;
	m100) echo "merged 100 Hz" ;;
	r100) echo "merged 100 Hz, rec" ;;
	m200) echo "merged 200 Hz" ;;
	m1000) echo "merged 1000 Hz" ;;
	nb1000) echo "nonblocking 1000 Hz" ;;
	p100) echo "perf 100 Hz" ;;
	p1000) echo "perf 1000 Hz" ;;
	kclk) echo "kernel clock 1 kHz" ;;
	kperf) echo "perf record -p 1 kHz" ;;
	esac
}
# poll_stops PID FILE: every 20 ms until killed, one line per pass: how many
# of PID's tasks are stopped or traced (t/T). One process that forks nothing
# (a shell loop forking `sleep` 50 times a second cost the 4-thread target
# ~12 % of its throughput on 2 cores, and was counted as the perf back
# end's). Section 7 runs it in every window, baselines included, so what it
# costs is common to every row.
poll_stops() {
	# exec: the caller's $! is the poller itself, which its kill must end.
	exec "$poll_py" - "$1" "$2" <<'PY'
import os, signal, sys, time
pid, out = sys.argv[1], sys.argv[2]
res = []
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
try:
    while os.path.exists("/proc/" + pid):
        n = 0
        try:
            tasks = os.listdir("/proc/%s/task" % pid)
        except OSError:
            break
        for t in tasks:
            try:
                with open("/proc/%s/task/%s/stat" % (pid, t)) as f:
                    st = f.read().rsplit(") ", 1)[1].split(" ", 1)[0]
            except (OSError, IndexError):
                continue
            n += st in ("t", "T")
        res.append(n)
        time.sleep(0.02)
finally:
    with open(out, "a") as f:
        f.write("".join("%d\n" % n for n in res))
PY
}
# ask PID OUT PREFIX: ask a target of start_ctl for its figures; its answer,
# the new last line of OUT starting with PREFIX.
ask() {
	local before n
	before=$(grep -c "^$3" "$2")
	kill -0 "$1" 2>/dev/null && echo >&"$ctl" || return 1
	for _ in $(seq 500); do
		n=$(grep -c "^$3" "$2")
		[ "$n" -gt "$before" ] && break
		sleep 0.01
	done
	grep "^$3" "$2" | tail -1
}
# Iterations so far and the target's clock, as "total elapsed".
count() { # PID OUT
	ask "$1" "$2" iterations | sed -E 's/.*total=([0-9]+) elapsed=([0-9.]+).*/\1 \2/'
}
# Parse a batch report into the accumulators of KEY.
take_report() { # KEY FILE
	local k=$1 f=$2 l2 l4 v
	l2=$(sed -n 2p "$f"); l4=$(grep -m1 ' thread stacks, ' "$f")
	[[ $l2 =~ \;\ ([0-9.]+)\ s,\ ([0-9]+)\ samples.*\ ([0-9]+)\ misses,\ ([0-9]+)\ errors,\ pause\ p50\ ([0-9.]+)\ us\ p99\ ([0-9.]+) ]] || {
		failed[$k]=$(( ${failed[$k]:-0} + 1 )); return; }
	ssec[$k]=$(calc '%.3f' "${ssec[$k]:-0} + ${BASH_REMATCH[1]}")
	samp[$k]=$(( ${samp[$k]:-0} + BASH_REMATCH[2] ))
	miss[$k]=$(( ${miss[$k]:-0} + BASH_REMATCH[3] ))
	errs[$k]=$(( ${errs[$k]:-0} + BASH_REMATCH[4] ))
	p50s[$k]="${p50s[$k]:-} ${BASH_REMATCH[5]}"
	v=${BASH_REMATCH[6]}
	p99[$k]=$(calc '%.1f' "(${p99[$k]:-0} > $v) ? ${p99[$k]:-0} : $v")
	if [[ $l4 =~ ^([0-9]+)\ thread\ stacks ]]; then
		stacks[$k]=$(( ${stacks[$k]:-0} + BASH_REMATCH[1] ))
	else
		stacks[$k]=-1 # a build whose report lacks the line
	fi
}
# start_batch PID CFG REP: msttop -b on PID in config CFG, its report in REP
# (errors in REP.err), running until the window has been counted (then
# SIGINT ends it: stop_msttop); its PID in $!, already in pids. With
# $batch_cpu set, pinned to that CPU.
start_batch() {
	local pin=()
	[ -n "${batch_cpu:-}" ] && pin=(taskset -c "$batch_cpu")
	# shellcheck disable=SC2046
	"${pin[@]}" "$msttop" -p "$1" -b --duration "$(calc '%.3f' "$warmup + $window + 60")" \
		$(cfg_opts "$2") >"$3" 2>"$3.err" &
	pids+=("$!")
}
# start_kclk CFG PID REP: the kernel's clock at 1 kHz without msttop, `perf
# record` writing a minimal sample each (no BPF, no stack): kclk a clock on
# every CPU (as the perf back end's), kperf a clock per thread of PID (perf
# record -p). Its PID in $!, already in pids; SIGINT ends it (stop_msttop).
start_kclk() {
	local pin=() who=(-a)
	[ -n "${batch_cpu:-}" ] && pin=(taskset -c "$batch_cpu")
	[ "$1" = kperf ] && who=(-p "$2")
	"${pin[@]}" perf record -q -e cpu-clock -c 1000000 "${who[@]}" -o "$tmp/kclk.data" >"$3" 2>&1 &
	pids+=("$!")
}
# One window of config CFG on target PID (OUT: its output), threads N.
window_run() { # N CFG PID OUT
	local n=$1 cfg=$2 pid=$3 out=$4 k="$1:$2" a b m c0 c1 w0 w1 s0= s1= rep poller=
	if [ -n "${poll_all:-}" ]; then
		poll_stops "$pid" "$tmp/stops.$cfg" & poller=$!
	fi
	if [[ $cfg == base* ]]; then
		a=$(count "$pid" "$out"); sleep "$window"; b=$(count "$pid" "$out")
		[ -n "$poller" ] && { kill "$poller" 2>/dev/null; wait "$poller" 2>/dev/null; }
	else
		rep=$tmp/report.$n.$cfg
		case $cfg in
		kclk | kperf) start_kclk "$cfg" "$pid" "$rep" ;;
		*) start_batch "$pid" "$cfg" "$rep" ;;
		esac
		m=$!
		if [[ $cfg == p* ]] && [ -z "$poller" ]; then
			poll_stops "$pid" "$tmp/stops.$cfg" & poller=$!
		fi
		sleep "$warmup"
		a=$(count "$pid" "$out"); c0=$(cpu_ticks "$m"); w0=$(now_us); s0=$(bpf_stats)
		sleep "$window"
		c1=$(cpu_ticks "$m"); w1=$(now_us); s1=$(bpf_stats); b=$(count "$pid" "$out")
		stop_msttop "$m"
		rm -f "$tmp/kclk.data"
		[ -n "$poller" ] && { kill "$poller" 2>/dev/null; wait "$poller" 2>/dev/null; }
		if [ -n "$s0" ] && [ -n "$s1" ]; then
			bpft[$k]=$(( ${bpft[$k]:-0} + ${s1% *} - ${s0% *} ))
			bpfc[$k]=$(( ${bpfc[$k]:-0} + ${s1#* } - ${s0#* } ))
			bpfw[$k]=$(( ${bpfw[$k]:-0} + w1 - w0 ))
		fi
		if [ -n "$c0" ] && [ -n "$c1" ]; then
			cput[$k]=$(( ${cput[$k]:-0} + c1 - c0 ))
			cpuw[$k]=$(( ${cpuw[$k]:-0} + w1 - w0 ))
		else
			failed[$k]=$(( ${failed[$k]:-0} + 1 ))
			sed 's/^/   msttop: /' "$rep.err" | head -3
		fi
		[[ $cfg == k* ]] || take_report "$k" "$rep" # perf record writes none
		sleep 0.2 # let the target settle after the detach
	fi
	[ -n "$a" ] && [ -n "$b" ] || { failed[$k]=$(( ${failed[$k]:-0} + 1 )); return; }
	it[$k]=$(( ${it[$k]:-0} + ${b% *} - ${a% *} ))
	el[$k]=$(calc '%.3f' "${el[$k]:-0} + ${b#* } - ${a#* }")
	rr[$k]="${rr[$k]:-} $(calc '%.1f' "(${b% *} - ${a% *}) / (${b#* } - ${a#* })")"
}
# bench_live N ROUNDS CFG...: alternating windows, the order rotated each round.
bench_live() {
	local n=$1 nr=$2; shift 2
	local cfgs=("$@") out=$tmp/spin$n.out pid r i c
	start_spin "$n" "$out" || { stop_spin "$tpid"; return 1; }
	pid=$tpid
	for r in $(seq "$nr"); do
		for i in $(seq 0 $(( ${#cfgs[@]} - 1 ))); do
			c=${cfgs[$(( (i + r - 1) % ${#cfgs[@]} ))]}
			window_run "$n" "$c" "$pid" "$out"
		done
	done
	stop_spin "$pid"
	print_live "$n" "$@"
}
tput_of() { [ -n "${el[$1]:-}" ] && calc '%.1f' "${it[$1]} / ${el[$1]}" || echo ""; }
loss_of() { # KEY (against "N:base"), percent
	local base=${1%%:*}:base t b
	t=$(tput_of "$1"); b=$(tput_of "$base")
	[ -n "$t" ] && [ -n "$b" ] && calc '%.1f' "(1 - $t / $b) * 100" || echo ""
}
cpu_of() { [ -n "${cpuw[$1]:-}" ] && [ "${cpuw[$1]}" -gt 0 ] && calc '%.1f' "${cput[$1]} / $clk / (${cpuw[$1]} / 1e6) * 100" || echo ""; }
rate_of() { [ -n "${ssec[$1]:-}" ] && calc '%.1f' "${samp[$1]} / ${ssec[$1]}" || echo ""; }
stacks_of() { [ -n "${ssec[$1]:-}" ] && [ "${stacks[$1]:-0}" -ge 0 ] && calc '%.0f' "${stacks[$1]} / ${ssec[$1]}" || echo ""; }
# Loss of each round against that round's baseline, "(l1 l2 ...)".
# by_round W B FORMAT EXPR: EXPR (awk, of w and b) for each round's values in
# the lists W and B, "(v1 v2 ...; median m, mean a ± e)", e the standard
# error of the mean (the rounds' spread over the root of their number: what
# to allow a figure of this run); nothing unless both have the same number of
# rounds, more than one.
by_round() {
	local -a w b
	read -r -a w <<<"$1"; read -r -a b <<<"$2"
	[ ${#w[@]} -gt 1 ] && [ ${#w[@]} -eq ${#b[@]} ] || return 0
	local i v
	# One awk for every round's value, not one a round.
	v=$(for i in "${!w[@]}"; do echo "${w[$i]} ${b[$i]}"; done |
		awk -v f="$3" "{w = \$1; b = \$2; printf f \"\\n\", $4}")
	echo "(${v//$'\n'/ }; median $(median <<<"$v"), mean $(awk -v f="$3" \
		'{s += $1; q += $1 * $1} END {m = s / NR; v = (q - NR * m * m) / (NR - 1); printf f " ± " f, m, sqrt(v > 0 ? v : 0) / sqrt(NR)}' <<<"$v"))"
}
round_losses() { by_round "${rr[$1]:-}" "${rr[${1%%:*}:base]:-}" '%.1f' '(1 - w / b) * 100'; } # KEY
p50_of() { [ -n "${p50s[$1]:-}" ] && printf '%s\n' ${p50s[$1]} | median || echo ""; }
print_live() {
	local n=$1 c k; shift
	echo
	echo "== ${live_title:-$([ "$n" = 4 ] && echo 2 || echo 3). Live cost}, Python $pyver target, $n CPU-bound threads: $rounds_used round(s) of ${window}s windows per config, order rotated"
	echo "   throughput = target's loop iterations per second (its own clock); ratio and loss against 'without msttop' of this run;"
	echo "   CPU = msttop's user+sys during the windows; rate, stacks/s, pauses from msttop --batch's report (pause p50: median of rounds, p99: worst round)"
	[ "$rounds_used" -gt 1 ] && echo "   (loss by round: each round against its own baseline window, to judge the noise)"
	printf '%-20s %12s %6s %7s %8s %12s %9s %9s %9s %s\n' "config" "iter/s" "ratio" "loss" \
		"msttop" "rate (asked)" "stacks/s" "pause p50" "pause p99" "misses/errors [loss by round]"
	for c in "$@"; do
		k="$n:$c"
		if [ "$c" = base ]; then
			printf '%-20s %12s %6s\n' "$(cfg_label "$c")" "$(tput_of "$k")" "1.000"
			continue
		fi
		if [ "$c" = base2 ]; then # the noise
			printf '%-20s %12s %6s %6s%% %s\n' "$(cfg_label "$c")" "$(tput_of "$k")" \
				"$(calc '%.3f' "$(tput_of "$k") / $(tput_of "$n:base")")" "$(loss_of "$k")" \
				"(the noise) $(round_losses "$k")"
			continue
		fi
		local t b r="-" p5 p9
		t=$(tput_of "$k"); b=$(tput_of "$n:base")
		[ -n "$t" ] && [ -n "$b" ] && r=$(calc '%.3f' "$t / $b")
		p5=$(p50_of "$k"); p9=${p99[$k]:--}
		[[ $c == nb* || $c == p* || $c == k* ]] && p5="-" p9="-" # nothing is stopped
		local asked
		asked=$(cfg_opts "$c" | awk '{print $2}'); [[ $c == k* ]] && asked=1000
		printf '%-20s %12s %6s %6s%% %7s%% %12s %9s %6s us %6s us %s\n' "$(cfg_label "$c")" \
			"${t:--}" "$r" "$(loss_of "$k")" "$(cpu_of "$k")" \
			"$(rate_of "$k") ($asked)" "$(stacks_of "$k")" \
			"$p5" "$p9" "${miss[$k]:--}/${errs[$k]:--} $(round_losses "$k")$([ -n "${failed[$k]:-}" ] && echo "; ${failed[$k]} window(s) failed")"
	done
}
if want live; then
	if [ -z "$pyver" ]; then
		echo; echo "== 2./3. Live cost: skipped (no Python interpreter)"
		add_summary "100 Hz merged: loss <= 3 %" "not measured" "n/a"
	else
		rounds_used=$rounds
		bench_live 4 "$rounds" base m100 r100 nb1000 m1000
		rounds_used=1
		bench_live 16 1 base m200
		rounds_used=$rounds

		l=$(loss_of 4:m100); add_summary "100 Hz merged, 4 threads: loss <= 3 %" "${l:-?} %" "$(verdict "$l" 3)"
		c=$(cpu_of 4:m100); add_summary "100 Hz merged: msttop <= 15 % of a core" "${c:-?} %" "$(verdict "$c" 15)"
		# Issue 13: what recording adds (a trace and a flame graph of the
		# same run), against sampling alone, both against this run's baseline.
		l=$(loss_of 4:r100); l0=$(loss_of 4:m100); c=$(cpu_of 4:r100); c0=$(cpu_of 4:m100)
		add_summary "100 Hz merged + --record (trace, SVG): loss and CPU" \
			"loss ${l:-?} % (without recording ${l0:-?} %), msttop ${c:-?} % (${c0:-?} %) of a core" "report"
		l=$(loss_of 4:nb1000); add_summary "1000 Hz nonblocking: loss <= 2 %" "${l:-?} %" "$(verdict "$l" 2)"
		best="" bestk=""
		for k in 4:m1000 16:m200 4:m100; do
			s=$(stacks_of "$k"); [ -n "$s" ] || continue
			if [ -z "$best" ] || [ "$s" -gt "$best" ]; then best=$s bestk=$k; fi
		done
		if [ -n "$best" ]; then
			met=no; [ "$best" -ge 2000 ] && met=yes
			add_summary ">= 2000 merged stacks/s sustained" \
				"$best/s ($(cfg_label "${bestk#*:}") asked, ${bestk%%:*} threads; 4 thr 1000 Hz: $(stacks_of 4:m1000)/s, 16 thr 200 Hz: $(stacks_of 16:m200)/s)" "$met"
		else
			add_summary ">= 2000 merged stacks/s sustained" "not measured" "n/a"
		fi
		p=$(p50_of 4:m100)
		add_summary "pause median <= 50 us (p99 reported)" \
			"p50 ${p:-?} us, p99 ${p99[4:m100]:-?} us (100 Hz, 4 thr); 1000 Hz: $(p50_of 4:m1000)/${p99[4:m1000]:-?} us" \
			"$(verdict "$p" 50)"
	fi
fi

# --- 7. the perf back end --------------------------------------------------
if want perf; then
	if [ -z "$pyver" ]; then
		echo; echo "== 7. perf back end: skipped (no Python interpreter)"
	elif ! "$msttop" -p $$ -b --duration 0.2 --sampler perf >"$tmp/perf.check" 2>&1; then
		echo; echo "== 7. perf back end: not available: $(head -1 "$tmp/perf.check")"
		add_summary "perf 1 kHz: loss <= 2 %, msttop <= 10 %" "not measured" "n/a"
	else
		# Twice the rounds of the other sections, and a second baseline
		# window per round whose "loss" is this run's noise: on 2 cores a
		# GIL-bound 4-thread target varies by several percent from one
		# window to the next with nothing attached.
		rounds_used=$(( rounds * 2 ))
		stats_was=$(sysctl -n kernel.bpf_stats_enabled 2>/dev/null || true)
		command -v bpftool >/dev/null && sysctl -q -w kernel.bpf_stats_enabled=1 2>/dev/null &&
			bpf_counting=1
		# The kernel's clock alone at 1 kHz, on every CPU as the perf back
		# end's and per thread as `perf record -p` (where perf is
		# installed): what sampling costs this target before msttop does
		# anything, in the same windows (section 7c measures the same
		# pinned, 7b per sample).
		pcfgs=(base m100 p100 m1000 p1000)
		command -v perf >/dev/null && pcfgs+=(kclk kperf)
		pcfgs+=(base2)
		poll_all=1 live_title="7. ptrace against perf" bench_live 4 "$rounds_used" "${pcfgs[@]}"
		[ -n "${bpf_counting:-}" ] && sysctl -q -w kernel.bpf_stats_enabled="${stats_was:-0}"
		bpf_counting=
		l=$(loss_of 4:p1000); c=$(cpu_of 4:p1000)
		add_summary "perf 1 kHz merged: loss <= 2 %, window to window (7; ptrace: $(loss_of 4:m1000) %)" "${l:-?} % $(round_losses 4:p1000)" "$(verdict "$l" 2)"
		add_summary "perf 1 kHz merged: msttop <= 10 % of a core (ptrace: $(cpu_of 4:m1000) %)" "${c:-?} %" "$(verdict "$c" 10)"
		add_summary "perf 100 Hz merged: loss within noise (ptrace: $(loss_of 4:m100) %)" "$(loss_of 4:p100) % $(round_losses 4:p100)" "report"
		add_summary "perf: the noise (a second window without msttop)" "$(loss_of 4:base2) % $(round_losses 4:base2)" "report"
		if [ -n "$(tput_of 4:kclk)" ]; then
			add_summary "perf 1 kHz merged (7) against the kernel's clock alone" \
				"$(loss_of 4:p1000) %; kernel clock on every CPU $(loss_of 4:kclk) % $(round_losses 4:kclk); perf record -p $(loss_of 4:kperf) % (its CPU $(cpu_of 4:kperf) % of a core)" "report"
		fi
		for kk in 4:p100 4:p1000; do
			[ "${bpfc[$kk]:-0}" -gt 0 ] && [ "${bpfw[$kk]:-0}" -gt 0 ] || continue
			# Runs on every CPU: another process's ends at its first lookup.
			add_summary "$(cfg_label "${kk#4:}"): the sampling program, in the sampled threads" \
				"$(calc '%.2f' "${bpft[$kk]} / 1e3 / ${bpfw[$kk]} * 100") % of a CPU, $(calc '%.1f' "${bpft[$kk]} / 1e3 / ${bpfc[$kk]}") us a run, $(calc '%.0f' "${bpfc[$kk]} / (${bpfw[$kk]} / 1e6)") runs/s on all CPUs" "report"
		done
		polls=$(cat "$tmp"/stops.p* 2>/dev/null | wc -l)
		held=$(cat "$tmp"/stops.p* 2>/dev/null | awk '$1 > 0' | wc -l)
		met=no; [ "$polls" -gt 0 ] && [ "$held" -eq 0 ] && met=yes
		add_summary "perf: no target thread ever stopped (t/T)" "$held of $polls polls (every 20 ms) found one" "$met"
	fi
fi

# --- 7b. the time a sample takes from the thread it lands on -----------------
# tests/bench/gaps.py: one thread reading the clock, its gaps over 1.5 us
# summed. Per config: gaps a second, the share of the measured time in gaps,
# the excess over the baseline and that excess per sample.
declare -A gap_n gap_ns gap_ms gap_rr
gap_read() { # PID OUT -> "gaps ns measured_ns reads"
	ask "$1" "$2" gaps | sed -nE 's/.*n=([0-9]+) ns=([0-9]+) measured=([0-9]+) reads=([0-9]+).*/\1 \2 \3 \4/p'
}
gap_window() { # CFG PID OUT
	local cfg=$1 pid=$2 out=$3 rep=$tmp/gaps.$1 m= a b
	case $cfg in
	base*) ;;
	kclk) start_kclk "$cfg" "$pid" "$rep"; m=$! ;;
	*) start_batch "$pid" "$cfg" "$rep"; m=$! ;;
	esac
	[ -n "$m" ] && sleep "$warmup"
	a=$(gap_read "$pid" "$out"); sleep "$window"; b=$(gap_read "$pid" "$out")
	[ -n "$m" ] && stop_msttop "$m" # SIGINT: perf record too writes its file and ends
	rm -f "$tmp/kclk.data"
	set -- $a $b
	if [ $# -ne 8 ] || [ "$7" -le "$3" ]; then
		failed[gap:$cfg]=$(( ${failed[gap:$cfg]:-0} + 1 ))
		return
	fi
	gap_n[$cfg]=$(( ${gap_n[$cfg]:-0} + $5 - $1 ))
	gap_ns[$cfg]=$(( ${gap_ns[$cfg]:-0} + $6 - $2 ))
	gap_ms[$cfg]=$(( ${gap_ms[$cfg]:-0} + $7 - $3 ))
	gap_rr[$cfg]="${gap_rr[$cfg]:-} $(calc '%.3f' "($6 - $2) / ($7 - $3) * 100")"
	[[ $cfg == base* || $cfg == kclk ]] || take_report "gap:$cfg" "$rep"
	sleep 0.2
}
gap_pct() { [ -n "${gap_ms[$1]:-}" ] && calc '%.2f' "${gap_ns[$1]} / ${gap_ms[$1]} * 100" || echo ""; }
gap_excess() { # CFG: percentage points over the baseline
	local g b
	g=$(gap_pct "$1"); b=$(gap_pct base)
	[ -n "$g" ] && [ -n "$b" ] && calc '%.2f' "$g - $b" || echo ""
}
gap_rate() { # CFG: samples a second (the kernel clock: its rate)
	case $1 in
	kclk) echo 1000 ;;
	*) rate_of "gap:$1" ;;
	esac
}
gap_per_sample() { # CFG: microseconds of excess per sample
	local x r
	x=$(gap_excess "$1"); r=$(gap_rate "$1")
	[ -n "$x" ] && [ -n "$r" ] && calc '%.1f' "$x / 100 / $r * 1e6" || echo ""
}
# CFG: excess by round against that round's baseline
gap_rounds() { by_round "${gap_rr[$1]:-}" "${gap_rr[base]:-}" '%.2f' 'w - b'; }
if want perf && [ -n "$pyver" ] && "$msttop" -p $$ -b --duration 0.2 --sampler perf >/dev/null 2>&1; then
	gcfgs=(base p1000 m1000)
	command -v perf >/dev/null && gcfgs+=(kclk)
	gcfgs+=(base2)
	if start_ctl "$tmp/gaps.out" gaps.py; then
		gpid=$tpid
		for r in $(seq "$rounds"); do
			for i in $(seq 0 $(( ${#gcfgs[@]} - 1 ))); do
				gap_window "${gcfgs[$(( (i + r - 1) % ${#gcfgs[@]} ))]}" "$gpid" "$tmp/gaps.out"
			done
		done
		stop_spin "$gpid"
		echo
		echo "== 7b. The time a sample takes from the thread it lands on: Python $pyver, one thread reading the clock in a loop"
		echo "   (tests/bench/gaps.py), every gap over 1.5 us between two reads summed; $rounds round(s) of ${window}s windows, order rotated"
		echo "   in gaps = share of the thread's time in gaps; excess = over 'without msttop' (percentage points); per sample = the"
		echo "   excess over the samples a second (msttop's report; the kernel clock: its period). Not blurred by the CPU's speed, as"
		echo "   section 7's throughput is; not seen: the thread's slower run after a sample (caches refilled)"
		printf '%-28s %8s %9s %8s %10s %11s %s\n' config "gaps/s" "in gaps" excess "samples/s" "per sample" "[excess by round]"
		for c in "${gcfgs[@]}"; do
			[ -n "${gap_ms[$c]:-}" ] || { printf '%-28s %s\n' "$c" "no window measured"; continue; }
			gl=$(cfg_label "$c"); [ "$c" = kclk ] && gl="kernel clock alone, 1 kHz"
			[ "$c" = m1000 ] && gl="ptrace 1000 Hz"
			if [[ $c == base ]]; then
				printf '%-28s %8s %8s%%\n' "$gl" "$(calc '%.0f' "${gap_n[$c]} / (${gap_ms[$c]} / 1e9)")" "$(gap_pct "$c")"
				continue
			fi
			printf '%-28s %8s %8s%% %7s%% %10s %8s us %s\n' "$gl" \
				"$(calc '%.0f' "${gap_n[$c]} / (${gap_ms[$c]} / 1e9)")" "$(gap_pct "$c")" \
				"$(gap_excess "$c")" "$([ "$c" = base2 ] && echo - || gap_rate "$c")" \
				"$([ "$c" = base2 ] && echo - || gap_per_sample "$c")" \
				"$(gap_rounds "$c")$([ -n "${failed[gap:$c]:-}" ] && echo "; ${failed[gap:$c]} window(s) failed")"
		done
		add_summary "perf 1 kHz: time taken from the sampled thread (7b; the noise: $(gap_excess base2) points)" \
			"$(gap_excess p1000) % ($(gap_per_sample p1000) us a sample; ptrace $(gap_excess m1000) %$([ -n "${gap_ms[kclk]:-}" ] && echo ", kernel clock alone $(gap_excess kclk) %"))" "report"
	else
		stop_spin "$tpid"
	fi
fi

# --- 7c. the target's throughput against a reference on its CPU -------------
# Section 7's throughput moves by ±15 % from one window to the next on a
# virtual machine (the host changes the vCPU's speed), so a 2 % loss cannot be
# seen in it. The speed changes for everything on that vCPU at once: a
# reference loop sharing the target's CPU (gaps.py work: the target's loop
# with a clock read each turn, the time it did not run taken out) measures it
# in the same seconds, and the target's throughput over that speed moves by a
# percent or two a window. Both pinned to CPU 0, msttop (or perf record) to
# CPU 1, as a profiler runs beside a busy process on an idle core. Only what
# stops no thread: a thread stopped by ptrace hands its CPU to the reference,
# and the measure would count the reference's gain as the target's loss. The
# target's CPU share is printed: unchanged where nothing is stopped.
declare -A ref_it ref_el ref_ns ref_rd ref_act ref_rr
ref_window() { # CFG TPID TOUT TCTL RPID ROUT RCTL
	local cfg=$1 tp=$2 tout=$3 rp=$5 rout=$6 rep=$tmp/ref.$1 m= a b n0 n1 ra rb
	case $cfg in
	base*) ;;
	kclk | kperf) batch_cpu=1 start_kclk "$cfg" "$tp" "$rep"; m=$! ;;
	*) batch_cpu=1 start_batch "$tp" "$cfg" "$rep"; m=$! ;;
	esac
	[ -n "$m" ] && sleep "$warmup"
	ctl=$4; a=$(count "$tp" "$tout"); n0=$(task_ns "$tp"); ctl=$7; ra=$(gap_read "$rp" "$rout")
	sleep "$window"
	ctl=$4; b=$(count "$tp" "$tout"); n1=$(task_ns "$tp"); ctl=$7; rb=$(gap_read "$rp" "$rout")
	[ -n "$m" ] && stop_msttop "$m"
	rm -f "$tmp/kclk.data"
	# shellcheck disable=SC2086
	set -- $a $n0 $ra $b $n1 $rb
	# total elapsed task_ns gaps gap_ns measured reads, at the start ($1-$7), the end ($8-$14)
	if [ $# -ne 14 ] || [ "${13}" -le "$6" ] || [ "$8" -le "$1" ]; then
		failed[ref:$cfg]=$(( ${failed[ref:$cfg]:-0} + 1 ))
		return
	fi
	local ti=$(( $8 - $1 )) el act rd=$(( ${14} - $7 ))
	el=$(calc '%.6f' "$9 - $2")
	act=$(( (${13} - $6) - (${12} - $5) )) # measured less the gaps: the reference's running time
	ref_it[$cfg]=$(( ${ref_it[$cfg]:-0} + ti ))
	ref_el[$cfg]=$(calc '%.6f' "${ref_el[$cfg]:-0} + $el")
	ref_ns[$cfg]=$(( ${ref_ns[$cfg]:-0} + ${10} - $3 ))
	ref_rd[$cfg]=$(( ${ref_rd[$cfg]:-0} + rd ))
	ref_act[$cfg]=$(( ${ref_act[$cfg]:-0} + act ))
	ref_rr[$cfg]="${ref_rr[$cfg]:-} $(calc '%.6f' "($ti / $el) / ($rd / $act * 1e9)")"
	[[ $cfg == base* || $cfg == k* ]] || take_report "ref:$cfg" "$rep"
	sleep 0.2
}
ref_speed() { calc '%.0f' "${ref_rd[$1]} / ${ref_act[$1]} * 1e9"; } # turns a second of its running time
ref_ratio() { calc '%.6f' "(${ref_it[$1]} / ${ref_el[$1]}) / (${ref_rd[$1]} / ${ref_act[$1]} * 1e9)"; }
ref_loss() { # CFG: percent, against the baseline
	[ -n "${ref_el[$1]:-}" ] && [ -n "${ref_el[base]:-}" ] || return 0
	calc '%.2f' "(1 - $(ref_ratio "$1") / $(ref_ratio base)) * 100"
}
# CFG: loss by round against that round's baseline
ref_rounds() { by_round "${ref_rr[$1]:-}" "${ref_rr[base]:-}" '%.1f' '(1 - w / b) * 100'; }
if want perf && [ -n "$pyver" ] && [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null &&
	"$msttop" -p $$ -b --duration 0.2 --sampler perf >/dev/null 2>&1; then
	rcfgs=(base p100 p1000)
	command -v perf >/dev/null && rcfgs+=(kclk kperf)
	rcfgs+=(base2)
	rounds_used=$(( rounds * 2 )) # as section 7
	tctl= rctl= tp= rp=
	if ctl_cpu=0 start_spin 4 "$tmp/ref.spin.out"; then
		tp=$tpid tctl=$ctl
		if ctl_cpu=0 start_ctl "$tmp/ref.gaps.out" gaps.py work; then
			rp=$tpid rctl=$ctl
		fi
	fi
	if [ -n "$rp" ]; then
		for r in $(seq "$rounds_used"); do
			for i in $(seq 0 $(( ${#rcfgs[@]} - 1 ))); do
				ref_window "${rcfgs[$(( (i + r - 1) % ${#rcfgs[@]} ))]}" "$tp" "$tmp/ref.spin.out" "$tctl" \
					"$rp" "$tmp/ref.gaps.out" "$rctl"
			done
		done
	fi
	[ -n "$rp" ] && { ctl=$rctl; stop_spin "$rp"; }
	[ -n "$tp" ] && { ctl=$tctl; stop_spin "$tp"; }
	echo
	echo "== 7c. Throughput against a reference on the target's CPU: Python $pyver, the 4-thread target and a reference loop pinned"
	echo "   to CPU 0, msttop (or perf record) to CPU 1; $rounds_used round(s) of ${window}s windows, order rotated"
	echo "   speed = the reference's turns a second of its own running time (tests/bench/gaps.py work: the target's loop, a clock"
	echo "   read each turn, the time it did not run taken out): the CPU's speed in those seconds; target/speed = the target's"
	echo "   throughput over it; loss against 'without msttop'; share = the target's CPU time over the window (the scheduler's count)"
	printf '%-28s %12s %12s %12s %7s %6s %s\n' config "target it/s" "speed" "target/speed" loss share "[loss by round]"
	for c in "${rcfgs[@]}"; do
		[ -n "${ref_el[$c]:-}" ] || { printf '%-28s %s\n' "$c" "no window measured"; continue; }
		rl=$(cfg_label "$c")
		[ "$c" = kclk ] && rl="kernel clock alone, CPUs"
		[ "$c" = kperf ] && rl="perf record -p, 1 kHz"
		printf '%-28s %12s %12s %12s %6s%% %5s%% %s\n' "$rl" "$(calc '%.0f' "${ref_it[$c]} / ${ref_el[$c]}")" \
			"$(ref_speed "$c")" "$(ref_ratio "$c")" "$([ "$c" = base ] && echo - || ref_loss "$c")" \
			"$(calc '%.1f' "${ref_ns[$c]} / 1e9 / ${ref_el[$c]} * 100")" \
			"$([ "$c" = base ] || ref_rounds "$c")$([ -n "${failed[ref:$c]:-}" ] && echo "; ${failed[ref:$c]} window(s) failed")"
	done
	l=$(ref_loss p1000)
	add_summary "perf 1 kHz merged: loss <= 2 %, against a reference on its CPU (7c; the noise: $(ref_loss base2) %)" \
		"${l:-?} % $(ref_rounds p1000)" "$(verdict "$l" 2)"
	add_summary "perf 100 Hz merged: loss against a reference on its CPU (7c)" "$(ref_loss p100) % $(ref_rounds p100)" "report"
fi

# --- 8. many threads -------------------------------------------------------
# many_run KEY PID CFG: one window of msttop -b on PID; CPU, rate, stacks/s
# and RSS at its end into the many_* arrays.
declare -A many_cpu many_rate many_stacks many_rss many_tick
# many_window KEY PID: after the warm-up, PID's CPU over one window and its
# RSS at the end, into many_cpu and many_rss.
many_window() {
	local c0 c1 w0 w1
	sleep "$warmup"
	c0=$(cpu_ticks "$2"); w0=$(now_us)
	sleep "$window"
	c1=$(cpu_ticks "$2"); w1=$(now_us)
	many_rss[$1]=$(awk '/^VmRSS/ {print $2}' "/proc/$2/status" 2>/dev/null)
	if [ -n "$c0" ] && [ -n "$c1" ]; then
		many_cpu[$1]=$(calc '%.1f' "($c1 - $c0) / $clk / (($w1 - $w0) / 1e6) * 100")
	fi
}
many_run() {
	local k=$1 pid=$2 cfg=$3 rep=$tmp/many.$1 m opts bin=$msttop
	case $cfg in
	m100) opts="--rate 100" ;;
	p100) opts="--rate 100 --sampler perf" ;;
	nb100) opts="--rate 100 --nonblocking" ;;
	om100) opts="--rate 100 --sampler ptrace" bin=$old_msttop ;;
	onb100) opts="--rate 100 --nonblocking" bin=$old_msttop ;;
	austin) many_austin "$k" "$pid" "$rep"; return ;;
	esac
	# shellcheck disable=SC2086
	"$bin" -p "$pid" -b --duration "$(calc '%.3f' "$warmup + $window + 60")" $opts \
		>"$rep" 2>"$rep.err" &
	m=$!; pids+=("$m")
	many_window "$k" "$m"
	stop_msttop "$m"
	local l2 l4
	l2=$(sed -n 2p "$rep"); l4=$(grep -m1 ' thread stacks, ' "$rep")
	# The rate from the end of msttop's first second (attaching to a
	# thousand threads is behind), else over its whole run.
	[[ $l2 =~ samples\ at\ ([0-9.]+)\ Hz ]] && many_rate[$k]=${BASH_REMATCH[1]}
	[[ $l2 =~ \;\ ([0-9.]+)\ Hz\ after\ the\ first\ second ]] && many_rate[$k]=${BASH_REMATCH[1]}
	[[ $l4 =~ ([0-9.]+)\ per\ second\;\ tick\ avg\ ([0-9.]+)\ us ]] &&
		many_stacks[$k]=${BASH_REMATCH[1]} many_tick[$k]=${BASH_REMATCH[2]}
	[ -n "${many_rate[$k]:-}" ] || sed 's/^/   msttop: /' "$rep.err" | head -3
	sleep 0.2
}
# many_austin KEY PID REP: austin, Python only, 10 ms, over the same window:
# its CPU, and thread stacks per second (one output line per thread sample)
# over its whole run.
many_austin() {
	local k=$1 pid=$2 rep=$3 m secs n
	# Whole seconds (-x), and a second past the window: its CPU is read
	# at the window's end, while it still runs.
	secs=$(calc '%.0f' "$warmup + $window + 1.5")
	"$austin" -p "$pid" -i 10ms -x "$secs" >"$rep" 2>"$rep.err" &
	m=$!; pids+=("$m")
	many_window "$k" "$m"
	wait "$m" 2>/dev/null; forget "$m"
	n=$(grep -c '^P[0-9]' "$rep" 2>/dev/null)
	[ -n "$n" ] && many_stacks[$k]=$(calc '%.1f' "$n / $secs")
	[ "${n:-0}" -gt 0 ] || sed 's/^/   austin: /' "$rep.err" | head -3
	sleep 0.2
}
if want many; then
	if [ -z "$pyver" ]; then
		echo; echo "== 8. many threads: skipped (no Python interpreter)"
	else
		perf_ok=
		"$msttop" -p $$ -b --duration 0.2 --sampler perf >/dev/null 2>&1 && perf_ok=1
		cfgs="m100 nb100${perf_ok:+ p100}${old_msttop:+ om100 onb100}${austin:+ austin}"
		for idle in 0 "$nidle"; do
			start_spin 4 "$tmp/many$idle.out" "$idle" || { stop_spin "$tpid"; continue; }
			for r in $(seq "$rounds"); do
				for c in $cfgs; do many_run "$idle:$c:$r" "$tpid" "$c"; done
			done
			if [ "$idle" != 0 ]; then
				# --dump of every thread, medians.
				ds=()
				for _ in $(seq "$runs"); do
					t0=$(now_us)
					"$msttop" -p "$tpid" --dump >/dev/null 2>&1
					ds+=($(( ($(now_us) - t0) / 1000 )))
				done
				many_dump=$(printf '%s\n' "${ds[@]}" | median)
			fi
			stop_spin "$tpid"
		done
		echo
		echo "== 8. Many threads, Python $pyver: 4 CPU-bound threads and $nidle idle ones (Event.wait) against 4 and none; 100 Hz asked, ${window}s windows, $rounds round(s); medians of rounds"
		echo "   rate: after msttop's first second; idle cost = (msttop CPU with the idle threads - without) / (idle threads x ticks per second)"
		printf '%-22s %8s %14s %12s %10s %10s %12s %10s\n' "config" "threads" "rate (asked)" "stacks/s" "msttop" "tick avg" "idle cost" "RSS"
		pick() { # ARRAY KEY: median over rounds
			local -n arr=$1; local r v=()
			for r in $(seq "$rounds"); do [ -n "${arr[$2:$r]:-}" ] && v+=("${arr[$2:$r]}"); done
			[ ${#v[@]} -gt 0 ] && printf '%s\n' "${v[@]}" | median
		}
		for c in $cfgs; do
			for idle in 0 "$nidle"; do
				k="$idle:$c"
				cost=-
				if [ "$idle" != 0 ]; then
					a=$(pick many_cpu "$k"); b=$(pick many_cpu "0:$c"); rt=$(pick many_rate "$k")
					[ -n "$a" ] && [ -n "$b" ] && [ -n "$rt" ] &&
						cost="$(calc '%.1f' "($a - $b) / 100 / ($idle * $rt) * 1e6") us"
				fi
				printf '%-22s %8s %14s %12s %9s%% %7s us %12s %7s kB\n' \
					"$(case $c in m100) echo merged, ptrace ;; p100) echo merged, perf ;; nb100) echo nonblocking ;; om100) echo "old: merged, ptrace" ;; onb100) echo "old: nonblocking" ;; austin) echo "austin, Python only" ;; esac)" \
					"$((idle + 5))" "$(pick many_rate "$k") (100)" "$(pick many_stacks "$k")" \
					"$(pick many_cpu "$k")" "$(pick many_tick "$k")" "$cost" "$(pick many_rss "$k")"
			done
		done
		echo "   --dump of the $((nidle + 5))-thread target: ${many_dump:-?} ms (median of $runs)"
		for c in $cfgs; do
			a=$(pick many_cpu "$nidle:$c"); b=$(pick many_cpu "0:$c"); rt=$(pick many_rate "$nidle:$c")
			cost=
			[ -n "$a" ] && [ -n "$b" ] && [ -n "$rt" ] && cost=$(calc '%.1f' "($a - $b) / 100 / ($nidle * $rt) * 1e6")
			case $c in nb100 | om100 | onb100 | austin) continue ;; esac
			add_summary "$nidle idle threads ($c): idle thread <= 5 us per tick" "${cost:-?} us" "$(verdict "$cost" 5)"
			rt=$(pick many_rate "$nidle:$c"); cp=$(pick many_cpu "$nidle:$c")
			met=n/a
			[ -n "$rt" ] && [ -n "$cp" ] && met=$(awk -v r="$rt" -v c="$cp" 'BEGIN {print (r >= 90 && c <= 50) ? "yes" : "no"}')
			add_summary "$((nidle + 5)) threads ($c): >= 90 Hz of 100, msttop <= 50 %" "${rt:-?} Hz, ${cp:-?} %" "$met"
		done
		r1=$(pick many_rss "$nidle:m100"); r0=$(pick many_rss "0:m100")
		met=n/a; [ -n "$r1" ] && [ -n "$r0" ] && met=$(awk -v a="$r1" -v b="$r0" 'BEGIN {print (a <= 2 * b) ? "yes" : "no"}')
		add_summary "RSS with $((nidle + 5)) threads <= 2x with 5 (ptrace)" "${r1:-?} kB vs ${r0:-?} kB" "$met"
		add_summary "--dump of $((nidle + 5)) threads <= 0.3 s" "${many_dump:-?} ms" "$(verdict "${many_dump:-}" 300)"
		if [ -n "$austin" ]; then
			a=$(pick many_stacks "$nidle:nb100"); b=$(pick many_stacks "$nidle:austin")
			met=n/a; [ -n "$a" ] && [ -n "$b" ] && met=$(awk -v a="$a" -v b="$b" 'BEGIN {print (a >= 2 * b) ? "yes" : "no"}')
			add_summary "--nonblocking >= 2x austin's stacks/s ($((nidle + 5)) threads)" "${a:-?} vs ${b:-?}" "$met"
		fi
	fi
fi

# --- 6. core files ---------------------------------------------------------
# Timed before the RSS run so its summary row lands in the table.
if want core && [ -n "$pyver" ] && [ -n "$have_gdb" ] && command -v gcore >/dev/null; then
	echo
	echo "== 6. Core file: median wall time to print every thread's stack from one gcore"
	echo "   of tests/targets/py_core.py (msttop, eu-stack: $runs runs; gdb: $gdb_runs); ratio = msttop / tool"
	if start_target "$tmp/core.out" "$py" "$src/tests/targets/py_core.py"; then
		cpid=$tpid exe=$(readlink "/proc/$tpid/exe")
		gcore -o "$tmp/core" "$cpid" >/dev/null 2>&1
		stop_target "$cpid"
		cf=$tmp/core.$cpid
		if [ -s "$cf" ]; then
			m=() e=() es=() g=()
			for i in $(seq "$runs"); do
				r=$(time_us "$msttop" --core "$cf"); m+=("${r% *}")
				if [ -n "$have_eu" ]; then
					r=$(time_us eu-stack --core="$cf" --executable="$exe"); e+=("${r% *}")
					r=$(time_us eu-stack -i -s --core="$cf" --executable="$exe"); es+=("${r% *}")
				fi
				if [ "$i" -le "$gdb_runs" ]; then
					r=$(time_us gdb -batch -nx -ex 'thread apply all bt' "$exe" "$cf"); g+=("${r% *}")
				fi
			done
			mm=$(printf '%s\n' "${m[@]}" | median)
			em=$( [ ${#e[@]} -gt 0 ] && printf '%s\n' "${e[@]}" | median)
			esm=$( [ ${#es[@]} -gt 0 ] && printf '%s\n' "${es[@]}" | median)
			gm=$(printf '%s\n' "${g[@]}" | median)
			printf '%-26s %9s %9s %6s %12s %6s %9s %7s\n' "target (ms)" msttop eu-stack ratio \
				"eu-stack -is" ratio "gdb bt" ratio
			printf '%-26s %9s %9s %6s %12s %6s %9s %7s\n' "Python $pyver, 3 threads" \
				"$(ms "$mm")" "$(ms "$em")" "$(ratio "$mm" "$em")" "$(ms "$esm")" \
				"$(ratio "$mm" "$esm")" "$(ms "$gm")" "$(ratio "$mm" "$gm")"
			add_summary "--dump --core vs eu-stack --core (-i -s), gdb bt" \
				"$(ms "$mm") vs $(ms "$em") ($(ms "$esm")) / $(ms "$gm") ms" "n/a"
			rm -f "$cf"
		else
			echo "gcore wrote no core: skipped"
		fi
	fi
fi

# --- 4. RSS over time -------------------------------------------------------
if want rss; then
	echo
	if [ -z "$pyver" ]; then
		echo "== 4. msttop RSS: skipped (no Python interpreter)"
		add_summary "RSS growth <= 1 MiB over 10 min" "not measured" "n/a"
	else
		warm=$rss_warm
		awk -v w="$warm" -v d="$rss_secs" 'BEGIN {exit !(w >= d / 2)}' && warm=$(calc '%.0f' "$rss_secs / 3")
		idle_txt=""
		[ "$rss_idle" -gt 0 ] && idle_txt=" and $rss_idle idle ones"
		echo "== 4. msttop RSS over a ${rss_secs}s live run (merged 100 Hz, Python $pyver, 4 CPU-bound threads$idle_txt), VmRSS every ${rss_every}s"
		out=$tmp/rss.out
		start_spin 4 "$out" "$rss_idle"
		pid=$tpid
		"$msttop" -p "$pid" -b --duration "$(calc '%.0f' "$rss_secs + 60")" --rate 100 \
			--log "$tmp/rss.log" >"$tmp/rss.report" 2>"$tmp/rss.err" &
		m=$!; pids+=("$m")
		t0=$(now_us) series=() rss_at_warm="" rss_last="" t_warm="" t_last="" maxr=0
		next=0
		while kill -0 "$m" 2>/dev/null; do
			t=$(( ($(now_us) - t0 + 500000) / 1000000 ))
			r=$(awk '/^VmRSS:/ {print $2}' "/proc/$m/status" 2>/dev/null)
			[ -n "$r" ] || break
			a=$(awk '/^RssAnon:/ {print $2}' "/proc/$m/status" 2>/dev/null)
			series+=("${t}s:$r/${a:-?}")
			if [ -z "$rss_at_warm" ] && [ "$t" -ge "${warm%.*}" ]; then rss_at_warm=$r t_warm=$t; fi
			rss_last=$r t_last=$t
			[ "$r" -gt "$maxr" ] && maxr=$r
			awk -v t="$t" -v d="$rss_secs" 'BEGIN {exit !(t >= d)}' && break
			next=$(calc '%.3f' "$next + $rss_every")
			left=$(calc '%.3f' "$next - ($(now_us) - $t0) / 1e6")
			awk -v l="$left" 'BEGIN {exit !(l > 0)}' && sleep "$left"
		done
		stop_msttop "$m"
		stop_spin "$pid"
		echo "   t:VmRSS/RssAnon (KiB; the rest of VmRSS is mapped files)"
		printf '%s\n' "${series[@]}" | xargs -n 8 echo "  "
		# msttop's own account from its log (a line every 10 s): at 10 s and the last.
		grep '^memory at' "$tmp/rss.log" 2>/dev/null | sed -n '2p;$p' | sed 's/^/   msttop log: /'
		if [ -n "$rss_at_warm" ] && [ "$t_last" -gt "$t_warm" ]; then
			growth=$(( rss_last - rss_at_warm ))
			per10=$(calc '%.0f' "$growth / ($t_last - $t_warm) * 600")
			echo "   growth after warm-up: $growth KiB from ${t_warm}s to ${t_last}s (peak $maxr KiB); linear slope = $per10 KiB per 10 min"
			sed -n '2p; /thread stacks/p' "$tmp/rss.report" | sed 's/^/   msttop: /'
			met=no; [ "$growth" -le 1024 ] && met=yes
			span=$(( t_last - t_warm ))
			if [ "$span" -lt 590 ] && [ "$met" = yes ]; then
				met="yes*"; [ "$per10" -le 1024 ] || met="unsure*"
			fi
			add_summary "RSS growth <= 1 MiB over 10 min${idle_txt:+ ($(( rss_idle + 5 )) threads)}" "$(printf '%+d' "$growth") KiB over ${span}s after ${t_warm}s warm-up (peak $maxr KiB)" "$met"
		else
			echo "   not enough samples (msttop: $(head -c 300 "$tmp/rss.err"))"
			add_summary "RSS growth <= 1 MiB over 10 min" "not measured" "n/a"
		fi
	fi
fi

# --- 5. summary --------------------------------------------------------------
echo
echo "== Summary: issue 5 targets (load average now: $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%-42s %-8s %s\n' "target" "met" "measured"
for row in "${summary[@]}"; do
	IFS='|' read -r a b c <<<"$row"
	printf '%-42s %-8s %s\n' "$a" "$c" "$b"
done
for row in "${summary[@]}"; do
	if [[ $row == *"*" ]]; then
		echo "* a run shorter than 10 minutes (unsure: its slope would pass 1 MiB in 10 min): --rss-seconds 600 gives the issue's figure"
		break
	fi
done
[ ${#summary[@]} -gt 0 ] || { echo "nothing was measured"; exit 1; }
exit 0
