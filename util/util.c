/* SPDX-License-Identifier: MIT */
/* util: error buffers, writing in full, whole-file writes, BUG reports. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#include "util/util.h"

void util_errf(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!err || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

int util_write_full(int fd, const void *buf, size_t len, off_t off)
{
	const char *p = buf;

	while (len) {
		ssize_t w = off < 0 ? write(fd, p, len) : pwrite(fd, p, len, off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p += w;
		len -= (size_t)w;
		if (off >= 0)
			off += w;
	}
	return 0;
}

int util_read_u64(const char *path, uint64_t *v)
{
	FILE *f = fopen(path, "re");
	int r;

	if (!f)
		return -errno;
	r = fscanf(f, "%" SCNu64, v) == 1 ? 0 : -EINVAL;
	fclose(f);
	return r;
}

int util_write_u64(const char *path, uint64_t v)
{
	FILE *f = fopen(path, "we");
	int r = 0;

	if (!f)
		return -errno;
	if (fprintf(f, "%" PRIu64 "\n", v) < 0)
		r = -EIO;
	if (fclose(f) && !r)
		r = -errno;
	return r;
}

FILE *util_tmp_open(const char *path, char *tmp, size_t tmplen)
{
	if ((size_t)snprintf(tmp, tmplen, "%s.tmp", path) >= tmplen) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	return fopen(tmp, "w");
}

int util_tmp_close(FILE *f, const char *tmp, const char *path)
{
	int e = ferror(f) ? EIO : 0;

	if (fclose(f) && !e)
		e = errno;
	if (!e && rename(tmp, path))
		e = errno;
	if (e) {
		unlink(tmp);
		return -e;
	}
	return 0;
}

void util_bug(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s:%d: BUG: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}
