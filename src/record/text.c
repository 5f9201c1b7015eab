/* Text the writers share: frame labels, JSON and XML escaping, and the
 * write status of a file. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "msttop/text.h"
#include "record-int.h"

const char *const rec_state_names[REC_ST_N] = {"holds GIL", "waits for GIL", "in GC", "idle"};

unsigned rec_states_of(uint32_t ts)
{
	unsigned s = 0;
	if (ts & MST_TS_HOLDS_GIL)
		s |= 1u << REC_ST_GIL;
	/* Dropping the GIL is waiting for the next holder to take it. */
	if (ts & (MST_TS_WAITS_GIL | MST_TS_DROPS_GIL))
		s |= 1u << REC_ST_WAIT;
	if (ts & MST_TS_IN_GC)
		s |= 1u << REC_ST_GC;
	if (ts & MST_TS_IDLE)
		s |= 1u << REC_ST_IDLE;
	return s;
}

const char *rec_base_name(const char *path)
{
	const char *b = strrchr(path, '/');
	return b ? b + 1 : path;
}

/* The folded format has no quoting: a ';' would split the frame and a
 * newline the line. */
static void clean(char *s)
{
	for (; *s; s++)
		if (*s == ';' || *s == '\n' || *s == '\r')
			*s = *s == ';' ? ':' : ' ';
}

void rec_frame_label(const struct rec_frame *fr, char *buf, size_t len)
{
	const char *fn = fr->function[0] ? fr->function : "??";
	if (fr->kind == REC_PYTHON) {
		if (fr->line)
			snprintf(buf, len, "%s (%s:%u)", fn, fr->file, (unsigned)fr->line);
		else
			snprintf(buf, len, "%s (%s)", fn, fr->file);
	} else if (fr->module[0]) {
		snprintf(buf, len, "%s [%s]", fn, rec_base_name(fr->module));
	} else {
		snprintf(buf, len, "%s", fn);
	}
	clean(buf);
}

void rec_thread_label(const struct rec_thread *t, char *buf, size_t len)
{
	/* Threads of several processes: "pid/tid name", as ps -L would
	 * pair them. */
	if (t->show_pid)
		snprintf(buf, len, "%d/%d %s", (int)t->pid, (int)t->tid,
		         t->name[0] ? t->name : "thread");
	else
		snprintf(buf, len, "%s (tid %d)", t->name[0] ? t->name : "thread", (int)t->tid);
	clean(buf);
}

size_t rec_utf8_len(const unsigned char *p)
{
	uint32_t cp;
	return mst_utf8_len(p, &cp);
}

void rec_xml_str(FILE *f, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '&':
			fputs("&amp;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		case '\'':
			fputs("&apos;", f);
			break;
		default:
			/* XML 1.0 allows no control characters but tab and
			 * newlines; invalid UTF-8 would make the file unreadable,
			 * so such a byte becomes '?'. */
			if (*p < 0x20 && *p != '\t' && *p != '\n')
				continue;
			if (*p >= 0x80) {
				size_t n = rec_utf8_len(p);
				if (n) {
					fwrite(p, 1, n, f);
					p += n - 1;
				} else {
					fputc('?', f);
				}
				continue;
			}
			fputc(*p, f);
		}
	}
}

int rec_check_write(FILE *f, const char *what, struct mst_err *err)
{
	if (fflush(f) == 0 && !ferror(f))
		return 0;
	int e = errno ? errno : EIO;
	return mst_err_set(err, -e, "cannot write the %s: %s", what, strerror(e));
}
