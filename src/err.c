/* The one-line error messages every module fills for its caller. */
#include "msttop/err.h"

#include <stdarg.h>
#include <stdio.h>

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
