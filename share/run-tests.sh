#!/bin/bash
# Installs what is missing, builds msttop twice (normal, and with
# AddressSanitizer + UndefinedBehaviorSanitizer) and runs every test suite in
# both builds. Prints Check's summary lines and ends with one line
# "N passed, N failed" for the whole run; exits non-zero if anything failed.
set -u
cd "$(dirname "$0")/.."
sh share/install-deps.sh || exit 1

setup() {
	local dir=$1
	shift
	if [ -f "$dir/build.ninja" ]; then
		meson setup --reconfigure "$dir" "$@" >"$dir.setup.log" 2>&1
	else
		meson setup "$dir" "$@" >"$dir.setup.log" 2>&1
	fi || { cat "$dir.setup.log"; return 1; }
}

passed=0
failed=0
status=0

# Debian unstable's CPython 3.14 and 3.15, in a private sysroot (never
# installed): the live suites read them with the other interpreters. A
# failed download fails the run, with the script's one-line reason.
echo "=== Debian unstable's CPython 3.14 and 3.15"
if deb=$(bash share/tools/get-debian-pythons.sh --print); then
	MSTTOP_DEBIAN_PYTHONS=$(echo "$deb" | tr '\n' ':' | sed 's/:$//')
	export MSTTOP_DEBIAN_PYTHONS
	echo "$deb" | sed 's/^/  /'
else
	failed=$((failed + 1))
	status=1
fi
# The recording tests' viewer and schema validator (speedscope, ajv), from
# npm at the versions tests/record/package-lock.json pins, installed outside
# the source tree. A failed install fails the run.
echo "=== npm: speedscope and ajv for the recording tests"
mkdir -p build-node
cp tests/record/package.json tests/record/package-lock.json build-node/
if (cd build-node && npm ci --no-audit --no-fund --loglevel=error >npm.log 2>&1); then
	MSTTOP_NODE_MODULES=$PWD/build-node/node_modules
	export MSTTOP_NODE_MODULES
	echo "  $(cd build-node && node -e 'console.log("speedscope " + require("speedscope/package.json").version + ", ajv " + require("ajv/package.json").version)')"
else
	tail -5 build-node/npm.log
	failed=$((failed + 1))
	status=1
fi
run_build() {
	local dir=$1
	shift
	echo "=== build: $dir"
	if ! setup "$dir" "$@" || ! ninja -C "$dir" >"$dir.ninja.log" 2>&1; then
		cat "$dir.ninja.log" 2>/dev/null | tail -40
		echo "build $dir FAILED"
		failed=$((failed + 1))
		status=1
		return
	fi
	meson test -C "$dir" --print-errorlogs --timeout-multiplier "$MULT" >"$dir.test.log" 2>&1
	local rc=$?
	# The interpreters the live suites found.
	grep -h -A20 '^interpreters found' "$dir/meson-logs/testlog.txt" | grep -E '^(interpreters|  [0-9])' | sort -u
	# The per-interpreter table of the live Python scenarios.
	grep -h '^RESULT ' "$dir/meson-logs/testlog.txt" | awk '
		{ label = $2 " " $3; scen = $4; res = ($5 == "ok") ? "ok" : "FAIL"
		  # "ok (what was not checked)": ok, with a note under the table.
		  if (res == "ok" && NF > 5) { res = "ok*"; n = $0; sub(/^RESULT [^ ]+ [^ ]+ [^ ]+ ok /, "", n)
		    notes[++nn] = label " " scen ": " n }
		  if (!(label in seen)) { seen[label] = 1; labels[++nl] = label }
		  if (!(scen in sseen)) { sseen[scen] = 1; scens[++ns] = scen }
		  cell[label, scen] = res }
		END { if (!nl) exit
		  printf "  %-22s", "interpreter"; for (j = 1; j <= ns; j++) printf " %-11s", scens[j]; print ""
		  for (i = 1; i <= nl; i++) { printf "  %-22s", labels[i]
		    for (j = 1; j <= ns; j++) { c = cell[labels[i], scens[j]]; printf " %-11s", c == "" ? "-" : c }
		    print "" }
		  for (k = 1; k <= nn; k++) print "  * " notes[k] }'
	# Check's own summary lines, per test program.
	local sums
	sums=$(grep -E '^[0-9]+%: Checks: [0-9]+, Failures: [0-9]+, Errors: [0-9]+' "$dir/meson-logs/testlog.txt")
	echo "$sums" | sed "s|^|  $dir: |"
	local p=0 f=0
	while read -r line; do
		[ -z "$line" ] && continue
		local n fl er
		n=$(echo "$line" | sed -E 's/.*Checks: ([0-9]+).*/\1/')
		fl=$(echo "$line" | sed -E 's/.*Failures: ([0-9]+).*/\1/')
		er=$(echo "$line" | sed -E 's/.*Errors: ([0-9]+).*/\1/')
		p=$((p + n - fl - er))
		f=$((f + fl + er))
	done <<<"$sums"
	if [ $rc -ne 0 ]; then
		status=1
		grep -E '^ *[0-9]+/[0-9]+ .*(FAIL|TIMEOUT|ERROR)' "$dir.test.log" | sed 's/^/  /'
		# A program that crashed or timed out before Check's summary
		# still counts as a failure.
		[ $f -eq 0 ] && f=1
		grep -E ':[EF]:' "$dir/meson-logs/testlog.txt" | head -40 | sed 's/^/  /'
	fi
	passed=$((passed + p))
	failed=$((failed + f))
}

# The tree follows its .clang-format: every C file, as clang-format would
# write it.
echo "=== format: clang-format --dry-run on every C file"
unformatted=$(git ls-files '*.c' '*.h' 2>/dev/null | while read -r f; do
	clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || echo "$f"
done)
if [ -z "$unformatted" ] && command -v clang-format >/dev/null; then
	passed=$((passed + 1))
else
	echo "$unformatted" | sed 's/^/  not formatted: /'
	failed=$((failed + 1))
	status=1
fi

export CK_VERBOSITY=normal
MULT=1 run_build build
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
MULT=3 run_build build-asan -Db_sanitize=address,undefined -Db_lundef=false \
	-Dc_args=-fno-sanitize-recover=all --buildtype=debug
# The CPython decoder under libFuzzer + ASan + UBSan, from real captures.
echo "=== fuzz: the decoder on mutated memory images (${MSTTOP_FUZZ_SECONDS:-60}s)"
if bash tests/fuzz/run-fuzz.sh build "${MSTTOP_FUZZ_SECONDS:-60}" > build.fuzz.log 2>&1; then
	passed=$((passed + 1))
else
	failed=$((failed + 1))
	status=1
fi
grep -E '^fuzz:|ERROR|SUMMARY' build.fuzz.log | sed 's/^/  /'
echo "$passed passed, $failed failed"
[ $status -eq 0 ] && [ $failed -eq 0 ]
