// SPDX-License-Identifier: MIT
/* libFuzzer harness: /proc/PID/maps text, which a target shapes with its mappings' names. */
#include <stddef.h>
#include <stdint.h>

#include "procmaps.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct procmaps *m = NULL;

	if (procmaps__parse((const char *)data, size, &m) == 0) {
		for (size_t i = 0; i < m->nr; i++)
			procmaps__find(m, m->maps[i].start);
		procmaps__find(m, 0);
		procmaps__free(m);
	}
	return 0;
}
