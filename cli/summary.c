// SPDX-License-Identifier: MIT
#include "summary.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "intern.h"

int summary_top_self(const struct profile *p, struct summary_entry *ret, size_t max)
{
	_cleanup_free_ uint64_t *self = NULL;
	struct intern *names = NULL;
	size_t n = profile__nr_samples(p), filled = 0;
	char label[256];
	int r = 0;

	if ((r = intern__new(0, &names)) < 0)
		return r;
	self = calloc(n ? n : 1, sizeof(*self));
	if (!self) {
		intern__free(names);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		const struct profile_sample *s = profile__sample(p, i);
		const uint32_t *stack;
		size_t depth;
		int64_t id;

		stack = profile__stack(p, s->stack, &depth);
		if (!depth)
			continue;
		profile__frame_label(p, profile__frame(p, stack[0]), label, sizeof(label));
		id = intern__add(names, label, strlen(label), NULL);
		if (id < 0) {
			r = (int)id;
			goto out;
		}
		self[id] += s->count;
	}
	/* Selection of the top few: n is small next to a sort's cost only when max is. */
	for (; filled < max; filled++) {
		size_t best = SIZE_MAX;

		for (size_t i = 0; i < intern__count(names); i++)
			if (self[i] && (best == SIZE_MAX || self[i] > self[best]))
				best = i;
		if (best == SIZE_MAX)
			break;
		snprintf(ret[filled].name, sizeof(ret[filled].name), "%s",
			 (const char *)intern__get(names, (uint32_t)best, NULL));
		ret[filled].self = self[best];
		self[best] = 0;
	}
	r = (int)filled;
out:
	intern__free(names);
	return r;
}
