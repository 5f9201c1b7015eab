/* Parsing msttop's text dump back into threads and frames, for the live
 * tests: they check what a user reads. */
#ifndef MSTTOP_TEST_DUMPPARSE_H
#define MSTTOP_TEST_DUMPPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct pframe {
	bool py;
	char func[256];
	char file[1024];
	int line;
	char raw[2048]; /* the whole line */
};

struct pthread_ {
	pid_t tid;
	char header[1024];
	struct pframe *f; /* most recent call last, as printed */
	size_t n;
};

struct pdump {
	char head[2048]; /* the lines before the first thread */
	struct pthread_ *t;
	size_t n;
};

int pdump_parse(const char *text, struct pdump *out);
void pdump_free(struct pdump *d);
const struct pthread_ *pdump_thread(const struct pdump *d, pid_t tid);
/* Python frames of a thread only, into out (max); returns the count. */
size_t pdump_py(const struct pthread_ *t, const struct pframe **out, size_t max);

#endif
