/* SPDX-License-Identifier: MIT */
/* config_internal: what config.c (reading and validating a config) and
 * config_keys.c (the table of keys and their parsers) share. Not for other
 * files. */
#ifndef VMM_CORE_CONFIG_INTERNAL_H
#define VMM_CORE_CONFIG_INTERNAL_H

#include "vmm-core/core/vmm_internal.h"

#define CONFIG_MAX_SECTIONS 256
#define CONFIG_MAX_KEYS	    128 /* rows of the table, for the given-key sets */

struct keyline {
	char section[VMM_NAME_MAX + 8];
	char key[64];
	unsigned line;
};

/* A config being read. */
struct parse {
	struct vmm_config *cfg;
	struct vmm_guest_cfg sec[CONFIG_MAX_SECTIONS]; /* one per [guest NAME] */
	/* the keys given in each guest section (file or --set), by table row */
	uint64_t given[CONFIG_MAX_SECTIONS][CONFIG_MAX_KEYS / 64];
	unsigned nsec;
	struct keyline *lines; /* where each key was written */
	unsigned nlines;
	const char *where; /* "--set" while applying options */
	char *err;
	size_t errlen;
	bool failed;
};

/* Record the first error only, naming file, line (or --set), section and
 * key (NULL: the section). */
__attribute__((format(printf, 4, 5))) void config_fail(struct parse *p, const char *section,
						       const char *key, const char *fmt, ...);

/*
 * The keys of [host] and [guest NAME], one row each (in the manner of
 * Redis' standardConfig): its name, how its value is read, where it lands,
 * its default as it would be written in a config (NULL: none, or derived:
 * the help says), which backends accept it (guest keys), and a line of
 * help. [cost] keys are cost.c's. The README's key reference and `memvisor
 * run --help` list exactly these (a test checks the README).
 */
enum config_type {
	CT_SIZE,    /* uint64_t bytes: 4096, 64K, 2G */
	CT_U64,	    /* uint64_t */
	CT_UINT,    /* unsigned, at most size */
	CT_BOOL,    /* bool: on/off, yes/no, true/false, 1/0 */
	CT_DOUBLE,  /* double */
	CT_DOUBLE0, /* double >= 0 */
	CT_STR,	    /* char[size] */
	CT_FN,	    /* the row's own parser */
};
enum { CB_SOFT = 1, CB_KVM = 2, CB_ALL = 3 };

struct config_key {
	const char *name;
	bool host; /* [host]; else [guest NAME] */
	enum config_type type;
	unsigned backends; /* CB_*: guest keys only */
	size_t off;	   /* in struct vmm_host_cfg or vmm_guest_cfg */
	size_t size;	   /* CT_STR: the buffer; CT_UINT: the largest value */
	const char *def;
	int (*fn)(struct parse *p, void *base, const char *v); /* CT_FN */
	const char *help;
};
extern const struct config_key config_keys[];
extern const unsigned config_nkeys;

/* The policy's parsers (config_policy.c). */
int config_set_idle_tax(struct parse *p, void *base, const char *v);
int config_set_swap_victim(struct parse *p, void *base, const char *v);
int config_set_steps(struct parse *p, void *base, const char *v);
int config_set_balloon_driver(struct parse *p, void *base, const char *v);

/* The row of key name in [host] (host) or [guest NAME], or NULL. */
const struct config_key *config_key_find(bool host, const char *name);
/* Read v into base (a vmm_host_cfg or vmm_guest_cfg) as row k says: 0 or
 * -EINVAL. */
int config_key_set(struct parse *p, const struct config_key *k, void *base, const char *v);
/* Every default of [host] (host) or [guest NAME] into base. */
void config_key_defaults(bool host, void *base);
/* Was guest key name given in guest section i? */
bool config_given(const struct parse *p, unsigned i, const char *name);

#endif
