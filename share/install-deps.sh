#!/bin/sh
# Installs, from Debian's packages, whatever msttop needs to build and test
# and is not installed yet. Idempotent; silent when everything is present.
set -eu

# clang-format: run-tests.sh checks that the tree follows .clang-format.
# patchelf: share/tools/get-debian-pythons.sh runs Debian unstable's 3.14/3.15
# from a private sysroot.
# libc6-dbg: file:line and inlined calls for libc's frames (its DWARF comes
# compressed, which the debug cache is for); without it libc frames show
# function names only.
# zlib1g-dev: pprof recordings are gzipped. The recording tests read every
# format back: protobuf-compiler and golang-github-google-pprof-dev (protoc
# and pprof's profile.proto) decode pprof files; chromium opens the SVG and
# the speedscope viewer; nodejs/npm install that viewer and a JSON schema
# validator (tests/record/package.json).
PKGS="gcc g++ libc6-dev meson ninja-build pkg-config
      libunwind-dev libdw-dev libelf-dev libncurses-dev uthash-dev libiberty-dev check
      elfutils tmux python3 procps bc clang libclang-rt-14-dev valgrind libc6-dbg
      patchelf clang-format zlib1g-dev"
if [ "${MSTTOP_DEPS:-}" != build ]; then
	PKGS="$PKGS protobuf-compiler golang-github-google-pprof-dev chromium"
	command -v npm >/dev/null 2>&1 || PKGS="$PKGS npm"
fi

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

SUDO=""
if [ "$(id -u)" != 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=sudo
	else
		echo "install-deps: need root to install:$missing" >&2
		exit 1
	fi
fi
echo "install-deps: installing:$missing"
$SUDO apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
