/* Test harness: interpreter discovery, targets with a readiness handshake,
 * and cleanup of everything a test starts. */
#include "harness.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef MSTTOP_SOURCE_ROOT
#error "MSTTOP_SOURCE_ROOT must be defined by the build"
#endif
#ifndef MSTTOP_BUILD_ROOT
#error "MSTTOP_BUILD_ROOT must be defined by the build"
#endif

long mst_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

char *mst_src_path(const char *rel)
{
	const char *root = getenv("MSTTOP_SOURCE_ROOT");
	char *p = NULL;
	if (asprintf(&p, "%s/%s", root && *root ? root : MSTTOP_SOURCE_ROOT, rel) < 0)
		abort();
	return p;
}

char *mst_build_path(const char *rel)
{
	char *p = NULL;
	if (asprintf(&p, "%s/%s", MSTTOP_BUILD_ROOT, rel) < 0)
		abort();
	return p;
}

/* Ask the interpreter for its version: the only answer that cannot lie. */
static int probe_version(const char *path, int *major, int *minor, char *full, size_t len)
{
	char *argv[] = {(char *)path, "-c",
	                "import sys; print('%d %d %s' % (sys.version_info[0], "
	                "sys.version_info[1], sys.version.split()[0]))",
	                NULL};
	char *out = NULL;
	int st = mst_run(argv, 20000, &out, NULL);
	int ok = st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 && out &&
	         sscanf(out, "%d %d %63s", major, minor, full) == 3;
	(void)len;
	free(out);
	return ok ? 0 : -1;
}

static struct mst_interp *interps;
static size_t ninterps;
static int interps_done;

/* Where share/tools/get-debian-pythons.sh keeps Debian unstable's 3.14+. */
static bool debian_sysroot_path(const char *real)
{
	return strstr(real, "/msttop-pythons/sysroot/") != NULL;
}

static void add_interp(const char *path, bool sys)
{
	if (access(path, X_OK) < 0)
		return;
	char real[PATH_MAX];
	if (!realpath(path, real))
		return;
	for (size_t i = 0; i < ninterps; i++)
		if (!strcmp(interps[i].path, real))
			return;
	int major, minor;
	char full[64];
	if (probe_version(real, &major, &minor, full, sizeof(full)) < 0 || major != 3)
		return;
	interps = realloc(interps, (ninterps + 1) * sizeof(*interps));
	struct mst_interp *it = &interps[ninterps++];
	memset(it, 0, sizeof(*it));
	snprintf(it->path, sizeof(it->path), "%s", real);
	snprintf(it->label, sizeof(it->label), "%.40s %s", full,
	         debian_sysroot_path(real) ? "debian"
	         : sys                     ? "system"
	                                   : "pyenv");
	it->major = major;
	it->minor = minor;
	it->system = sys;
}

static int cmp_interp(const void *a, const void *b)
{
	const struct mst_interp *x = a, *y = b;
	if (x->minor != y->minor)
		return x->minor - y->minor;
	return (int)x->system - (int)y->system;
}

void mst_pyenv_versions(char *buf, size_t len)
{
	const char *root = getenv("PYENV_ROOT");
	if (root && *root)
		snprintf(buf, len, "%s/versions", root);
	else
		snprintf(buf, len, "%s/.pyenv/versions", getenv("HOME") ? getenv("HOME") : "/root");
}

char *mst_which(const char *prog)
{
	const char *env = getenv("PATH");
	char *dirs = strdup(env && *env ? env : "/usr/local/bin:/usr/bin:/bin");
	char *found = NULL;
	for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d && !found;
	     d = strtok_r(NULL, ":", &save)) {
		char *p = NULL;
		if (asprintf(&p, "%s/%s", d, prog) < 0)
			abort();
		if (access(p, X_OK) == 0)
			found = p;
		else
			free(p);
	}
	free(dirs);
	return found;
}

