/*
 * dsroot_open: a LOCAL datasource's folder opened beneath its dataset root
 * (lib/dsroot.c), through openat2(RESOLVE_BENEATH) and through the O_NOFOLLOW
 * walk kernels without openat2 get (dsroot_no_openat2), each case both ways.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "dataset.h"
#include "dsroot.h"
#include "util.h"

static char base[PATH_MAX], root[PATH_MAX + 8];

/* Makes base/rel. */
static void mk(const char *rel)
{
	char p[PATH_MAX * 2];

	snprintf(p, sizeof(p), "%s/%s", base, rel);
	assert_int_equal(mkdir_p(p, 0755), 0);
}

static void ln(const char *target, const char *rel)
{
	char p[PATH_MAX * 2];

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	assert_int_equal(symlink(target, p), 0);
}

static int setup(void **state)
{
	(void)state;
	snprintf(base, sizeof(base), "%s/dsrootXXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(base));
	snprintf(root, sizeof(root), "%s/root", base);
	mk("root/ds/sub");
	mk("outside");
	char t[PATH_MAX * 2];
	snprintf(t, sizeof(t), "%s/ds", root);
	ln(t, "abs-inside");		/* absolute, inside: followed (SPEC 3) */
	snprintf(t, sizeof(t), "%s/outside", base);
	ln(t, "abs-out");		/* absolute, out */
	ln("../outside", "rel-out");	/* relative, out */
	ln("ds", "rel-inside");		/* relative, inside */
	return 0;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	return system(cmd) == 0 ? 0 : -1;
}

/* dsroot_open's answer for full_path; the folder's path in out. */
static int try(const char *full_path, char *out, size_t outlen)
{
	char *roots[] = { root }, err[512];
	int fd = dsroot_open(roots, 1, full_path, out, outlen, err, sizeof(err));

	if (fd >= 0) {
		struct stat st;
		assert_int_equal(fstat(fd, &st), 0);
		assert_true(S_ISDIR(st.st_mode));
		close(fd);
		return 0;
	}
	assert_true(err[0] != '\0');
	return fd;
}

static void cases(bool with_openat2)
{
	char out[PATH_MAX], want[PATH_MAX * 2], abs[PATH_MAX * 2];

	dsroot_no_openat2 = !with_openat2;
	realpath(root, want);
	strcat(want, "/ds");
	assert_int_equal(try("ds", out, sizeof(out)), 0);
	assert_string_equal(out, want);
	assert_int_equal(try("ds/sub", out, sizeof(out)), 0);
	snprintf(abs, sizeof(abs), "%s/ds", root);
	assert_int_equal(try(abs, out, sizeof(out)), 0);
	assert_string_equal(out, want);
	/* Links out of the root, relative or absolute, named relatively or not. */
	assert_int_equal(try("abs-out", out, sizeof(out)), -EXDEV);
	assert_int_equal(try("rel-out", out, sizeof(out)), -EXDEV);
	snprintf(abs, sizeof(abs), "%s/rel-out", root);
	assert_int_equal(try(abs, out, sizeof(out)), -EXDEV);
	snprintf(abs, sizeof(abs), "%s/outside", base);
	assert_int_equal(try(abs, out, sizeof(out)), -ENOENT);	/* under no root */
	assert_int_equal(try("../outside", out, sizeof(out)), -EINVAL);
	assert_int_equal(try("missing", out, sizeof(out)), -ENOENT);
	/* Links inside: followed by openat2 (an absolute one through its resolved
	   place); the walk follows no link at all. */
	int inside = with_openat2 ? 0 : -EXDEV;
	assert_int_equal(try("rel-inside", out, sizeof(out)), inside);
	assert_int_equal(try("abs-inside", out, sizeof(out)), inside);
	if (with_openat2)
		assert_string_equal(out, want);
	dsroot_no_openat2 = false;
}

static void test_openat2(void **state)
{
	(void)state;
	cases(true);
}

static void test_nofollow_walk(void **state)
{
	(void)state;
	cases(false);
}

/* A folder swapped for a link out after a successful open: the next open refuses it. */
static void test_swap(void **state)
{
	char out[PATH_MAX], p[PATH_MAX * 2], t[PATH_MAX * 2];

	(void)state;
	mk("root/swap");
	assert_int_equal(try("swap", out, sizeof(out)), 0);
	snprintf(p, sizeof(p), "%s/swap", root);
	assert_int_equal(rmdir(p), 0);
	snprintf(t, sizeof(t), "%s/outside", base);
	assert_int_equal(symlink(t, p), 0);
	assert_int_equal(try("swap", out, sizeof(out)), -EXDEV);
	dsroot_no_openat2 = true;
	assert_int_equal(try("swap", out, sizeof(out)), -EXDEV);
	dsroot_no_openat2 = false;
}

/* Makes base/rel, an empty file (a name to list). */
static void touch(const char *rel)
{
	char p[PATH_MAX * 2];

	snprintf(p, sizeof(p), "%s/%s", base, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	close(fd);
}

/* Lists full_path opened as winnowd does (dirfd, or by path when NULL): 1 if it holds name. */
static int lists(const int *dirfd, const char *path, const char *name)
{
	struct dataset ds;
	char err[512];
	int found = 0;

	assert_int_equal(dataset_open_input(&ds, dirfd, path, NULL, err, sizeof(err)), 0);
	assert_int_equal(dataset_list(&ds, NULL, err, sizeof(err)), 0);
	for (size_t i = 0; i < ds.files.n; i++)
		found |= strcmp(ds.files.v[i], name) == 0;
	dataset_close(&ds);
	return found;
}

/*
 * winnowd's claim opens the folder (dsroot_open) and the run reads it through
 * that descriptor (dataset_open_input): a folder swapped for a link out of the
 * root after the open still reads the folder that was checked, never the
 * outside; opened by path again, the link would lead out.
 */
static void test_swap_after_open(void **state)
{
	char out[PATH_MAX], p[PATH_MAX * 2], q[PATH_MAX * 2], t[PATH_MAX * 2];
	char *roots[] = { root }, err[512];

	(void)state;
	mk("root/held");
	touch("root/held/in.jpg");
	touch("outside/out.jpg");
	int fd = dsroot_open(roots, 1, "held", out, sizeof(out), err, sizeof(err));
	assert_true(fd >= 0);
	snprintf(p, sizeof(p), "%s/held", root);
	snprintf(q, sizeof(q), "%s/held-old", root);
	assert_int_equal(rename(p, q), 0);
	snprintf(t, sizeof(t), "%s/outside", base);
	assert_int_equal(symlink(t, p), 0);
	assert_int_equal(lists(&fd, out, "in.jpg"), 1);
	assert_int_equal(lists(&fd, out, "out.jpg"), 0);
	assert_int_equal(lists(NULL, out, "out.jpg"), 1);	/* what opening by path would read */
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_openat2),
		cmocka_unit_test(test_nofollow_walk),
		cmocka_unit_test(test_swap),
		cmocka_unit_test(test_swap_after_open),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
