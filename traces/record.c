/* SPDX-License-Identifier: MIT */
/* traces record: run a command under valgrind lackey and convert as it streams. */
/*
 * valgrind --tool=lackey --trace-mem=yes --log-fd=N COMMAND...
 *
 * The trace goes to valgrind's log, which is the write end of a pipe the
 * child inherits as descriptor N (valgrind moves it out of the program's
 * way), so the program's own stdout and stderr stay as they are and never
 * mix into the trace. This process reads the other end with the lackey
 * reader and feeds the binary writer: the text exists only in the pipe's
 * buffer. valgrind's own messages on the log ("==PID== ...") are skipped
 * and counted, as in any lackey text.
 *
 * lackey traces the one process valgrind starts: a program that execs
 * another (a shell wrapper, a pyenv shim) is traced up to the exec only,
 * so record the real executable.
 */
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "traces/traces_internal.h"

static double rec_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* In the child: exec valgrind with the log on wfd. Never returns. */
static void rec_child(char *const argv[], const char *valgrind, int wfd)
{
	char logfd[32];
	size_t n = 0;
	char **args;
	int fd = dup(wfd); /* a copy without close-on-exec */

	while (argv[n])
		n++;
	args = calloc(n + 5, sizeof(*args));
	if (fd < 0 || !args)
		_exit(127);
	snprintf(logfd, sizeof(logfd), "--log-fd=%d", fd);
	args[0] = (char *)valgrind;
	args[1] = "--tool=lackey";
	args[2] = "--trace-mem=yes";
	args[3] = logfd;
	for (size_t i = 0; i < n; i++)
		args[4 + i] = argv[i];
	execvp(valgrind, args);
	fprintf(stderr, "memvisor trace record: %s: %s\n", valgrind, strerror(errno));
	_exit(127);
}

static int rec_meta(struct trace_writer *w, char *const argv[], const struct trace_record_stats *st,
		    pid_t pid, const struct trace_lackey *lk)
{
	char cmd[2048] = "", num[64];
	size_t len = 0;
	int e;

	for (size_t i = 0; argv[i] && len + 2 < sizeof(cmd); i++)
		len +=
		    (size_t)snprintf(cmd + len, sizeof(cmd) - len, "%s%s", i ? " " : "", argv[i]);
	for (char *p = cmd; *p; p++)
		if (*p == '\n')
			*p = ' ';
	if ((e = trace_writer_meta(w, "source", "lackey")) ||
	    (e = trace_writer_meta(w, "command", cmd)))
		return e;
	snprintf(num, sizeof(num), "%d", (int)pid);
	if ((e = trace_writer_meta(w, "pid", num)))
		return e;
	snprintf(num, sizeof(num), "%d", st->signal ? 128 + st->signal : st->status);
	if ((e = trace_writer_meta(w, "exit_status", num)))
		return e;
	snprintf(num, sizeof(num), "%.3f", st->seconds);
	if ((e = trace_writer_meta(w, "record_seconds", num)))
		return e;
	snprintf(num, sizeof(num), "%" PRIu64, trace_lackey_lines(lk));
	if ((e = trace_writer_meta(w, "lackey.lines", num)))
		return e;
	snprintf(num, sizeof(num), "%" PRIu64, trace_lackey_skipped(lk));
	if ((e = trace_writer_meta(w, "lackey.skipped", num)))
		return e;
	snprintf(num, sizeof(num), "%" PRIu64, trace_lackey_bytes(lk));
	return trace_writer_meta(w, "lackey.bytes", num);
}

/* Wait for the child; fill st. */
static void rec_wait(pid_t pid, struct trace_record_stats *st)
{
	int ws;

	while (waitpid(pid, &ws, 0) < 0)
		if (errno != EINTR)
			return;
	if (WIFEXITED(ws))
		st->status = WEXITSTATUS(ws);
	else if (WIFSIGNALED(ws))
		st->signal = WTERMSIG(ws);
}

/* Every record valgrind's lackey output holds, into w, until its end. 0, or
 * -errno with err filled. */
