// SPDX-License-Identifier: MIT
#include "ksyms.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "procmaps.h"

#define KSYMS_MAX_TEXT (256u << 20)

struct ksym {
	uint64_t addr;
	const char *name;
	const char *module;
};

struct ksyms {
	struct ksym *syms;
	size_t nr;
	char *text; /* the file, names pointing into it */
};

struct ksyms *ksyms__free(struct ksyms *k)
{
	if (!k)
		return NULL;
	free(k->syms);
	free(k->text);
	free(k);
	return NULL;
}

static void ksyms__freep(struct ksyms **k)
{
	ksyms__free(*k);
}

static int ksym_cmp(const void *a, const void *b)
{
	const struct ksym *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

int ksyms__load(const char *path, struct ksyms **ret)
{
	_cleanup_(ksyms__freep) struct ksyms *k = calloc(1, sizeof(*k));
	size_t len, cap = 0, nonzero = 0;
	char *line, *save = NULL;
	int r;

	if (!k)
		return -ENOMEM;
	r = read_proc_file(path, KSYMS_MAX_TEXT, &k->text, &len);
	if (r < 0)
		return r;
	for (line = strtok_r(k->text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *end, *type, *name, *module;
		unsigned long long addr = strtoull(line, &end, 16);

		if (end == line || *end != ' ')
			continue;
		type = end + 1;
		if (type[0] == '\0' || type[1] != ' ')
			continue;
		if (type[0] != 't' && type[0] != 'T' && type[0] != 'w' && type[0] != 'W')
			continue;
		name = type + 2;
		module = strchr(name, '\t');
		if (module) {
			*module++ = '\0';
			if (*module == '[') {
				module++;
				module[strcspn(module, "]")] = '\0';
			}
		}
		if (k->nr == cap) {
			size_t c = cap ? cap * 2 : 65536;
			struct ksym *p = realloc(k->syms, c * sizeof(*p));

			if (!p)
				return -ENOMEM;
			k->syms = p;
			cap = c;
		}
		k->syms[k->nr++] = (struct ksym){ .addr = addr, .name = name, .module = module ? module : "" };
		nonzero += addr != 0;
	}
	if (k->nr && !nonzero)
		return -EPERM;
	qsort(k->syms, k->nr, sizeof(*k->syms), ksym_cmp);
	*ret = TAKE_PTR(k);
	return 0;
}

const char *ksyms__lookup(const struct ksyms *k, uint64_t addr, const char **ret_module)
{
	size_t lo = 0, hi = k->nr;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (k->syms[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	if (ret_module)
		*ret_module = k->syms[lo - 1].module;
	return k->syms[lo - 1].name;
}

size_t ksyms__count(const struct ksyms *k)
{
	return k->nr;
}
