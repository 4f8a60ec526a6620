// SPDX-License-Identifier: MIT
/*
 * Frames a sample's stack is made of that are not native code: the
 * markers ("[truncated]", "[unknown]", ...) and the Python frames, named by
 * the process's interpreter (python/pyprocess.c). Used by the sample pass
 * (sample.c) and the native merge (native.c).
 */
#include "collector-internal.h"
#include "pyprocess.h"

int collector_special_frame(struct collector *c, enum profile_frame_kind kind, const char *name,
			    uint32_t *ret)
{
	struct profile_frame f = { .kind = kind };
	int64_t id = profile__add_frame_named(c->profile, &f, name);

	if (id < 0)
		return (int)id;
	*ret = (uint32_t)id;
	return 0;
}

int collector_python_frames(struct collector *c, size_t id, const struct hearth_sample *s,
			    const struct hearth_pyframe *pf, size_t np, size_t *n)
{
	struct pyprocess *py = c->targets[id].py;
	uint64_t reads = pyprocess__code_reads(py);
	size_t before = *n;
	int r;

	for (size_t i = 0; i < np; i++) {
		bool skip;

		r = pyprocess__frame(py, c->profile, &pf[i], s->time_ns, &c->frames[*n], &skip);
		if (r < 0)
			return r;
		if (!skip)
			(*n)++;
	}
	c->code_reads += pyprocess__code_reads(py) - reads;
	if (*n == before)
		return 0;
	c->stats.py_stacks++;
	if (s->flags & HEARTH_SAMPLE_PY_TRUNCATED) {
		c->stats.py_truncated++;
		return collector_special_frame(c, PROFILE_FRAME_SPECIAL, "[truncated]", &c->frames[(*n)++]);
	}
	if (s->flags & HEARTH_SAMPLE_PY_FAILED) {
		c->stats.py_broken++;
		return collector_special_frame(c, PROFILE_FRAME_SPECIAL, "[incomplete]", &c->frames[(*n)++]);
	}
	return 0;
}