static int rec_pump(struct trace_lackey *lk, struct trace_writer *w, char *err, size_t errlen)
{
	struct trace_rec r;
	int e;

	while ((e = trace_lackey_next(lk, &r)) == 1) {
		e = trace_writer_put(w, &r);
		if (e) {
			util_errf(err, errlen, "%s", trace_writer_error(w));
			return e;
		}
	}
	if (e < 0)
		util_errf(err, errlen, "%s", trace_lackey_error(lk));
	return e;
}

/* Start argv under valgrind lackey, its output into a pipe whose read end
 * is fds[0]. The child's pid, or -errno with err filled. */
static pid_t rec_spawn(char *const argv[], const char *valgrind, int fds[2], char *err,
		       size_t errlen)
{
	pid_t pid;
	int e;

	if (pipe2(fds, O_CLOEXEC)) {
		e = -errno;
		util_errf(err, errlen, "record: pipe: %s", strerror(errno));
		return e;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		e = -errno;
		util_errf(err, errlen, "record: fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return e;
	}
	if (pid == 0)
		rec_child(argv, valgrind, fds[1]);
	close(fds[1]);
	return pid;
}

int trace_record(char *const argv[], const char *out, const struct trace_record_opts *o,
		 struct trace_record_stats *st, char *err, size_t errlen)
{
	const char *valgrind = o && o->valgrind ? o->valgrind : "valgrind";
	struct trace_writer *w = NULL;
	struct trace_lackey *lk = NULL;
	double t0 = rec_now();
	int fds[2], e;
	pid_t pid;

	memset(st, 0, sizeof(*st));
	if (errlen)
		err[0] = 0;
	if (!argv[0] || argv[0][0] == '-') {
		util_errf(err, errlen, "record: no command (or one starting with '-')");
		return -EINVAL;
	}
	w = trace_writer_create(out, o ? &o->wo : NULL, err, errlen);
	if (!w)
		return -errno;
	pid = rec_spawn(argv, valgrind, fds, err, errlen);
	if (pid < 0) {
		trace_writer_destroy(w);
		return (int)pid;
	}
	lk = trace_lackey_open(fds[0], "valgrind lackey output");
	if (!lk) {
		e = -ENOMEM;
		util_errf(err, errlen, "record: out of memory");
		goto kill;
	}
	/* a big pipe and a reader that naps: valgrind writes one line per
	 * write(2); 2 ms of its output fits the pipe many times over */
	fcntl(fds[0], F_SETPIPE_SZ, 1 << 20);
	trace_lackey_nap(lk, 2000);
	e = rec_pump(lk, w, err, errlen);
	if (e)
		goto kill;
	rec_wait(pid, st);
	st->seconds = rec_now() - t0;
	st->conv.records = trace_writer_records(w);
	st->conv.lines = trace_lackey_lines(lk);
	st->conv.skipped = trace_lackey_skipped(lk);
	st->conv.bytes_in = trace_lackey_bytes(lk);
	if (!st->conv.records) {
		e = st->status == 127 ? -ENOENT : -EINVAL;
		util_errf(err, errlen,
			  "record: no trace records from '%s' (exit status %d%s): is valgrind "
			  "installed and the command an executable?",
			  argv[0], st->signal ? 128 + st->signal : st->status,
			  st->signal ? ", killed" : "");
		goto out;
	}
	e = rec_meta(w, argv, st, pid, lk);
	if (!e)
		e = trace_writer_finish(w);
	if (e) {
		util_errf(err, errlen, "%s", trace_writer_error(w));
	} else {
		struct stat sb;

		if (!stat(out, &sb))
			st->conv.bytes_out = (uint64_t)sb.st_size;
	}
	st->conv.seconds = rec_now() - t0;
	goto out;

kill:
	kill(pid, SIGKILL);
	rec_wait(pid, st);
out:
	trace_lackey_close(lk);
	close(fds[0]);
	trace_writer_destroy(w);
	return e;
}
