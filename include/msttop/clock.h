/* The one clock msttop measures time with: CLOCK_MONOTONIC in nanoseconds
 * (sampling schedules, pauses, timeouts, redraws). */
#ifndef MSTTOP_CLOCK_H
#define MSTTOP_CLOCK_H

#include <stdint.h>
#include <time.h>

#define MST_NS_PER_S 1000000000ull

static inline uint64_t mst_clock_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * MST_NS_PER_S + (uint64_t)ts.tv_nsec;
}

#endif
