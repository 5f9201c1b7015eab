/* --batch: the live view's figures as plain text, printed once at the end of
 * a run (like `top -b`): the header, the thread table and the hot frames. */
#ifndef MSTTOP_REPORT_H
#define MSTTOP_REPORT_H

#include <stdio.h>

#include "msttop/sampler.h"

/* limit: hot frames shown (0: 30). Returns 0, -EPIPE or -EIO. */
int mst_report_text(FILE *out, struct mst_sampler *s, size_t limit);

#endif
