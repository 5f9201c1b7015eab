/* Taking a snapshot: for each thread in turn, stop it, copy registers and
 * the top of its stack, walk the native stack, resume it. */
#include "msttop/snapshot.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Enough for deep C stacks and for the CPython eval loop's frames; deeper
 * parts are read from the target as the walk needs them. */
#define STACK_COPY_MAX (256 * 1024)

void mst_read_cmdline(pid_t pid, char *buf, size_t len)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	buf[0] = '\0';
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0) {
		buf[0] = '\0';
		return;
	}
	buf[n] = '\0';
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	while (n > 0 && buf[n - 1] == ' ')
		buf[--n] = '\0';
}

int mst_snapshot_take(struct mst_proc *p, struct mst_unwinder *u, struct mst_snapshot **out,
		      struct mst_err *err)
{
	struct mst_snapshot *s = calloc(1, sizeof(*s));
	uint8_t *stack = malloc(STACK_COPY_MAX);
	size_t nt = mst_proc_ntasks(p);
	if (!s || !stack || !(s->threads = calloc(nt ? nt : 1, sizeof(*s->threads)))) {
		free(stack);
		mst_snapshot_free(s);
		return mst_err_set(err, -ENOMEM, "out of memory");
	}
	s->pid = mst_proc_pid(p);
	mst_read_cmdline(s->pid, s->cmdline, sizeof(s->cmdline));
	int rc = 0;
	size_t alive = 0;
	for (size_t i = 0; i < nt; i++) {
		struct mst_thread_snap *t = &s->threads[s->nthreads++];
		t->tid = mst_proc_task(p, i);
		if (mst_proc_task_info(s->pid, t->tid, t->comm, &t->state) < 0) {
			t->error = -ESRCH;
			snprintf(t->errmsg, sizeof(t->errmsg), "thread has exited");
			continue;
		}
		struct mst_err terr = {0};
		int src = mst_proc_stop(p, t->tid, &t->regs, &terr);
		if (src == -MST_EINTR) {
			rc = mst_err_set(err, src, "interrupted");
			break;
		}
		if (src < 0) {
			t->error = src;
			snprintf(t->errmsg, sizeof(t->errmsg), "%s", terr.msg);
			continue;
		}
		struct mst_stack_copy copy;
		mst_stack_copy_take(p, &t->regs, stack, STACK_COPY_MAX, &copy);
		t->pcs = malloc(MST_MAX_NATIVE_FRAMES * sizeof(*t->pcs));
		if (t->pcs)
			mst_unwind(u, &t->regs, &copy, t->pcs, MST_MAX_NATIVE_FRAMES, &t->npcs, NULL);
		mst_proc_resume(p, t->tid);
		alive++;
	}
	free(stack);
	if (rc == 0 && alive == 0 && access("/proc/self", F_OK) == 0) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d", (int)s->pid);
		if (access(path, F_OK) < 0)
			rc = mst_err_set(err, -ESRCH, "process %d exited during the snapshot",
					 (int)s->pid);
	}
	if (rc < 0) {
		mst_snapshot_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

void mst_snapshot_free(struct mst_snapshot *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nthreads; i++)
		free(s->threads[i].pcs);
	free(s->threads);
	free(s);
}
