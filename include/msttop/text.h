/* Showing text that comes from the target safely: function, file and thread
 * names may hold control characters or terminal escape sequences. */
#ifndef MSTTOP_TEXT_H
#define MSTTOP_TEXT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Length of the well-formed UTF-8 sequence at s (no overlong forms,
 * surrogates or code points past U+10FFFF), with its code point in *cp;
 * 0 if it is not one. */
size_t mst_utf8_len(const unsigned char *s, uint32_t *cp);

/* Copy in to out (size len, always NUL-terminated), replacing C0 and C1
 * control characters and DEL with "\xNN" (C1 as "\u0085"-style escapes)
 * and invalid UTF-8 bytes with "\xNN". Valid UTF-8 passes through. Returns
 * out. */
char *mst_text_escape(const char *in, char *out, size_t len);

/* Write s to f as the body of a JSON string (no quotes): escaped per RFC
 * 8259, invalid UTF-8 bytes as \u00NN of the byte. */
void mst_json_string(FILE *f, const char *s);

#endif