char *mst_libpython_of(const struct mst_interp *py)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", py->path);
	char *slash = strrchr(dir, '/');
	if (!slash)
		return NULL;
	*slash = '\0';
	slash = strrchr(dir, '/');
	if (!slash)
		return NULL;
	strcpy(slash, "/lib");
	DIR *d = opendir(dir);
	char *found = NULL;
	struct dirent *de;
	while (d && !found && (de = readdir(d)))
		if (!strncmp(de->d_name, "libpython3", 10) && strstr(de->d_name, ".so.1.0"))
			if (asprintf(&found, "%s/%s", dir, de->d_name) < 0)
				abort();
	if (d)
		closedir(d);
	return found;
}

size_t mst_test_interps(const struct mst_interp **out)
{
	if (!interps_done) {
		interps_done = 1;
		const char *env = getenv("MSTTOP_TEST_PYTHONS");
		if (env && *env) {
			char *copy = strdup(env), *save = NULL;
			for (char *t = strtok_r(copy, ": ", &save); t;
			     t = strtok_r(NULL, ": ", &save))
				add_interp(t, strncmp(t, "/usr/", 5) == 0);
			free(copy);
		} else {
			char dir[PATH_MAX];
			mst_pyenv_versions(dir, sizeof(dir));
			DIR *d = opendir(dir);
			struct dirent *de;
			while (d && (de = readdir(d))) {
				if (strncmp(de->d_name, "3.", 2))
					continue;
				char p[PATH_MAX + 300];
				snprintf(p, sizeof(p), "%s/%s/bin/python3", dir, de->d_name);
				add_interp(p, false);
			}
			if (d)
				closedir(d);
			for (int minor = 6; minor <= 20; minor++) {
				char p[64];
				snprintf(p, sizeof(p), "/usr/bin/python3.%d", minor);
				add_interp(p, true);
			}
			/* Debian unstable's static, stripped 3.14 and 3.15 (run-tests.sh
			 * fetches them and fails when it cannot). */
			const char *deb = getenv("MSTTOP_DEBIAN_PYTHONS");
			if (deb && *deb) {
				char *copy = strdup(deb), *save = NULL;
				for (char *t = strtok_r(copy, ": ", &save); t;
				     t = strtok_r(NULL, ": ", &save)) {
					size_t before = ninterps;
					add_interp(t, true);
					if (ninterps == before) {
						fprintf(stderr,
						        "MSTTOP_DEBIAN_PYTHONS names %s, which "
						        "does not run\n",
						        t);
						abort();
					}
				}
				free(copy);
			}
		}
		qsort(interps, ninterps, sizeof(*interps), cmp_interp);
	}
	*out = interps;
	return ninterps;
}

