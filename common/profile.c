// SPDX-License-Identifier: MIT
#include "profile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "intern.h"

/* Key part of a sample: everything but the count. */
#define SAMPLE_KEY_SIZE offsetof(struct profile_sample, _pad)

struct profile {
	struct intern *strings;
	struct intern *mappings; /* id + 1 is the mapping id */
	struct intern *frames;
	struct intern *stacks;
	struct intern *sample_keys;
	struct profile_sample *samples; /* indexed like sample_keys */
	size_t samples_cap;
	uint64_t total;
	uint64_t total_weight;
	struct profile_info info;
};

int profile__new(struct profile **ret)
{
	_cleanup_(profile__freep) struct profile *p = calloc(1, sizeof(*p));
	int r;

	if (!p)
		return -ENOMEM;
	if ((r = intern__new(PROFILE_MAX_STRINGS, &p->strings)) < 0 ||
	    (r = intern__new(PROFILE_MAX_FRAMES, &p->mappings)) < 0 ||
	    (r = intern__new(PROFILE_MAX_FRAMES, &p->frames)) < 0 ||
	    (r = intern__new(PROFILE_MAX_STACKS, &p->stacks)) < 0 ||
	    (r = intern__new(PROFILE_MAX_SAMPLES, &p->sample_keys)) < 0)
		return r;
	if (intern__add(p->strings, "", 0, NULL) < 0)
		return -ENOMEM;
	*ret = TAKE_PTR(p);
	return 0;
}

struct profile *profile__free(struct profile *p)
{
	if (!p)
		return NULL;
	intern__free(p->strings);
	intern__free(p->mappings);
	intern__free(p->frames);
	intern__free(p->stacks);
	intern__free(p->sample_keys);
	free(p->samples);
	free(p->info.target);
	free(p);
	return NULL;
}

int64_t profile__intern_len(struct profile *p, const char *s, size_t len)
{
	if (!s)
		return 0;
	return intern__add(p->strings, s, len, NULL);
}

int64_t profile__intern(struct profile *p, const char *s)
{
	return profile__intern_len(p, s, s ? strlen(s) : 0);
}

int64_t profile__add_mapping(struct profile *p, const struct profile_mapping *m)
{
	int64_t id = intern__add(p->mappings, m, sizeof(*m), NULL);

	return id < 0 ? id : id + 1;
}

int64_t profile__add_frame(struct profile *p, const struct profile_frame *f)
{
	return intern__add(p->frames, f, sizeof(*f), NULL);
}

int64_t profile__add_frame_named(struct profile *p, struct profile_frame *f, const char *name)
{
	int64_t id = profile__intern(p, name);

	if (id < 0)
		return id;
	f->name = (uint32_t)id;
	return profile__add_frame(p, f);
}

int64_t profile__add_stack(struct profile *p, const uint32_t *frames, size_t n)
{
	if (n > PROFILE_MAX_DEPTH)
		return -E2BIG;
	return intern__add(p->stacks, frames, n * sizeof(*frames), NULL);
}

int profile__add_sample(struct profile *p, const struct profile_sample *key, uint64_t count, uint64_t weight_ns)
{
	struct profile_sample k = *key;
	int64_t id;
	int added;

	k._pad = 0;
	id = intern__add(p->sample_keys, &k, SAMPLE_KEY_SIZE, &added);
	if (id < 0)
		return (int)id;
	if (added) {
		if ((size_t)id >= p->samples_cap) {
			size_t n = p->samples_cap ? p->samples_cap * 2 : 256;
			struct profile_sample *s = realloc(p->samples, n * sizeof(*s));

			if (!s)
				return -ENOMEM;
			p->samples = s;
			p->samples_cap = n;
		}
		p->samples[id] = k;
		p->samples[id].count = 0;
		p->samples[id].weight_ns = 0;
	}
	p->samples[id].count += count;
	p->samples[id].weight_ns += weight_ns;
	p->total += count;
	p->total_weight += weight_ns;
	return 0;
}

int profile__clear_samples(struct profile *p)
{
	struct intern *keys;
	int r = intern__new(PROFILE_MAX_SAMPLES, &keys);

	if (r < 0)
		return r;
	intern__free(p->sample_keys);
	p->sample_keys = keys;
	p->total = 0;
	p->total_weight = 0;
	return 0;
}

const char *profile__str(const struct profile *p, uint32_t id)
{
	const char *s = intern__get(p->strings, id, NULL);

	return s ? s : "";
}

const struct profile_mapping *profile__mapping(const struct profile *p, uint32_t id)
{
	if (id == 0)
		return NULL;
	return intern__get(p->mappings, id - 1, NULL);
}

const struct profile_frame *profile__frame(const struct profile *p, uint32_t id)
{
	return intern__get(p->frames, id, NULL);
}

const uint32_t *profile__stack(const struct profile *p, uint32_t id, size_t *ret_n)
{
	size_t len = 0;
	const uint32_t *s = intern__get(p->stacks, id, &len);

	*ret_n = s ? len / sizeof(uint32_t) : 0;
	return s;
}

const struct profile_sample *profile__sample(const struct profile *p, size_t i)
{
	if (i >= intern__count(p->sample_keys))
		return NULL;
	return &p->samples[i];
}

size_t profile__nr_strings(const struct profile *p)
{
	return intern__count(p->strings);
}

size_t profile__nr_mappings(const struct profile *p)
{
	return intern__count(p->mappings);
}

size_t profile__nr_frames(const struct profile *p)
{
	return intern__count(p->frames);
}

size_t profile__nr_stacks(const struct profile *p)
{
	return intern__count(p->stacks);
}

size_t profile__nr_samples(const struct profile *p)
{
	return intern__count(p->sample_keys);
}

uint64_t profile__total(const struct profile *p)
{
	return p->total;
}

uint64_t profile__total_weight(const struct profile *p)
{
	return p->total_weight;
}

struct profile_info *profile__info(struct profile *p)
{
	return &p->info;
}

const struct profile_info *profile__info_const(const struct profile *p)
{
	return &p->info;
}

int profile__set_target(struct profile *p, const char *target)
{
	char *t = strdup(target ? target : "");

	if (!t)
		return -ENOMEM;
	free(p->info.target);
	p->info.target = t;
	return 0;
}

char *profile__frame_label(const struct profile *p, const struct profile_frame *f, char *buf,
			   size_t size)
{
	const char *name = profile__str(p, f->name);

	if (f->kind == PROFILE_FRAME_PYTHON && f->file) {
		if (f->line)
			snprintf(buf, size, "%s (%s:%u)", name, profile__str(p, f->file), f->line);
		else
			snprintf(buf, size, "%s (%s)", name, profile__str(p, f->file));
	} else {
		snprintf(buf, size, "%s", name);
	}
	return buf;
}

const char *profile_frame_kind_to_string(enum profile_frame_kind kind)
{
	static const char *const names[] = {
		[PROFILE_FRAME_NATIVE] = "native",   [PROFILE_FRAME_KERNEL] = "kernel",
		[PROFILE_FRAME_PYTHON] = "python",   [PROFILE_FRAME_PROCESS] = "process",
		[PROFILE_FRAME_THREAD] = "thread",   [PROFILE_FRAME_SPECIAL] = "special",
	};

	if ((unsigned int)kind >= ARRAY_SIZE(names))
		return "unknown";
	return names[kind];
}
