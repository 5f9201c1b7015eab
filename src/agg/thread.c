/* The thread table: one per TID seen, the oldest gone one evicted first. */
#include "agg-int.h"

#include <stdlib.h>
#include <string.h>

/* ---- threads ---- */

void agg_thr_free(struct mst_agg *a, struct thr *t)
{
	agg_rep_flush(a, t); /* the process keeps its counts */
	agg_thr_tables_free(a, t);
	free(t->cache);
	if (t->hh.tbl) {
		HASH_DEL(a->threads, t);
		a->nthreads--;
	}
	free(t);
}

/* Make room for one more thread: evict the least recently seen one not seen
 * in this tick, ended ones first. False when every thread is in this tick,
 * and then at once for the rest of the tick: a target with more threads
 * than the cap would otherwise cost a scan of every thread per thread. */
static bool thr_evict(struct mst_agg *a)
{
	if (a->evict_none_tick == a->tick_no)
		return false;
	struct thr *t, *tmp, *victim = NULL;
	HASH_ITER(hh, a->threads, t, tmp)
	{
		if (t->last_tick == a->tick_no)
			continue;
		if (!victim || (t->ended && !victim->ended) ||
		    (t->ended == victim->ended && t->last_ns < victim->last_ns))
			victim = t;
	}
	if (!victim) {
		a->evict_none_tick = a->tick_no;
		return false;
	}
	agg_thr_free(a, victim);
	a->st.threads_evicted++;
	return true;
}

/* A new thread record, or *out NULL when max_threads are all busy. */
int agg_thr_new(struct mst_agg *a, pid_t tid, struct thr **out)
{
	*out = NULL;
	if (a->nthreads >= a->cfg.max_threads && !thr_evict(a))
		return 0;
	struct thr *t = calloc(1, sizeof(*t) + a->stride * sizeof(struct shr));
	if (!t)
		return -ENOMEM;
	t->tid = tid;
	t->top = MST_AGG_NONE;
	t->first_ns = a->now_ns;
	t->lean = true;
	if (a->cfg.count_each && agg_thr_unlean(a, t) < 0)
		goto fail;
	HASH_ADD(hh, a->threads, tid, sizeof(t->tid), t);
	if (!t->hh.tbl)
		goto fail;
	a->nthreads++;
	*out = t;
	return 0;
fail:
	agg_thr_free(a, t);
	return -ENOMEM;
}

struct thr *agg_thr_find(const struct mst_agg *a, pid_t tid)
{
	struct thr *t;
	HASH_FIND(hh, a->threads, &tid, sizeof(tid), t);
	return t;
}
