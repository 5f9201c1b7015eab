/* Escaping target-controlled text for terminals and JSON. */
#include "msttop/text.h"

#include <stdint.h>
#include <string.h>

size_t mst_utf8_len(const unsigned char *s, uint32_t *cp)
{
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	size_t n;
	uint32_t c;
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2;
		c = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		c = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4;
		c = s[0] & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
	if (c < min[n] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

char *mst_text_escape(const char *in, char *out, size_t len)
{
	size_t o = 0;
	const unsigned char *s = (const unsigned char *)(in ? in : "");
	while (*s && o + 1 < len) {
		uint32_t cp;
		size_t n = mst_utf8_len(s, &cp);
		char esc[12];
		const char *piece;
		size_t plen;
		if (n == 0) {
			snprintf(esc, sizeof(esc), "\\x%02x", *s);
			piece = esc;
			plen = strlen(esc);
			n = 1;
		} else if (cp < 0x20 || cp == 0x7f) {
			snprintf(esc, sizeof(esc), "\\x%02x", (unsigned)cp);
			piece = esc;
			plen = strlen(esc);
		} else if (cp >= 0x80 && cp <= 0x9f) {
			snprintf(esc, sizeof(esc), "\\u%04x", (unsigned)cp);
			piece = esc;
			plen = strlen(esc);
		} else {
			piece = (const char *)s;
			plen = n;
		}
		if (o + plen >= len)
			break; /* cut at a whole character */
		memcpy(out + o, piece, plen);
		o += plen;
		s += n;
	}
	if (len)
		out[o] = '\0';
	return out;
}

void mst_json_string(FILE *f, const char *in)
{
	const unsigned char *s = (const unsigned char *)(in ? in : "");
	while (*s) {
		uint32_t cp;
		size_t n = mst_utf8_len(s, &cp);
		if (n == 0) {
			fprintf(f, "\\u%04x", *s);
			s++;
			continue;
		}
		switch (cp) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		default:
			if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f))
				fprintf(f, "\\u%04x", (unsigned)cp);
			else
				fwrite(s, 1, n, f);
		}
		s += n;
	}
}
