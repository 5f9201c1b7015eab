#!/bin/sh
# Compiler and linker flags for tests/targets/embed.c: the newest pyenv
# CPython (else the system's python3-config), with an rpath so the test
# binary finds its libpython. Line 1: cflags, line 2: ldflags (without any
# rpath), line 3: the library directory, for meson's build_rpath.
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
