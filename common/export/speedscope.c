// SPDX-License-Identifier: MIT
/*
 * speedscope's JSON file format (https://www.speedscope.app/file-format-schema.json):
 * one table of frames shared by all profiles, and one "sampled" profile per
 * process, or per thread with --threads. A sample is a stack of indices into
 * the frame table, root first, with a weight: the CPU time its samples stand
 * for, in nanoseconds (plain counts when the profile carries no weights).
 *
 * Stacks that look the same in speedscope (the same frame indices, say two
 * addresses in one function) are merged into one sample. Profiles come in
 * (pid, tid) order and, within one, samples in order of first appearance, so
 * the same profile always gives the same bytes.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "export.h"
#include "intern.h"
#include "json.h"

#define SPEEDSCOPE_SCHEMA "https://www.speedscope.app/file-format-schema.json"
#define SPEEDSCOPE_NO_INDEX UINT32_MAX

/* One sample of the profile, with the key that puts it in its speedscope profile. */
struct speedscope_ref {
	uint32_t pid;
	uint32_t tid;    /* 0 unless per thread */
	uint32_t stack;  /* speedscope stack id */
	uint32_t sample; /* index in the profile */
};

struct speedscope_writer {
	const struct profile *p;
	bool per_thread;
	/* Speedscope frames, each keyed "name\0file\0" + line; the id is the index. */
	struct intern *frames;
	uint32_t *frame_index; /* profile frame id -> speedscope index, or SPEEDSCOPE_NO_INDEX */
	size_t nr_profile_frames;
	/* Speedscope stacks: frame indices, root first; the id orders samples. */
	struct intern *stacks;
	uint32_t *stack_index; /* profile stack id -> speedscope stack id, or SPEEDSCOPE_NO_INDEX */
	size_t nr_profile_stacks;
	struct speedscope_ref *refs;
	size_t nr_refs;
	uint32_t indices[PROFILE_MAX_DEPTH];
	char label[4096];
	char key[2 * 4096 + sizeof(uint32_t)]; /* name, file, line */
};

static void speedscope_writer_done(struct speedscope_writer *w)
{
	intern__free(w->frames);
	intern__free(w->stacks);
	free(w->frame_index);
	free(w->stack_index);
	free(w->refs);
}

static int speedscope_ref_cmp(const void *a, const void *b)
{
	const struct speedscope_ref *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	if (x->tid != y->tid)
		return x->tid < y->tid ? -1 : 1;
	if (x->stack != y->stack)
		return x->stack < y->stack ? -1 : 1;
	return x->sample < y->sample ? -1 : x->sample > y->sample;
}

static bool speedscope_same_profile(const struct speedscope_ref *a, const struct speedscope_ref *b)
{
	return a->pid == b->pid && a->tid == b->tid;
}

/* The speedscope index of the frame with this name, file and line, added on first sight. */
static int64_t speedscope_add_frame(struct speedscope_writer *w, const char *name,
				    const char *file, uint32_t line)
{
	size_t nn = strnlen(name, sizeof(w->label) - 1), fn = strnlen(file, sizeof(w->label) - 1);
	size_t len = 0;

	memcpy(w->key, name, nn);
	len += nn;
	w->key[len++] = '\0';
	memcpy(w->key + len, file, fn);
	len += fn;
	w->key[len++] = '\0';
	memcpy(w->key + len, &line, sizeof(line));
	len += sizeof(line);
	return intern__add(w->frames, w->key, len, NULL);
}

/*
 * Process roots say what the speedscope profile already says; so do thread
 * roots when each thread has its own profile. Without per-thread profiles,
 * thread roots still tell the threads of a process apart, and stay.
 */
static bool speedscope_frame_skipped(const struct speedscope_writer *w,
				     const struct profile_frame *f)
{
	return f->kind == PROFILE_FRAME_PROCESS ||
	       (w->per_thread && f->kind == PROFILE_FRAME_THREAD);
}

/* The speedscope index of profile frame @id, or -errno. */
static int64_t speedscope_frame(struct speedscope_writer *w, uint32_t id)
{
	const struct profile_frame *f;
	const char *name;
	int64_t idx;

	if (id < w->nr_profile_frames && w->frame_index[id] != SPEEDSCOPE_NO_INDEX)
		return w->frame_index[id];
	f = profile__frame(w->p, id);
	if (!f)
		return speedscope_add_frame(w, "[invalid frame]", "", 0);
	/* The file and line go in their own fields, so not into the name as well. */
	if (f->kind == PROFILE_FRAME_PYTHON)
		name = profile__str(w->p, f->name);
	else
		name = profile__frame_label(w->p, f, w->label, sizeof(w->label));
	idx = speedscope_add_frame(w, name, profile__str(w->p, f->file), f->line);
	if (idx >= 0 && id < w->nr_profile_frames)
		w->frame_index[id] = (uint32_t)idx;
	return idx;
}