pid_t mst_spawn(char *const argv[], int *out_fd, int *err_fd)
{
	int po[2], pe[2] = {-1, -1};
	if (pipe2(po, O_CLOEXEC) < 0)
		return -1;
	if (err_fd && pipe2(pe, O_CLOEXEC) < 0)
		return -1;
	pid_t parent = getpid();
	/* Until exec, the child runs the test runner's signal handlers (Check
	 * kills its whole process group from them): block signals across the
	 * fork and restore the defaults in the child before unblocking. */
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid_t pid = fork();
	if (pid < 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		return -1;
	}
	if (pid == 0) {
		for (int sig = 1; sig < NSIG; sig++)
			signal(sig, SIG_DFL);
		sigprocmask(SIG_SETMASK, &old, NULL);
		setpgid(0, 0);
		/* The target dies with the test process, whatever kills it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		dup2(po[1], 1);
		if (err_fd)
			dup2(pe[1], 2);
		int dn = open("/dev/null", O_RDONLY);
		if (dn >= 0)
			dup2(dn, 0);
		execv(argv[0], argv);
		fprintf(stderr, "cannot exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	setpgid(pid, pid);
	close(po[1]);
	*out_fd = po[0];
	if (err_fd) {
		close(pe[1]);
		*err_fd = pe[0];
	}
	return pid;
}

int mst_child_start(struct mst_child *t, char *const argv[], int timeout_ms)
{
	memset(t, 0, sizeof(*t));
	t->pid = mst_spawn(argv, &t->out_fd, NULL);
	if (t->pid < 0) {
		fprintf(stderr, "harness: cannot start %s\n", argv[0]);
		return -1;
	}
	long deadline = mst_now_ms() + timeout_ms;
	size_t len = 0;
	char buf[4096];
	for (;;) {
		long left = deadline - mst_now_ms();
		if (left <= 0)
			break;
		struct pollfd pfd = {t->out_fd, POLLIN, 0};
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		ssize_t n = read(t->out_fd, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		char *line = buf;
		char *nl;
		while ((nl = strchr(line, '\n'))) {
			*nl = '\0';
			if (!strncmp(line, "ready", 5)) {
				snprintf(t->ready, sizeof(t->ready), "%s", line);
				return 0;
			}
			line = nl + 1;
		}
		memmove(buf, line, strlen(line) + 1);
		len = strlen(buf);
		if (len >= sizeof(buf) - 1)
			len = 0;
	}
	fprintf(stderr, "harness: %s did not print its ready line within %d ms\n", argv[0],
	        timeout_ms);
	mst_child_stop(t);
	return -1;
}

int mst_child_start_py(struct mst_child *t, const struct mst_interp *py, const char *script,
                       const char *arg, int timeout_ms)
{
	char *path = mst_src_path(script);
	char *argv[] = {(char *)py->path, "-u", path, (char *)arg, NULL};
	int rc = mst_child_start(t, argv, timeout_ms);
	free(path);
	return rc;
}

void mst_child_stop(struct mst_child *t)
{
	if (t->pid > 0) {
		kill(-t->pid, SIGKILL);
		kill(t->pid, SIGKILL);
		while (waitpid(t->pid, NULL, 0) < 0 && errno == EINTR)
			;
		t->pid = 0;
	}
	if (t->out_fd > 0) {
		close(t->out_fd);
		t->out_fd = 0;
	}
}

int mst_child_ready_value(const struct mst_child *t, const char *key, char *buf, size_t len)
{
	size_t kl = strlen(key);
	for (const char *p = t->ready; (p = strstr(p, key)); p += kl) {
		if ((p == t->ready || p[-1] == ' ') && p[kl] == '=') {
			size_t n = strcspn(p + kl + 1, " ");
			snprintf(buf, len, "%.*s", (int)n, p + kl + 1);
			return 0;
		}
	}
	return -1;
}

int mst_marker_line(const char *file, const char *name)
{
	FILE *f = fopen(file, "r");
	if (!f)
		return -1;
	char line[4096], want[256];
	snprintf(want, sizeof(want), "MARK: %s", name);
	size_t wl = strlen(want);
	int n = 0, found = -1;
	while (fgets(line, sizeof(line), f)) {
		n++;
		char *p = strstr(line, want);
		/* Whole marker name: "MARK: call_b" must not match "MARK: call_bb". */
		if (p && !isalnum((unsigned char)p[wl]) && p[wl] != '_') {
			found = n;
			break;
		}
	}
	fclose(f);
	return found;
}

static char *drain(int fd, long deadline, pid_t pid, int *status, int fd2, char **out2)
{
	size_t len = 0, cap = 4096, len2 = 0, cap2 = 4096;
	char *buf = malloc(cap), *buf2 = fd2 >= 0 ? malloc(cap2) : NULL;
	bool open1 = true, open2 = fd2 >= 0;
	while (open1 || open2) {
		long left = deadline - mst_now_ms();
		if (left <= 0)
			break;
		struct pollfd pfd[2] = {{open1 ? fd : -1, POLLIN, 0},
		                        {open2 ? fd2 : -1, POLLIN, 0}};
		if (poll(pfd, 2, (int)left) <= 0)
			continue;
		if (open1 && pfd[0].revents) {
			if (cap - len < 1024)
				buf = realloc(buf, cap *= 2);
			ssize_t n = read(fd, buf + len, cap - len - 1);
			if (n <= 0)
				open1 = false;
			else
				len += (size_t)n;
		}
		if (open2 && pfd[1].revents) {
			if (cap2 - len2 < 1024)
				buf2 = realloc(buf2, cap2 *= 2);
			ssize_t n = read(fd2, buf2 + len2, cap2 - len2 - 1);
			if (n <= 0)
				open2 = false;
			else
				len2 += (size_t)n;
		}
	}
	buf[len] = '\0';
	if (buf2)
		buf2[len2] = '\0';
	if (out2)
		*out2 = buf2;
	else
		free(buf2);
	/* Reap, killing it if it outlived the deadline. */
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR) {
			*status = -1;
			break;
		}
		if (mst_now_ms() > deadline) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			waitpid(pid, status, 0);
			*status = -1;
			break;
		}
		usleep(2000);
	}
	return buf;
}

