/* SPDX-License-Identifier: MIT */
/*
 * The config key reference: the README's table ("Config keys") and
 * `memvisor run --help` (printed from the key table, config_keys.c) list
 * exactly the same [host] and [guest] keys, each once, with the same
 * backends.
 */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/e2e/e2e.h"

static char dir[64];

static void setup(void)
{
	e2e_mkdtemp(dir, sizeof(dir), "/tmp/memvisor-keys-XXXXXX");
}

static void teardown(void)
{
	e2e_rmdir(dir);
}

#define MAX_KEYS 256

/* "host memory both", "guest vcpus kvm", ... */
struct keys {
	char k[MAX_KEYS][96];
	unsigned n;
};

static void add(struct keys *ks, const char *sec, const char *name, size_t len, const char *b)
{
	char key[96];

	snprintf(key, sizeof(key), "%s %.*s %s", sec, (int)len, name, b);
	for (unsigned i = 0; i < ks->n; i++)
		ck_assert_msg(strcmp(ks->k[i], key), "listed twice: %s", key);
	ck_assert_uint_lt(ks->n, MAX_KEYS);
	strcpy(ks->k[ks->n++], key);
}

/* The next table cell of *s (between '|'), trimmed, into buf. */
static void cell(const char **s, char *buf, size_t len)
{
	const char *e = strchr(*s, '|'), *b = *s;
	size_t n;

	ck_assert_ptr_nonnull(e);
	while (b < e && *b == ' ')
		b++;
	n = (size_t)(e - b);
	while (n && b[n - 1] == ' ')
		n--;
	snprintf(buf, len, "%.*s", (int)n, b);
	*s = e + 1;
}

static void readme_keys(struct keys *ks)
{
	char path[4096], sec[16], names[256], def[64], back[16];
	char *text, *line;
	const char *s;

	snprintf(path, sizeof(path), "%s/README.md", e2e_src());
	text = e2e_slurp(path);
	line = strstr(text, "\n| section | key | default | backends | meaning |\n");
	ck_assert_msg(line != NULL, "README.md: no config key table");
	line = strchr(line + 1, '\n') + 1;
	line = strchr(line, '\n') + 1; /* |---|... */
	for (; *line == '|'; line = strchr(line, '\n') + 1) {
		s = line + 1;
		cell(&s, sec, sizeof(sec));
		cell(&s, names, sizeof(names));
		cell(&s, def, sizeof(def));
		cell(&s, back, sizeof(back));
		if (!strcmp(sec, "cost"))
			continue;
		ck_assert_msg(!strcmp(sec, "host") || !strcmp(sec, "guest"), "README row: %s", sec);
		for (const char *n = names; *n;) {
			size_t len = strcspn(n, ",");

			add(ks, sec, n, len, back);
			n += len;
			n += strspn(n, ", ");
		}
	}
	free(text);
}

static void help_keys(struct keys *ks)
{
	char *argv[] = {(char *)e2e_bin(), "run", "--help", NULL};
	char *text;

	ck_assert_int_eq(e2e_run(dir, argv), 0);
	text = e2e_slurp(e2e_path(dir, "stdout"));
	for (char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		const char *sec = !strncmp(l, "  [host] ", 9) ? "host" : "guest";
		char *name, *eol = strchr(l, '\n');
		size_t end = eol ? (size_t)(eol - l) : strlen(l);
		char line[512];

		if (strncmp(l, "  [host] ", 9) && strncmp(l, "  [guest] ", 10))
			continue;
		snprintf(line, sizeof(line), "%.*s", (int)end, l);
		name = strchr(line, ']') + 2;
		add(ks, sec, name, strcspn(name, " ="),
		    strstr(line, "(soft only)")	 ? "soft"
		    : strstr(line, "(kvm only)") ? "kvm"
						 : "both");
	}
	free(text);
}

static bool has(const struct keys *ks, const char *k)
{
	for (unsigned i = 0; i < ks->n; i++)
		if (!strcmp(ks->k[i], k))
			return true;
	return false;
}

START_TEST(readme_and_help_agree)
{
	static struct keys readme, help;

	readme.n = help.n = 0;
	readme_keys(&readme);
	help_keys(&help);
	ck_assert_uint_gt(help.n, 60);
	for (unsigned i = 0; i < help.n; i++)
		ck_assert_msg(has(&readme, help.k[i]),
			      "`memvisor run --help` has '%s'; README.md's key table does not "
			      "(or not with those backends)",
			      help.k[i]);
	for (unsigned i = 0; i < readme.n; i++)
		ck_assert_msg(has(&help, readme.k[i]),
			      "README.md's key table has '%s'; the key table (--help) does not",
			      readme.k[i]);
}
END_TEST

Suite *keys_suite(void);
Suite *keys_suite(void)
{
	Suite *s = suite_create("keys");
	TCase *tc = tcase_create("keys");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, readme_and_help_agree);
	suite_add_tcase(s, tc);
	return s;
}
