/* See dumpparse.h. */
#include "dumpparse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void parse_frame(const char *line, struct pframe *f)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->raw, sizeof(f->raw), "%s", line);
	const char *p = strstr(line, "(Python) ");
	if (p) {
		f->py = true;
		p += 9;
	} else if ((p = strstr(line, "(C) "))) {
		p += 4;
		p = strchr(p, ' '); /* skip the address */
		p = p ? p + 1 : line;
	} else {
		return;
	}
	const char *at = strstr(p, " at ");
	size_t flen = at ? (size_t)(at - p) : strcspn(p, " ");
	snprintf(f->func, sizeof(f->func), "%.*s", (int)flen, p);
	if (!at)
		return;
	at += 4;
	/* file:line, then optionally " [module]" or " (note)" */
	const char *end = at + strcspn(at, " ");
	const char *colon = NULL;
	for (const char *q = at; q < end; q++)
		if (*q == ':')
			colon = q;
	if (!colon)
		return;
	snprintf(f->file, sizeof(f->file), "%.*s", (int)(colon - at), at);
	f->line = atoi(colon + 1);
}

int pdump_parse(const char *text, struct pdump *out)
{
	memset(out, 0, sizeof(*out));
	if (!text)
		return -1;
	char *copy = strdup(text), *save = NULL;
	size_t headlen = 0;
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "Thread ", 7)) {
			out->t = realloc(out->t, (out->n + 1) * sizeof(*out->t));
			struct pthread_ *t = &out->t[out->n++];
			memset(t, 0, sizeof(*t));
			t->tid = (pid_t)atoi(line + 7);
			snprintf(t->header, sizeof(t->header), "%s", line);
			continue;
		}
		if (!out->n) {
			int w = snprintf(out->head + headlen, sizeof(out->head) - headlen, "%s\n",
			                 line);
			if (w > 0 && headlen + (size_t)w < sizeof(out->head))
				headlen += (size_t)w;
			continue;
		}
		if (strncmp(line, "    (", 5))
			continue; /* source lines and notes */
		struct pthread_ *t = &out->t[out->n - 1];
		t->f = realloc(t->f, (t->n + 1) * sizeof(*t->f));
		parse_frame(line, &t->f[t->n++]);
	}
	free(copy);
	return 0;
}

void pdump_free(struct pdump *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->t[i].f);
	free(d->t);
	memset(d, 0, sizeof(*d));
}

const struct pthread_ *pdump_thread(const struct pdump *d, pid_t tid)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->t[i].tid == tid)
			return &d->t[i];
	return NULL;
}

size_t pdump_py(const struct pthread_ *t, const struct pframe **out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; t && i < t->n && n < max; i++)
		if (t->f[i].py)
			out[n++] = &t->f[i];
	return n;
}
