// SPDX-License-Identifier: MIT
#include "export.h"

#include <string.h>
#include <strings.h>

const struct exporter *const exporters[] = {
	&exporter_svg,
	&exporter_folded,
	&exporter_pprof,
	&exporter_speedscope,
	NULL,
};

const struct exporter *exporter_find(const char *name)
{
	for (size_t i = 0; exporters[i]; i++)
		if (!strcmp(exporters[i]->name, name))
			return exporters[i];
	return NULL;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n > m && !strcasecmp(s + n - m, suffix);
}

const struct exporter *exporter_for_path(const char *path)
{
	const struct exporter *best = NULL;
	size_t best_len = 0;

	/* Longest matching extension wins, so ".speedscope.json" beats ".json". */
	for (size_t i = 0; exporters[i]; i++)
		for (const char *const *e = exporters[i]->extensions; *e; e++)
			if (ends_with(path, *e) && strlen(*e) > best_len) {
				best = exporters[i];
				best_len = strlen(*e);
			}
	return best;
}
