/* SPDX-License-Identifier: MIT */
/* e2e: the end-to-end suites' shared helpers (see e2e.h). */
#include "tests/e2e/e2e.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

const char *e2e_bin(void)
{
	const char *b = getenv("MEMVISOR_BIN");

	return b ? b : "build/check/memvisor";
}

const char *e2e_src(void)
{
	const char *s = getenv("MEMVISOR_SRC");

	return s ? s : ".";
}

void e2e_mkdtemp(char *dir, size_t size, const char *tmpl)
{
	ck_assert_uint_lt(strlen(tmpl), size);
	strcpy(dir, tmpl);
	ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp %s: %s", tmpl, strerror(errno));
}

void e2e_rmdir(const char *dir)
{
	char cmd[4200];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		perror("rm");
}

const char *e2e_path(const char *dir, const char *name)
{
	static char p[64][4200];
	static unsigned n;

	n = (n + 1) % 64;
	snprintf(p[n], sizeof(p[n]), "%s/%s", dir, name);
	return p[n];
}

const char *e2e_write(const char *dir, const char *name, const char *text)
{
	const char *p = e2e_path(dir, name);
	FILE *f = fopen(p, "w");

	ck_assert_msg(f != NULL, "%s: %s", p, strerror(errno));
	fputs(text, f);
	fclose(f);
	return p;
}

static int run(const char *dir, char *const argv[], bool in_dir)
{
	char o[4200], e[4200];
	pid_t pid;
	int st;

	snprintf(o, sizeof(o), "%s/stdout", dir);
	snprintf(e, sizeof(e), "%s/stderr", dir);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fo = open(o, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int fe = open(e, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (in_dir && chdir(dir))
			_exit(126);
		dup2(fo, 1);
		dup2(fe, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int e2e_run(const char *dir, char *const argv[])
{
	return run(dir, argv, false);
}

int e2e_run_in(const char *dir, char *const argv[])
{
	return run(dir, argv, true);
}

char *e2e_slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = 0;
	fclose(f);
	return buf;
}

double e2e_json_num(const char *s, const char *key)
{
	char pat[128];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	p = strstr(s, pat);
	ck_assert_msg(p != NULL, "no %s in %.200s", key, s);
	return atof(p + strlen(pat));
}
