/* A cache of decompressed separate debug files.
 *
 * Debian's -dbg/-dbgsym packages ship their DWARF zlib-compressed
 * (SHF_COMPRESSED). libdw inflates every debug section of such a file the
 * first time it is used: for libc6-dbg that is about 15 MB and 40 ms of
 * inflate, more than everything else `msttop --dump` does together. The
 * cache keeps one uncompressed copy per build-id, so only the first run pays.
 *
 * The directory is $MSTTOP_CACHE_DIR, else $XDG_CACHE_HOME/msttop, else
 * $HOME/.cache/msttop; MSTTOP_CACHE_DIR set to "" or "off" turns the cache
 * off. It is used only when it belongs to the effective user and nobody else
 * may write it, and an entry only when its build-id matches. Any failure
 * (read-only home, full disk) falls back to the compressed file. */
#ifndef MSTTOP_DEBUGCACHE_INT_H
#define MSTTOP_DEBUGCACHE_INT_H

#include <stddef.h>

/* The cache directory to use, or "" when the cache is off. Writes at most
 * len bytes into buf and returns buf. */
const char *mst_debugcache_dir(char *buf, size_t len);

/* An fd for the uncompressed debug file of the object with this GNU
 * build-id: the cache's entry, or one made now from the compressed file
 * DEBUG_ROOT/.build-id/xx/yyyy.debug (DEBUG_ROOT is /usr/lib/debug). -1 when there is none (no
 * debug file there, it is not compressed, dir is "" or unusable): then look the usual way. When an
 * fd is returned and path is not NULL, *path is replaced by the entry's malloc'ed name (the old one
 * is freed). */
int mst_debugcache_find(const char *dir, const char *debug_root, const unsigned char *id,
                        size_t idlen, char **path);

/* Remove the oldest entries of dir until it holds at most max_bytes. */
void mst_debugcache_trim(const char *dir, size_t max_bytes);

#endif
