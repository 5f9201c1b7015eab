/* Error convention shared by every module: functions return 0 or a negative
 * errno-style code and, when they fail, fill a struct mst_err with a one-line
 * message the caller can show as it is. */
#ifndef MSTTOP_ERR_H
#define MSTTOP_ERR_H

#include <errno.h>

#define MST_ERR_MSG_MAX 512

struct mst_err {
	int code;                  /* negative errno-style code, 0 if none */
	char msg[MST_ERR_MSG_MAX]; /* one line, no trailing newline */
};

/* msttop's own codes, beyond errno's range so they never collide. */
enum {
	MST_ENOPYTHON = 1000,    /* no CPython runtime found in the target */
	MST_EUNSUPPORTED = 1001, /* a CPython version or build we refuse to decode */
	MST_ECORRUPT = 1002,     /* target memory does not look like what we expect */
	MST_EINTR = 1003,        /* interrupted by a signal to msttop */
	MST_EGONE = 1004,        /* the target exited while msttop was opening or reading it */
	MST_ENOTCORE = 1005,     /* --core FILE is not an ELF core file msttop can read */
};

/* Fill err (may be NULL) and return code, which should be negative. */
int mst_err_set(struct mst_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
