/* The one-line error messages every module fills for its caller. */
#include "msttop/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int mst_err_set(struct mst_err *err, int code, const char *fmt, ...)
{
	if (!err)
		return code;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	err->code = code;
	return code;
}

int mst_err_prefix(struct mst_err *err, const char *fmt, ...)
{
	if (!err)
		return 0;
	char head[MST_ERR_MSG_MAX], old[MST_ERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(head, sizeof(head), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	/* Assembled by hand: both parts may fill the buffer, and the result is
	 * meant to be cut at its end. */
	size_t hl = strnlen(head, sizeof(err->msg) - 3);
	memcpy(err->msg, head, hl);
	memcpy(err->msg + hl, ": ", 2);
	size_t room = sizeof(err->msg) - hl - 3;
	size_t ol = strnlen(old, room);
	memcpy(err->msg + hl + 2, old, ol);
	err->msg[hl + 2 + ol] = '\0';
	return err->code;
}

void mst_err_clear(struct mst_err *err)
{
	if (err) {
		err->code = 0;
		err->msg[0] = '\0';
	}
}