/*
 * The speedscope stack id of profile stack @id: its frame indices, root first,
 * numbering frames on first sight. Returns the id or -errno.
 */
static int64_t speedscope_stack(struct speedscope_writer *w, uint32_t id)
{
	const uint32_t *frames;
	size_t depth, n = 0;
	int64_t idx;

	if (id < w->nr_profile_stacks && w->stack_index[id] != SPEEDSCOPE_NO_INDEX)
		return w->stack_index[id];
	frames = profile__stack(w->p, id, &depth);
	if (!frames)
		depth = 0;
	if (depth > PROFILE_MAX_DEPTH)
		return -E2BIG;
	for (size_t d = depth; d-- > 0;) {
		const struct profile_frame *f = profile__frame(w->p, frames[d]);

		if (f && speedscope_frame_skipped(w, f))
			continue;
		idx = speedscope_frame(w, frames[d]);
		if (idx < 0)
			return idx;
		w->indices[n++] = (uint32_t)idx;
	}
	if (n == 0) {
		idx = speedscope_add_frame(w, "[empty]", "", 0);
		if (idx < 0)
			return idx;
		w->indices[n++] = (uint32_t)idx;
	}
	idx = intern__add(w->stacks, w->indices, n * sizeof(w->indices[0]), NULL);
	if (idx >= 0 && id < w->nr_profile_stacks)
		w->stack_index[id] = (uint32_t)idx;
	return idx;
}

static void speedscope_write_stack(const struct speedscope_writer *w, uint32_t stack, FILE *out)
{
	size_t len;
	const uint32_t *indices = intern__get(w->stacks, stack, &len);

	fputc('[', out);
	for (size_t i = 0; i < len / sizeof(*indices); i++)
		fprintf(out, "%s%u", i ? "," : "", indices[i]);
	fputc(']', out);
}