int mst_run(char *const argv[], int timeout_ms, char **out, char **errout)
{
	int ofd, efd;
	pid_t pid = mst_spawn(argv, &ofd, &efd);
	if (pid < 0)
		return -1;
	int status = -1;
	char *e = NULL;
	char *o = drain(ofd, mst_now_ms() + timeout_ms, pid, &status, efd, &e);
	close(ofd);
	close(efd);
	if (out)
		*out = o;
	else
		free(o);
	if (errout)
		*errout = e;
	else
		free(e);
	return status;
}

int mst_exit_code(int status)
{
	if (status < 0)
		return -1;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return -1;
}

int mst_task_held(pid_t pid, char *what, size_t len)
{
	char dir[64];
	snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	int held = 0;
	struct dirent *de;
	while (!held && (de = readdir(d))) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		char path[300], buf[4096];
		snprintf(path, sizeof(path), "%s/%s/status", dir, de->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue; /* a thread that just ended */
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		const char *st = strstr(buf, "\nState:\t");
		const char *tp = strstr(buf, "\nTracerPid:\t");
		if (st && (st[8] == 'Z' || st[8] == 'X'))
			continue;
		if (st && (st[8] == 't' || st[8] == 'T')) {
			snprintf(what, len, "thread %s of %d is left stopped (%c)", de->d_name,
			         (int)pid, st[8]);
			held = 1;
		} else if (tp && atoi(tp + 12) != 0) {
			snprintf(what, len, "thread %s of %d is still traced by %d", de->d_name,
			         (int)pid, atoi(tp + 12));
			held = 1;
		}
	}
	closedir(d);
	return held;
}

int mst_wait_none_held(pid_t pid, char *what, size_t len)
{
	for (int attempt = 0; attempt < 50; attempt++) {
		if (!mst_task_held(pid, what, len))
			return 0;
		usleep(10000);
	}
	return 1;
}

int mst_wait_all_sleeping(pid_t pid, int timeout_ms)
{
	return mst_wait_all_state(pid, 'S', timeout_ms);
}

int mst_wait_all_state(pid_t pid, char state, int timeout_ms)
{
	long deadline = mst_now_ms() + timeout_ms;
	char dir[64];
	snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
	do {
		DIR *d = opendir(dir);
		if (!d)
			return -1;
		bool all = true;
		struct dirent *de;
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			char path[300], buf[512];
			snprintf(path, sizeof(path), "%s/%s/stat", dir, de->d_name);
			FILE *f = fopen(path, "r");
			if (!f)
				continue;
			size_t n = fread(buf, 1, sizeof(buf) - 1, f);
			fclose(f);
			buf[n] = '\0';
			char *rp = strrchr(buf, ')');
			if (!rp || rp[2] != state)
				all = false;
		}
		closedir(d);
		if (all)
			return 0;
		usleep(10000);
	} while (mst_now_ms() < deadline);
	return -1;
}

char *mst_msttop_dump(pid_t pid, const char *o1, const char *o2, const char *o3, int *code)
{
	char *bin = mst_build_path("msttop");
	char pids[32];
	snprintf(pids, sizeof(pids), "%d", (int)pid);
	char *argv[8] = {bin, "--dump", "-p", pids};
	int n = 4;
	if (o1)
		argv[n++] = (char *)o1;
	if (o2)
		argv[n++] = (char *)o2;
	if (o3)
		argv[n++] = (char *)o3;
	argv[n] = NULL;
	char *out = NULL, *err = NULL;
	*code = mst_exit_code(mst_run(argv, 60000, &out, &err));
	if (*code != 0)
		fprintf(stderr, "msttop --dump -p %s exited %d: %s\n", pids, *code, err ? err : "");
	free(err);
	free(bin);
	return out;
}
