#!/bin/bash
# Fetches Debian unstable's CPython 3.14 and 3.15 (interpreter, libpython,
# headers) into a private sysroot, never installing them on the machine, and
# makes the interpreters runnable there with patchelf. The tests read them as
# a user's would be: static, stripped, linked against a newer glibc.
#
# Usage: get-debian-pythons.sh [--print]
#   Idempotent and quiet when the sysroot is complete. With --print, writes
#   the interpreter paths, one a line, on stdout. On failure, one line on
#   stderr saying why, exit 1.
# The sysroot lives in $MSTTOP_PYTHONS_DIR, else
# ${XDG_CACHE_HOME:-~/.cache}/msttop-pythons.
set -u

VERSIONS="3.14 3.15"
ROOT=${MSTTOP_PYTHONS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/msttop-pythons}
SYS=$ROOT/sysroot
LIBDIR=$SYS/usr/lib/x86_64-linux-gnu
STAMP=$ROOT/complete-v1
PRINT=0
[ "${1:-}" = --print ] && PRINT=1

fail() {
	echo "get-debian-pythons: $*" >&2
	exit 1
}

print_paths() {
	[ $PRINT = 1 ] || return 0
	for v in $VERSIONS; do echo "$SYS/usr/bin/python$v"; done
}

if [ -f "$STAMP" ]; then
	print_paths
	exit 0
fi

for tool in apt-get dpkg-deb patchelf; do
	command -v $tool >/dev/null 2>&1 || fail "$tool is missing (share/install-deps.sh installs it)"
done

# The mirror the machine already uses, so the same network path serves both.
MIRROR=$(grep -hE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list \
	/etc/apt/sources.list.d/*.list 2>/dev/null | grep -o 'https\?://[^ ]*/debian\b' | grep -v security | head -1)
[ -n "$MIRROR" ] || MIRROR=http://deb.debian.org/debian

rm -rf "$ROOT.tmp"
APT=$ROOT.tmp/apt
mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial" "$APT/debs" || fail "cannot create $ROOT.tmp"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR unstable main" >"$APT/sources.list"
: >"$APT/status"
OPTS=(-o "Dir::Etc::SourceList=$APT/sources.list" -o Dir::Etc::SourceParts=/dev/null
	-o "Dir::State::Lists=$APT/lists" -o "Dir::Cache=$APT/cache" -o "Dir::State::status=$APT/status"
	-o Debug::NoLocking=1 -o APT::Architecture=amd64 -o Acquire::Retries=3)

apt-get "${OPTS[@]}" -qq update >"$APT/update.log" 2>&1 ||
	fail "apt-get update of Debian unstable ($MIRROR) failed: $(grep -m1 -E '^(E|W):' "$APT/update.log")"

PKGS=""
for v in $VERSIONS; do
	PKGS="$PKGS python$v python$v-minimal libpython$v libpython$v-minimal libpython$v-stdlib libpython$v-dev"
done
# The newer runtime libraries they link against (glibc >= 2.42 above all).
PKGS="$PKGS libc6 libgcc-s1 libffi8 libmpdec4 libssl3t64 zlib1g libexpat1 libzstd1 libbz2-1.0
      liblzma5 libsqlite3-0 libncursesw6 libtinfo6 libreadline8t64 libuuid1"
(cd "$APT/debs" && apt-get "${OPTS[@]}" -qq download $PKGS) >"$APT/download.log" 2>&1 ||
	fail "apt-get download from Debian unstable failed: $(grep -m1 -E '^(E|W):' "$APT/download.log")"

NEW=$ROOT.tmp/sysroot
mkdir -p "$NEW"
for deb in "$APT"/debs/*.deb; do
	dpkg-deb -x "$deb" "$NEW" || fail "dpkg-deb -x $(basename "$deb") failed"
done

# Run each interpreter on the sysroot's loader and libraries. DT_RPATH (not
# RUNPATH) so that the extension modules it dlopens find them too.
NLIB=$NEW/usr/lib/x86_64-linux-gnu
LDSO=$NLIB/ld-linux-x86-64.so.2
[ -e "$LDSO" ] || fail "no dynamic loader in the unstable libc6 package"
for v in $VERSIONS; do
	exe=$NEW/usr/bin/python$v
	[ -x "$exe" ] || fail "python$v is not in the downloaded packages"
	# The paths are the final ones: the directory is renamed below.
	patchelf --set-interpreter "$LIBDIR/ld-linux-x86-64.so.2" --force-rpath --set-rpath "$LIBDIR" "$exe" ||
		fail "patchelf on python$v failed"
done
# libpython for the embedding test: its own dependencies from the sysroot too.
for so in "$NLIB"/libpython3.1[45].so.1.0; do
	patchelf --force-rpath --set-rpath "$LIBDIR" "$so" || fail "patchelf on $(basename "$so") failed"
done

rm -rf "$SYS"
mkdir -p "$ROOT"
mv "$NEW" "$SYS" || fail "cannot move the sysroot into $SYS"
for v in $VERSIONS; do
	out=$("$SYS/usr/bin/python$v" -c 'import sys, ctypes, threading; print(sys.version_info[:2])' 2>&1) ||
		fail "python$v from the sysroot does not run: $out"
done
rm -rf "$ROOT.tmp"
touch "$STAMP"
print_paths