static uint64_t add_saturated(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

static uint64_t speedscope_weight(const struct profile *p, const struct profile_sample *s)
{
	return profile__total_weight(p) ? s->weight_ns : s->count;
}

static void speedscope_write_frames(struct speedscope_writer *w, FILE *out)
{
	size_t n = intern__count(w->frames);

	fputs("\"shared\":{\"frames\":[", out);
	for (size_t i = 0; i < n; i++) {
		size_t len;
		const char *key = intern__get(w->frames, (uint32_t)i, &len);
		const char *file = key + strlen(key) + 1;
		uint32_t line;

		memcpy(&line, key + len - sizeof(line), sizeof(line));
		fputs(i ? ",\n" : "\n", out);
		fputs("{\"name\":", out);
		json_string(out, key);
		if (*file) {
			fputs(",\"file\":", out);
			json_string(out, file);
		}
		if (line)
			fprintf(out, ",\"line\":%u", line);
		fputc('}', out);
	}
	fputs("]},\n", out);
}

/* "burn (pid 100)", or "burn (pid 100) thread worker (tid 101)" per thread. */
static void speedscope_write_profile_name(struct speedscope_writer *w,
					  const struct profile_sample *first, FILE *out)
{
	const char *comm = profile__str(w->p, first->comm);
	const char *thread = profile__str(w->p, first->thread_name);

	fputc('"', out);
	if (*comm) {
		json_escape(out, comm);
		fputc(' ', out);
	}
	fprintf(out, "(pid %u)", first->pid);
	if (w->per_thread) {
		fputs(" thread ", out);
		if (*thread) {
			json_escape(out, thread);
			fputc(' ', out);
		}
		fprintf(out, "(tid %u)", first->tid);
	}
	fputc('"', out);
}

/* One "sampled" profile from refs [begin, end), all of one process or thread. */
static void speedscope_write_profile(struct speedscope_writer *w, size_t begin, size_t end,
				    FILE *out)
{
	uint32_t first = w->refs[begin].sample;
	uint64_t total = 0, weight;
	bool any = false;

	for (size_t i = begin; i < end; i++) {
		const struct profile_sample *s = profile__sample(w->p, w->refs[i].sample);

		total = add_saturated(total, speedscope_weight(w->p, s));
		if (w->refs[i].sample < first)
			first = w->refs[i].sample;
	}
	fputs("{\"type\":\"sampled\",\"name\":", out);
	speedscope_write_profile_name(w, profile__sample(w->p, first), out);
	fprintf(out, ",\"unit\":\"%s\",\"startValue\":0,\"endValue\":%llu,\n\"samples\":[",
		profile__total_weight(w->p) ? "nanoseconds" : "none", (unsigned long long)total);
	for (size_t i = begin; i < end; i++) {
		if (i > begin && w->refs[i].stack == w->refs[i - 1].stack)
			continue;
		if (any)
			fputc(',', out);
		speedscope_write_stack(w, w->refs[i].stack, out);
		any = true;
	}
	fputs("],\n\"weights\":[", out);
	any = false;
	for (size_t i = begin; i < end;) {
		uint32_t stack = w->refs[i].stack;

		/* Equal stacks are adjacent (sorted), and merged into one sample. */
		for (weight = 0; i < end && w->refs[i].stack == stack; i++)
			weight = add_saturated(weight, speedscope_weight(w->p, profile__sample(w->p, w->refs[i].sample)));
		fprintf(out, "%s%llu", any ? "," : "", (unsigned long long)weight);
		any = true;
	}
	fputs("]}", out);
}

static int speedscope_write(const struct profile *p, const struct export_options *o, FILE *out)
{
	_cleanup_(speedscope_writer_done) struct speedscope_writer w = {
		.p = p,
		.per_thread = o && o->per_thread,
		.nr_profile_frames = profile__nr_frames(p),
		.nr_profile_stacks = profile__nr_stacks(p),
		.nr_refs = profile__nr_samples(p),
	};
	const struct profile_info *info = profile__info_const(p);
	const char *version = o && o->program_version ? o->program_version : NULL;
	size_t nr_profiles = 0;
	int64_t r;

	if (o && o->base)
		return -EOPNOTSUPP;
	if ((r = intern__new(0, &w.frames)) < 0 || (r = intern__new(0, &w.stacks)) < 0)
		return (int)r;
	w.frame_index = malloc((w.nr_profile_frames ? w.nr_profile_frames : 1) * sizeof(uint32_t));
	w.stack_index = malloc((w.nr_profile_stacks ? w.nr_profile_stacks : 1) * sizeof(uint32_t));
	w.refs = calloc(w.nr_refs ? w.nr_refs : 1, sizeof(*w.refs));
	if (!w.frame_index || !w.stack_index || !w.refs)
		return -ENOMEM;
	memset(w.frame_index, 0xff, w.nr_profile_frames * sizeof(uint32_t));
	memset(w.stack_index, 0xff, w.nr_profile_stacks * sizeof(uint32_t));

	/* Frames and stacks are numbered in sample order, before any of them is written. */
	for (size_t i = 0; i < w.nr_refs; i++) {
		const struct profile_sample *s = profile__sample(p, i);

		r = speedscope_stack(&w, s->stack);
		if (r < 0)
			return (int)r;
		w.refs[i] = (struct speedscope_ref){
			.pid = s->pid,
			.tid = w.per_thread ? s->tid : 0,
			.stack = (uint32_t)r,
			.sample = (uint32_t)i,
		};
	}
	qsort(w.refs, w.nr_refs, sizeof(*w.refs), speedscope_ref_cmp);

	fputs("{\"$schema\":\"" SPEEDSCOPE_SCHEMA "\",\n", out);
	speedscope_write_frames(&w, out);
	fputs("\"profiles\":[", out);
	for (size_t begin = 0, end; begin < w.nr_refs; begin = end) {
		end = begin + 1;
		while (end < w.nr_refs && speedscope_same_profile(&w.refs[begin], &w.refs[end]))
			end++;
		fputs(nr_profiles++ ? ",\n" : "\n", out);
		speedscope_write_profile(&w, begin, end, out);
	}
	fputs("],\n\"name\":", out);
	json_string(out, info->target ? info->target : "");
	/* speedscope opens the first profile; an empty file has none to point at. */
	if (nr_profiles)
		fputs(",\"activeProfileIndex\":0", out);
	fputs(",\"exporter\":\"hearth", out);
	if (version) {
		fputc(' ', out);
		json_escape(out, version);
	}
	fputs("\"}\n", out);
	return ferror(out) ? -EIO : 0;
}

static const char *const speedscope_extensions[] = { ".speedscope.json", ".speedscope", NULL };

const struct exporter exporter_speedscope = {
	.name = "speedscope",
	.description = "speedscope JSON, a sampled profile per process (per thread with --threads)",
	.extensions = speedscope_extensions,
	.write = speedscope_write,
};
