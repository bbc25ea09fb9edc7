/* SPDX-License-Identifier: MIT */
/* traces convert: lackey text and binary traces, one into the other. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "traces/traces_internal.h"

#define CONV_BATCH 4096

static double conv_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Where records come from: lackey text or a binary trace. */
struct conv_src {
	struct trace_lackey *lk;
	int fd;
	struct trace_file *tf;
	struct trace_cursor *cur;
	struct trace_rec *batch;
	long n, at;
};

static int src_open(struct conv_src *s, const char *in, char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	s->fd = -1;
	s->batch = malloc(CONV_BATCH * sizeof(*s->batch));
	if (!s->batch) {
		util_errf(err, errlen, "%s: out of memory", in);
		return -ENOMEM;
	}
	if (strcmp(in, "-") && trace_is_binary(in)) {
		s->tf = trace_open(in, 0, err, errlen);
		if (!s->tf)
			return -errno;
		s->cur = trace_cursor_create(s->tf, TRACE_ALL_PIDS);
		if (!s->cur) {
			util_errf(err, errlen, "%s: out of memory", in);
			return -ENOMEM;
		}
		return 0;
	}
	s->fd = strcmp(in, "-") ? open(in, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
	if (s->fd < 0) {
		int e = errno;

		util_errf(err, errlen, "%s: %s", in, strerror(e));
		return -e;
	}
	s->lk = trace_lackey_open(s->fd, strcmp(in, "-") ? in : "(stdin)");
	if (!s->lk) {
		util_errf(err, errlen, "%s: out of memory", in);
		return -ENOMEM;
	}
	return 0;
}

static void src_close(struct conv_src *s)
{
	trace_lackey_close(s->lk);
	if (s->fd > STDIN_FILENO)
		close(s->fd);
	trace_cursor_destroy(s->cur);
	trace_close(s->tf);
	free(s->batch);
}

/* The next record: 1, 0 at the end, -errno with err filled. */
static int src_next(struct conv_src *s, struct trace_rec *r, char *err, size_t errlen)
{
	int e;

	if (s->lk) {
		e = trace_lackey_next(s->lk, r);
		if (e < 0)
			util_errf(err, errlen, "%s", trace_lackey_error(s->lk));
		return e;
	}
	if (s->at == s->n) {
		s->n = trace_cursor_read(s->cur, s->batch, CONV_BATCH);
		s->at = 0;
		if (s->n < 0) {
			util_errf(err, errlen, "%s", trace_cursor_error(s->cur));
			return (int)s->n;
		}
		if (!s->n)
			return 0;
	}
	*r = s->batch[s->at++];
	return 1;
}

static int conv_to_text(struct conv_src *s, const char *out, struct trace_convert_stats *st,
			char *err, size_t errlen)
{
	bool std = !strcmp(out, "-");
	char tmp[4200];
	struct trace_rec r;
	FILE *f;
	int e = 0;

	if (s->tf && trace_file_summary(s->tf)->nprocs > 1) {
		util_errf(err, errlen,
			  "%s: %u processes: lackey text holds the records of one process",
			  trace_file_name(s->tf), trace_file_summary(s->tf)->nprocs);
		return -EINVAL;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", out);
	f = std ? stdout : fopen(tmp, "w");
	if (!f) {
		e = errno;
		util_errf(err, errlen, "%s: %s", tmp, strerror(e));
		return -e;
	}
	while ((e = src_next(s, &r, err, errlen)) == 1) {
		e = trace_lackey_write(f, &r);
		if (e == -EINVAL) {
			util_errf(err, errlen,
				  "record %" PRIu64
				  ": a %s record cannot be written as lackey text",
				  st->records, trace_kind_name(r.kind));
			break;
		}
		if (e) {
			util_errf(err, errlen, "%s: write error", std ? "(stdout)" : tmp);
			break;
		}
		st->records++;
	}
	if (std) {
		if (!e && fflush(f)) {
			e = -EIO;
			util_errf(err, errlen, "(stdout): write error");
		}
		return e;
	}
	st->bytes_out = (uint64_t)ftell(f);
	if (ferror(f) && !e) {
		e = -EIO;
		util_errf(err, errlen, "%s: write error", tmp);
	}
	if (fclose(f) && !e) {
		e = -EIO;
		util_errf(err, errlen, "%s: write error", tmp);
	}
	if (!e && rename(tmp, out)) {
		e = -errno;
		util_errf(err, errlen, "%s: %s", out, strerror(errno));
	}
	if (e)
		unlink(tmp);
	return e;
}

static int conv_to_binary(struct conv_src *s, const char *in, const char *out,
			  const struct trace_writer_opts *o, struct trace_convert_stats *st,
			  char *err, size_t errlen)
{
	struct trace_writer *w = trace_writer_create(out, o, err, errlen);
	struct trace_rec r;
	char num[32];
	const char *line;
	int e;

	if (!w)
		return -errno;
	if (s->tf) {
		for (unsigned i = 0; (line = trace_file_meta_line(s->tf, i)); i++) {
			char key[256];
			const char *eq = strchr(line, '=');

			snprintf(key, sizeof(key), "%.*s", (int)(eq - line), line);
			if ((e = trace_writer_meta(w, key, eq + 1)))
				goto out;
		}
	} else {
		const char *base = strrchr(in, '/');

		if ((e = trace_writer_meta(w, "source", "lackey")) ||
		    (e = trace_writer_meta(w, "input", base ? base + 1 : in)))
			goto out;
	}
	while ((e = src_next(s, &r, err, errlen)) == 1) {
		e = trace_writer_put(w, &r);
		if (e) {
			util_errf(err, errlen, "%s", trace_writer_error(w));
			goto out;
		}
	}
	if (e < 0)
		goto out;
	st->records = trace_writer_records(w);
	if (s->lk) {
		snprintf(num, sizeof(num), "%" PRIu64, trace_lackey_lines(s->lk));
		if ((e = trace_writer_meta(w, "lackey.lines", num)))
			goto out;
		snprintf(num, sizeof(num), "%" PRIu64, trace_lackey_skipped(s->lk));
		if ((e = trace_writer_meta(w, "lackey.skipped", num)))
			goto out;
	}
	e = trace_writer_finish(w);
	if (e)
		util_errf(err, errlen, "%s", trace_writer_error(w));
out:
	if (e && !err[0])
		util_errf(err, errlen, "%s", trace_writer_error(w));
	trace_writer_destroy(w);
	return e;
}

int trace_convert(const char *in, const char *out, bool to_text, const struct trace_writer_opts *o,
		  struct trace_convert_stats *st, char *err, size_t errlen)
{
	struct trace_convert_stats dummy;
	struct conv_src s;
	double t0 = conv_now();
	int e;

	if (!st)
		st = &dummy;
	memset(st, 0, sizeof(*st));
	if (errlen)
		err[0] = 0;
	e = src_open(&s, in, err, errlen);
	if (!e)
		e = to_text ? conv_to_text(&s, out, st, err, errlen)
			    : conv_to_binary(&s, in, out, o, st, err, errlen);
	if (s.lk) {
		st->lines = trace_lackey_lines(s.lk);
		st->skipped = trace_lackey_skipped(s.lk);
		st->bytes_in = trace_lackey_bytes(s.lk);
	} else if (s.tf) {
		st->bytes_in = trace_file_bytes(s.tf);
	}
	if (!e && !to_text) {
		int fd = open(out, O_RDONLY | O_CLOEXEC);

		if (fd >= 0) {
			st->bytes_out = (uint64_t)lseek(fd, 0, SEEK_END);
			close(fd);
		}
	}
	src_close(&s);
	st->seconds = conv_now() - t0;
	return e;
}
