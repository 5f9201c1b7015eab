#!/bin/sh
# Compiler and linker flags for tests/targets/embed.c: the newest pyenv
# CPython (else the system's python3-config), with an rpath so the test
# binary finds its libpython. Line 1: cflags, line 2: ldflags (without any
# rpath), line 3: the library directory, for meson's build_rpath.
#
# With "debian 3.N": Debian unstable's libpython3.N from the sysroot of
# get-debian-pythons.sh (exit 1 when it is not there). It needs a newer glibc
# than the machine's: the program runs on the sysroot's loader, and the
# link does not check libpython's own glibc symbols against the machine's.
if [ "${1:-}" = debian ]; then
	v=$2
	sysroot=${MSTTOP_PYTHONS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/msttop-pythons}/sysroot
	lib=$sysroot/usr/lib/x86_64-linux-gnu
	[ -f "$sysroot/../complete-v1" ] && [ -f "$lib/libpython$v.so.1.0" ] || exit 1
	echo "-I$sysroot/usr/include/python$v -I$sysroot/usr/include"
	echo "$lib/libpython$v.so.1.0 -Wl,--allow-shlib-undefined -Wl,--dynamic-linker=$lib/ld-linux-x86-64.so.2"
	echo "$lib"
	exit 0
fi
root=${PYENV_ROOT:-$HOME/.pyenv}
pyc=$(ls -d "$root"/versions/3.* 2>/dev/null | sort -V | tail -1)
if [ -n "$pyc" ] && [ -x "$pyc/bin/python3-config" ]; then
	cfg="$pyc/bin/python3-config"
	libdir="$pyc/lib"
else
	cfg=$(command -v python3-config) || exit 1
	libdir=$("$cfg" --prefix)/lib
fi
cflags=$("$cfg" --cflags) || exit 1
ldflags=$("$cfg" --ldflags --embed 2>/dev/null) || ldflags=$("$cfg" --ldflags) || exit 1
echo "$cflags" | tr -s ' ' | sed 's/^ //; s/ $//'
echo "$ldflags" | tr ' ' '\n' | grep -v '^-Wl,-rpath' | grep -v '^$' | tr '\n' ' ' | sed 's/ $//'
echo
echo "$libdir"
