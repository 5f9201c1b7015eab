/* Test harness shared by every suite: discovers the installed interpreters,
 * starts targets with a readiness handshake and a timeout, and always kills
 * what it started (also when the test process dies: PR_SET_PDEATHSIG).
 *
 * Readiness protocol: a target prints one line starting with "ready" on its
 * stdout (optionally followed by " key=value" words) and flushes, then runs
 * until killed. Targets also exit by themselves after a safety timeout. */
#ifndef MSTTOP_TEST_HARNESS_H
#define MSTTOP_TEST_HARNESS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct mst_interp {
	char label[64];      /* "3.11.7 pyenv", "3.11 system" */
	char path[PATH_MAX]; /* the interpreter executable */
	int major, minor;
	bool system; /* Debian's /usr/bin/python3.N */
};

/* Every CPython 3.x found: $MSTTOP_TEST_PYTHONS (paths separated by ':' or
 * spaces) when set, else $PYENV_ROOT/versions/3.* /bin/python3 (PYENV_ROOT
 * defaults to ~/.pyenv) and /usr/bin/python3.N. Sorted by version; the
 * result is cached for the process. Returns the count. */
size_t mst_test_interps(const struct mst_interp **out);
/* $PYENV_ROOT/versions (PYENV_ROOT defaults to ~/.pyenv) into buf. */
void mst_pyenv_versions(char *buf, size_t len);
/* The libpython*.so.1.0 of a pyenv interpreter (malloc'd), or NULL. */
char *mst_libpython_of(const struct mst_interp *py);
/* Path of prog in $PATH (malloc'd), or NULL. */
char *mst_which(const char *prog);

struct mst_child {
	pid_t pid;
	int out_fd;      /* the target's stdout, after the ready line */
	char ready[512]; /* the ready line, without the newline */
};

/* Start argv (argv[0] a path) in its own process group with stdout on a pipe,
 * wait up to timeout_ms for the ready line. Returns 0, or -1 with a message on
 * stderr (the target is then already killed). */
int mst_child_start(struct mst_child *t, char *const argv[], int timeout_ms);
/* Convenience: interpreter + script from the source tree + extra args. */
int mst_child_start_py(struct mst_child *t, const struct mst_interp *py, const char *script,
                       const char *arg, int timeout_ms);
/* SIGKILL the target's process group and reap it. Safe to call twice. */
void mst_child_stop(struct mst_child *t);
/* Value of "key=value" in the ready line into buf; 0 or -1. */
int mst_child_ready_value(const struct mst_child *t, const char *key, char *buf, size_t len);

/* Absolute path of a file in the source tree (tests/targets/x.py) or of a
 * built file in the build tree (tests/targets/native_chain). Static buffer
 * per call site is not used: returns a malloc'd string the caller frees. */
char *mst_src_path(const char *rel);
char *mst_build_path(const char *rel);

/* The 1-based number of the line in file holding the text "MARK: name"
 * (a comment in a target), or -1. Lets tests check line numbers without
 * hard-coding them. */
int mst_marker_line(const char *file, const char *name);

/* Run a command (argv) with a timeout; capture stdout and stderr into malloc'd
 * strings (may be NULL). Returns the exit status as from waitpid, or -1. */
int mst_run(char *const argv[], int timeout_ms, char **out, char **errout);

/* Start argv in its own process group with stdout (and stderr when err_fd
 * is not NULL) on pipes; signals are safe across the fork. The caller reaps. */
pid_t mst_spawn(char *const argv[], int *out_fd, int *err_fd);

/* Wait until every thread of pid is asleep (S) in /proc: a target prints
 * its ready line just before its last call, so this is when its frames are
 * final. Returns 0, or -1 after timeout_ms. */
int mst_wait_all_sleeping(pid_t pid, int timeout_ms);
/* The same for any state letter ('T': every thread stopped). */
int mst_wait_all_state(pid_t pid, char state, int timeout_ms);

/* msttop must leave no thread of its target held. One pass over the tasks
 * of pid: 1 with the first one found stopped (t/T) or traced described in
 * what, else 0 (a task that ended, or a gone process, does not count). */
int mst_task_held(pid_t pid, char *what, size_t len);
/* The same, given up to half a second for /proc to agree (detaching ends
 * before msttop exits, and churning threads come and go): 0 once no task
 * is held, 1 if one still is (described in what). */
int mst_wait_none_held(pid_t pid, char *what, size_t len);
/* In a Check test: abort it unless no task of pid is stopped or traced
 * (threads may come and go by the thousand: /proc gets half a second). */
#define MST_ASSERT_FREE(pid)                                                                       \
	do {                                                                                       \
		char what_[128] = "";                                                              \
		if (mst_wait_none_held((pid), what_, sizeof(what_)))                               \
			ck_abort_msg("%s", what_);                                                 \
	} while (0)

/* Monotonic milliseconds. */
long mst_now_ms(void);

/* Run `msttop --dump -p PID` with up to three extra options; returns the
 * malloc'd stdout and sets *code to the exit code. */
char *mst_msttop_dump(pid_t pid, const char *o1, const char *o2, const char *o3, int *code);

/* Exit code of a waitpid status, or 128+signal. */
int mst_exit_code(int status);

#endif
