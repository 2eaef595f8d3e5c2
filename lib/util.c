/*
 * util: allocation wrappers, string vectors, buffers and small helpers shared
 * by every part of winnow.
 */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void oom(size_t n)
{
	fprintf(stderr, "<2>winnow: out of memory (%zu bytes)\n", n);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		oom(n);
	return p;
}

void huge_hint(void *p, size_t bytes)
{
	if (p == NULL || bytes < ((size_t)4 << 20))
		return;
	uintptr_t a = ((uintptr_t)p + 4095) & ~(uintptr_t)4095;
	uintptr_t e = ((uintptr_t)p + bytes) & ~(uintptr_t)4095;
	(void)madvise((void *)a, e - a, MADV_HUGEPAGE);
}

void *xalloc_aligned(size_t bytes)
{
	const size_t huge = (size_t)2 << 20;
	size_t align = bytes >= huge ? huge : 64;
	size_t size = (bytes + align - 1) / align * align;
	void *p = aligned_alloc(align, size ? size : align);

	if (p == NULL)
		oom(size);
	if (align == huge)
		(void)madvise(p, size, MADV_HUGEPAGE);	/* a hint: failure only costs speed */
	return p;
}

void *xcalloc_huge(size_t n, size_t size)
{
	void *p = xcalloc(n, size);

	huge_hint(p, n * size);
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		oom(n * size);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL)
		oom(n);
	return q;
}

void *xreallocarray(void *p, size_t n, size_t size)
{
	if (size != 0 && n > SIZE_MAX / size)
		oom(SIZE_MAX);
	return xrealloc(p, n * size);
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		oom(strlen(s));
	return p;
}

char *xvasprintf(const char *fmt, va_list ap)
{
	char *s;

	if (vasprintf(&s, fmt, ap) < 0)
		oom(0);
	return s;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	return s;
}

void strvec_take(struct strvec *sv, char *s)
{
	if (sv->n == sv->cap) {
		sv->cap = sv->cap ? sv->cap * 2 : 8;
		sv->v = xreallocarray(sv->v, sv->cap, sizeof(*sv->v));
	}
	sv->v[sv->n++] = s;
}

void strvec_push(struct strvec *sv, const char *s)
{
	strvec_take(sv, xstrdup(s));
}

void strvec_pushf(struct strvec *sv, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	strvec_take(sv, xvasprintf(fmt, ap));
	va_end(ap);
}

void strvec_free(struct strvec *sv)
{
	if (sv == NULL)
		return;
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = sv->cap = 0;
}

static void buf_grow(struct buf *b, size_t extra)
{
	if (b->len + extra + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < b->len + extra + 1)
		cap *= 2;
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
}

void buf_append(struct buf *b, const void *p, size_t n)
{
	buf_grow(b, n);
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void buf_puts(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	buf_grow(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void buf_free(struct buf *b)
{
	if (b == NULL)
		return;
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

ssize_t read_full(int fd, void *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t k = read(fd, (char *)buf + got, n - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			break;
		got += (size_t)k;
	}
	return (ssize_t)got;
}

int read_fd(int fd, uint64_t st_size, size_t max_bytes, char **out, size_t *len)
{
	if (st_size > max_bytes)
		return -EFBIG;
	/*
	 * Read to EOF, not to st_size: a file may change size under us. The
	 * buffer has room for one byte more than st_size, so a file that did
	 * not change ends with one short read (EOF for a regular file) and no
	 * second read or realloc.
	 */
	size_t cap = (size_t)st_size + 2, n = 0;
	if (cap > max_bytes + 1)
		cap = max_bytes + 1;
	char *data = xmalloc(cap);
	for (;;) {
		if (n + 1 == cap) {
			if (n >= max_bytes) {
				/* At the limit: only a file that ends here is accepted. */
				char extra;
				ssize_t r = read(fd, &extra, 1);
				if (r == 0)
					break;
				free(data);
				return r < 0 ? -errno : -EFBIG;
			}
			cap = cap * 2 > max_bytes + 1 ? max_bytes + 1 : cap * 2;
			data = xrealloc(data, cap);
		}
		ssize_t r = read(fd, data + n, cap - n - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int err = -errno;
			free(data);
			return err;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		/* A short read of a regular file is its end. */
		if (n + 1 < cap)
			break;
	}
	data[n] = '\0';
	*out = data;
	if (len)
		*len = n;
	return 0;
}

int read_file(const char *path, size_t max_bytes, char **out, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int err;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		err = -errno;
	else if (!S_ISREG(st.st_mode))
		err = -EINVAL;
	else
		err = read_fd(fd, (uint64_t)st.st_size, max_bytes, out, len);
	close(fd);
	return err;
}

static int write_file_tmp_rename(const char *path, const void *data, size_t len, bool durable);

int write_file_atomic(const char *path, const void *data, size_t len)
{
	return write_file_tmp_rename(path, data, len, true);
}

int write_file_replace(const char *path, const void *data, size_t len)
{
	return write_file_tmp_rename(path, data, len, false);
}

static int write_file_tmp_rename(const char *path, const void *data, size_t len, bool durable)
{
	char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int err = 0;
	const char *p = data;

	if (fd < 0) {
		err = -errno;
		free(tmp);
		return err;
	}
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		p += w;
		len -= (size_t)w;
	}
	if (err == 0 && durable && fsync(fd) < 0)
		err = -errno;
	if (close(fd) < 0 && err == 0)
		err = -errno;
	if (err == 0 && rename(tmp, path) < 0)
		err = -errno;
	if (err != 0)
		unlink(tmp);
	free(tmp);
	return err;
}

int mkdir_p(const char *path, unsigned mode)
{
	char *p = xstrdup(path);
	int err = 0;

	for (char *s = p + 1; ; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;
			*s = '\0';
			if (mkdir(p, mode) < 0 && errno != EEXIST) {
				err = -errno;
				break;
			}
			*s = c;
			if (c == '\0')
				break;
		}
	}
	free(p);
	return err;
}

void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

void free_secret(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

double backoff_delay(int step, double first, double cap)
{
	double d = first;

	for (int i = 0; i < step && d < cap; i++)
		d *= 2;
	if (d > cap)
		d = cap;
	return d * (0.5 + 0.5 * ((double)random() / RAND_MAX));
}

double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

char *escape_bytes(const char *s)
{
	struct buf b = { 0 };

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '\n': buf_puts(&b, "\\n"); break;
		case '\r': buf_puts(&b, "\\r"); break;
		case '\t': buf_puts(&b, "\\t"); break;
		case '\\': buf_puts(&b, "\\\\"); break;
		default:
			if (*p < 0x20 || *p == 0x7f || *p >= 0x80)
				buf_printf(&b, "\\x%02x", *p);
			else
				buf_append(&b, p, 1);
		}
	}
	if (b.data == NULL)
		return xstrdup("");
	return b.data;
}

bool utf8_valid(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < n) {
		unsigned c = s[i];
		size_t len;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			len = 2;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			len = 3;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			len = 4;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (i + len > n)
			return false;
		for (size_t j = 1; j < len; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + j] & 0x3f);
		}
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
		    (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}

int cpu_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (int)n : 1;
}
