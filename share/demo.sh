#!/bin/bash
# Installs what is missing, builds msttop, starts the bundled demo workload
# on the newest CPython found, and shows msttop on it. The demo stops when
# msttop ends.
set -eu
cd "$(dirname "$0")/.."
sh share/install-deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null

root=${PYENV_ROOT:-$HOME/.pyenv}
py=$(ls -d "$root"/versions/3.* 2>/dev/null | sort -V | tail -1)
py=${py:+$py/bin/python3}
[ -x "${py:-}" ] || py=$(command -v python3)

"$py" share/demo.py --duration 600 &
demo=$!
trap 'kill $demo 2>/dev/null; wait $demo 2>/dev/null' EXIT
sleep 2
if ./build/msttop --help | grep -q -- '--rate'; then
	./build/msttop -p "$demo"
else
	# Until the live view exists: a few snapshots of every thread.
	for i in 1 2 3; do
		./build/msttop --dump -p "$demo"
		sleep 1
	done
fi
