// SPDX-License-Identifier: MIT
/*
 * pprof's profile.proto (proto/profile.proto), gzip-compressed, as `go tool
 * pprof`, Pyroscope and Grafana read it.
 *
 * The output is always gzip, whatever the extension: pprof sniffs the gzip
 * magic and reads a compressed ".pb" the same as a ".pb.gz", so one encoding
 * serves every name.
 *
 * Ids map straight across: a pprof mapping id is the profile's mapping id, a
 * location id is the profile's frame id + 1 (pprof reserves 0), and functions
 * are the distinct (name, file) pairs of the frames. The string table is built
 * here, deduplicated, since pprof indexes its own table rather than ours.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define ZLIB_CONST
#include <zlib.h>

#include "cleanup.h"
#include "export.h"
#include "intern.h"
#include "profile.pb-c.h"

/* Labels on every sample, in this order. String labels, not numeric: Pyroscope drops num. */
enum {
	PPROF_LABEL_PID,
	PPROF_LABEL_TID,
	PPROF_LABEL_THREAD_NAME,
	PPROF_LABEL_COMM,
	/* Only on samples from a container: */
	PPROF_LABEL_CONTAINER,
	PPROF_LABEL_NS_PID,
	_PPROF_LABEL_MAX,
};

#define PPROF_MAX_COMMENTS 4

struct pprof_writer {
	const struct profile *p;
	struct intern *strings; /* pprof's string table; id 0 is "" */
	struct intern *funcs;   /* (name, filename) string id pairs; id + 1 is the function id */
	struct intern *threads; /* (pid, tid, comm, thread name, container, ns pid): a label group */

	Perftools__Profiles__Profile msg;
	Perftools__Profiles__ValueType sample_types[2], period_type;
	Perftools__Profiles__ValueType *sample_type_ptrs[2];
	int64_t comments[PPROF_MAX_COMMENTS];

	/* One array of each per profile, never one allocation per sample. */
	Perftools__Profiles__Mapping *mappings, **mapping_ptrs;
	Perftools__Profiles__Location *locations, **location_ptrs;
	Perftools__Profiles__Line *lines, **line_ptrs;
	Perftools__Profiles__Function *functions, **function_ptrs;
	Perftools__Profiles__Sample *samples, **sample_ptrs;
	Perftools__Profiles__Label *labels, **label_ptrs;
	uint64_t *location_ids;
	int64_t *values;
	char **string_table;
};

static struct pprof_writer *pprof_writer__free(struct pprof_writer *w)
{
	if (!w)
		return NULL;
	intern__free(w->strings);
	intern__free(w->funcs);
	intern__free(w->threads);
	free(w->mappings);
	free(w->mapping_ptrs);
	free(w->locations);
	free(w->location_ptrs);
	free(w->lines);
	free(w->line_ptrs);
	free(w->functions);
	free(w->function_ptrs);
	free(w->samples);
	free(w->sample_ptrs);
	free(w->labels);
	free(w->label_ptrs);
	free(w->location_ids);
	free(w->values);
	free(w->string_table);
	free(w);
	return NULL;
}

static void pprof_writer__freep(struct pprof_writer **w)
{
	pprof_writer__free(*w);
}

/* calloc() that gives a valid pointer for 0 elements, so "NULL" always means -ENOMEM. */
static void *pprof_array(size_t n, size_t size)
{
	return calloc(n ? n : 1, size);
}

/* The pprof string table index of @s ("" for NULL), or -errno. */
static int64_t pprof_str(struct pprof_writer *w, const char *s)
{
	if (!s)
		s = "";
	return intern__add(w->strings, s, strlen(s), NULL);
}

/* The index of @prefix followed by @v in decimal. */
static int64_t pprof_str_u64(struct pprof_writer *w, const char *prefix, uint64_t v)
{
	char buf[128];

	snprintf(buf, sizeof(buf), "%s%" PRIu64, prefix, v);
	return pprof_str(w, buf);
}

/* Store the index of @s in *@field. Returns 0 or -errno. */
static int pprof_set_str(struct pprof_writer *w, int64_t *field, const char *s)
{
	int64_t id = pprof_str(w, s);

	if (id < 0)
		return (int)id;
	*field = id;
	return 0;
}

/* Add string @id (or pass its error on) to the profile's comments. */
static int pprof_add_comment(struct pprof_writer *w, int64_t id)
{
	if (id < 0)
		return (int)id;
	if (w->msg.n_comment >= PPROF_MAX_COMMENTS)
		return -E2BIG;
	w->comments[w->msg.n_comment++] = id;
	return 0;
}

/* A writer for @p with every array sized for it, so nothing grows while filling. */
static int pprof_writer__new(const struct profile *p, struct pprof_writer **ret)
{
	_cleanup_(pprof_writer__freep) struct pprof_writer *w = calloc(1, sizeof(*w));
	size_t nr_mappings = profile__nr_mappings(p), nr_frames = profile__nr_frames(p);
	size_t nr_samples = profile__nr_samples(p), nr_location_ids = 0;
	int r;

	if (!w)
		return -ENOMEM;
	w->p = p;
	if ((r = intern__new(0, &w->strings)) < 0 || (r = intern__new(0, &w->funcs)) < 0 ||
	    (r = intern__new(0, &w->threads)) < 0)
		return r;
	if (pprof_str(w, "") != 0)
		return -ENOMEM;

	for (size_t i = 0; i < nr_samples; i++) {
		size_t depth;

		profile__stack(p, profile__sample(p, i)->stack, &depth);
		nr_location_ids += depth;
	}

	w->mappings = pprof_array(nr_mappings, sizeof(*w->mappings));
	w->mapping_ptrs = pprof_array(nr_mappings, sizeof(*w->mapping_ptrs));
	w->locations = pprof_array(nr_frames, sizeof(*w->locations));
	w->location_ptrs = pprof_array(nr_frames, sizeof(*w->location_ptrs));
	w->lines = pprof_array(nr_frames, sizeof(*w->lines));
	w->line_ptrs = pprof_array(nr_frames, sizeof(*w->line_ptrs));
	w->functions = pprof_array(nr_frames, sizeof(*w->functions));
	w->function_ptrs = pprof_array(nr_frames, sizeof(*w->function_ptrs));
	w->samples = pprof_array(nr_samples, sizeof(*w->samples));
	w->sample_ptrs = pprof_array(nr_samples, sizeof(*w->sample_ptrs));
	/* Label groups are shared by the samples of a thread; there are at most as many. */
	w->labels = pprof_array(nr_samples, _PPROF_LABEL_MAX * sizeof(*w->labels));
	w->label_ptrs = pprof_array(nr_samples, _PPROF_LABEL_MAX * sizeof(*w->label_ptrs));
	w->location_ids = pprof_array(nr_location_ids, sizeof(*w->location_ids));
	w->values = pprof_array(nr_samples, 2 * sizeof(*w->values));
	if (!w->mappings || !w->mapping_ptrs || !w->locations || !w->location_ptrs || !w->lines ||
	    !w->line_ptrs || !w->functions || !w->function_ptrs || !w->samples ||
	    !w->sample_ptrs || !w->labels || !w->label_ptrs || !w->location_ids || !w->values)
		return -ENOMEM;

	perftools__profiles__profile__init(&w->msg);
	*ret = TAKE_PTR(w);
	return 0;
}

/* Sample types, period, times and the comments pprof prints above every report. */
static int pprof_add_header(struct pprof_writer *w, const struct export_options *o)
{
	const struct profile_info *info = profile__info_const(w->p);
	Perftools__Profiles__Profile *m = &w->msg;
	int r;

	for (size_t i = 0; i < ARRAY_SIZE(w->sample_types); i++) {
		perftools__profiles__value_type__init(&w->sample_types[i]);
		w->sample_type_ptrs[i] = &w->sample_types[i];
	}
	perftools__profiles__value_type__init(&w->period_type);
	if ((r = pprof_set_str(w, &w->sample_types[0].type, "samples")) < 0 ||
	    (r = pprof_set_str(w, &w->sample_types[0].unit, "count")) < 0 ||
	    (r = pprof_set_str(w, &w->sample_types[1].type, "cpu")) < 0 ||
	    (r = pprof_set_str(w, &w->sample_types[1].unit, "nanoseconds")) < 0)
		return r;
	w->period_type.type = w->sample_types[1].type;
	w->period_type.unit = w->sample_types[1].unit;

	m->n_sample_type = ARRAY_SIZE(w->sample_type_ptrs);
	m->sample_type = w->sample_type_ptrs;
	m->period_type = &w->period_type;
	m->period = (int64_t)info->period_ns;
	m->default_sample_type = w->sample_types[1].type;
	m->time_nanos = (int64_t)info->time_ns;
	m->duration_nanos = (int64_t)info->duration_ns;

	m->comment = w->comments;
	if (info->target && info->target[0] &&
	    (r = pprof_add_comment(w, pprof_str(w, info->target))) < 0)
		return r;
	if ((r = pprof_add_comment(w, pprof_str_u64(w, "lost samples: ", info->lost_samples))) < 0 ||
	    (r = pprof_add_comment(w, pprof_str_u64(w, "unknown frames: ", info->unknown_frames))) < 0)
		return r;
	if (o && o->program_version) {
		char buf[128];

		snprintf(buf, sizeof(buf), "hearth %s", o->program_version);
		if ((r = pprof_add_comment(w, pprof_str(w, buf))) < 0)
			return r;
	}
	return 0;
}

/* One pprof mapping per profile mapping, with the same id; the kernel's included. */
static int pprof_add_mappings(struct pprof_writer *w)
{
	size_t n = profile__nr_mappings(w->p);
	int r;

	for (size_t i = 0; i < n; i++) {
		const struct profile_mapping *pm = profile__mapping(w->p, (uint32_t)(i + 1));
		Perftools__Profiles__Mapping *m = &w->mappings[i];

		perftools__profiles__mapping__init(m);
		m->id = i + 1;
		m->memory_start = pm->start;
		m->memory_limit = pm->limit;
		m->file_offset = pm->offset;
		if ((r = pprof_set_str(w, &m->filename, profile__str(w->p, pm->file))) < 0 ||
		    (r = pprof_set_str(w, &m->build_id, profile__str(w->p, pm->build_id))) < 0)
			return r;
		/* Frames come symbolized: pprof must not try to look names up again. */
		m->has_functions = true;
		w->mapping_ptrs[i] = m;
	}
	w->msg.n_mapping = n;
	w->msg.mapping = w->mapping_ptrs;
	return 0;
}

/* Frames Hearth made up (process and thread roots, "[unknown]"): no code, no mapping. */
static bool pprof_frame_is_synthetic(const struct profile_frame *f)
{
	return f->kind == PROFILE_FRAME_PROCESS || f->kind == PROFILE_FRAME_THREAD ||
	       f->kind == PROFILE_FRAME_SPECIAL;
}

/* The function id (>= 1) for @f, adding the function on first sight, or -errno. */
static int64_t pprof_function(struct pprof_writer *w, const struct profile_frame *f,
			      const struct profile_mapping *pm)
{
	Perftools__Profiles__Function *fn;
	uint32_t file = f->file;
	int64_t key[2], id;
	int added;

	/*
	 * Interpreted frames name their source file; native ones name the object
	 * they came from, so `pprof -traces` shows where a function lives.
	 */
	if (f->kind != PROFILE_FRAME_PYTHON && pm)
		file = pm->file;
	key[0] = pprof_str(w, profile__str(w->p, f->name));
	if (key[0] < 0)
		return key[0];
	key[1] = pprof_str(w, profile__str(w->p, file));
	if (key[1] < 0)
		return key[1];
	id = intern__add(w->funcs, key, sizeof(key), &added);
	if (id < 0 || !added)
		return id < 0 ? id : id + 1;

	/* Functions are added in id order, at most one per frame. */
	fn = &w->functions[id];
	perftools__profiles__function__init(fn);
	fn->id = (uint64_t)id + 1;
	fn->name = key[0];
	fn->system_name = key[0];
	fn->filename = key[1];
	w->function_ptrs[id] = fn;
	w->msg.n_function = (size_t)id + 1;
	return id + 1;
}

/* One location per frame, id = frame id + 1, with a single line naming its function. */
static int pprof_add_locations(struct pprof_writer *w)
{
	size_t n = profile__nr_frames(w->p);

	for (size_t i = 0; i < n; i++) {
		const struct profile_frame *f = profile__frame(w->p, (uint32_t)i);
		const struct profile_mapping *pm = NULL;
		Perftools__Profiles__Location *loc = &w->locations[i];
		Perftools__Profiles__Line *line = &w->lines[i];
		int64_t fn;

		if (!pprof_frame_is_synthetic(f))
			pm = profile__mapping(w->p, f->mapping);
		fn = pprof_function(w, f, pm);
		if (fn < 0)
			return (int)fn;

		perftools__profiles__line__init(line);
		line->function_id = (uint64_t)fn;
		line->line = f->line;
		w->line_ptrs[i] = line;

		perftools__profiles__location__init(loc);
		loc->id = i + 1;
		loc->mapping_id = pm ? f->mapping : 0;
		loc->address = f->address;
		loc->n_line = 1;
		loc->line = &w->line_ptrs[i];
		w->location_ptrs[i] = loc;
	}
	w->msg.n_location = n;
	w->msg.location = w->location_ptrs;
	w->msg.function = w->function_ptrs;
	return 0;
}

/*
 * The labels of a sample's thread: samples differ by stack far more often than
 * by thread, so each (pid, tid, comm, thread name, container, ns pid) gets one group of labels
 * that all its samples point at. Returns the group or NULL with *ret_err set.
 */
static Perftools__Profiles__Label **pprof_thread_labels(struct pprof_writer *w,
							const struct profile_sample *ps,
							const int64_t *keys, int *ret_err)
{
	const uint32_t key[] = { ps->pid, ps->tid, ps->comm, ps->thread_name, ps->container, ps->ns_pid };
	Perftools__Profiles__Label *labels, **ptrs;
	int64_t id, vals[_PPROF_LABEL_MAX];
	int added;

	id = intern__add(w->threads, key, sizeof(key), &added);
	if (id < 0) {
		*ret_err = (int)id;
		return NULL;
	}
	labels = &w->labels[id * _PPROF_LABEL_MAX];
	ptrs = &w->label_ptrs[id * _PPROF_LABEL_MAX];
	if (!added)
		return ptrs;

	vals[PPROF_LABEL_PID] = pprof_str_u64(w, "", ps->pid);
	vals[PPROF_LABEL_TID] = pprof_str_u64(w, "", ps->tid);
	vals[PPROF_LABEL_THREAD_NAME] = pprof_str(w, profile__str(w->p, ps->thread_name));
	vals[PPROF_LABEL_COMM] = pprof_str(w, profile__str(w->p, ps->comm));
	vals[PPROF_LABEL_CONTAINER] = pprof_str(w, profile__str(w->p, ps->container));
	vals[PPROF_LABEL_NS_PID] = pprof_str_u64(w, "", ps->ns_pid);
	for (size_t l = 0; l < _PPROF_LABEL_MAX; l++) {
		if (vals[l] < 0) {
			*ret_err = (int)vals[l];
			return NULL;
		}
		perftools__profiles__label__init(&labels[l]);
		labels[l].key = keys[l];
		labels[l].str = vals[l];
		ptrs[l] = &labels[l];
	}
	return ptrs;
}

/* One pprof sample per profile sample: its stack, [count, the CPU time it stands for] and labels. */
static int pprof_add_samples(struct pprof_writer *w)
{
	size_t n = profile__nr_samples(w->p), next_location = 0;
	int64_t keys[_PPROF_LABEL_MAX];
	int r;

	if ((r = pprof_set_str(w, &keys[PPROF_LABEL_PID], "pid")) < 0 ||
	    (r = pprof_set_str(w, &keys[PPROF_LABEL_TID], "thread_id")) < 0 ||
	    (r = pprof_set_str(w, &keys[PPROF_LABEL_THREAD_NAME], "thread_name")) < 0 ||
	    (r = pprof_set_str(w, &keys[PPROF_LABEL_COMM], "comm")) < 0 ||
	    (r = pprof_set_str(w, &keys[PPROF_LABEL_CONTAINER], "container_id")) < 0 ||
	    (r = pprof_set_str(w, &keys[PPROF_LABEL_NS_PID], "ns_pid")) < 0)
		return r;

	for (size_t i = 0; i < n; i++) {
		const struct profile_sample *ps = profile__sample(w->p, i);
		Perftools__Profiles__Sample *s = &w->samples[i];
		const uint32_t *stack;
		size_t depth;

		perftools__profiles__sample__init(s);

		/* Both stacks and pprof are leaf first. */
		stack = profile__stack(w->p, ps->stack, &depth);
		s->n_location_id = depth;
		s->location_id = &w->location_ids[next_location];
		for (size_t d = 0; d < depth; d++)
			w->location_ids[next_location++] = (uint64_t)stack[d] + 1;

		s->n_value = 2;
		s->value = &w->values[2 * i];
		s->value[0] = (int64_t)ps->count;
		s->value[1] = (int64_t)ps->weight_ns;

		s->label = pprof_thread_labels(w, ps, keys, &r);
		if (!s->label)
			return r;
		s->n_label = ps->container ? _PPROF_LABEL_MAX : PPROF_LABEL_CONTAINER;
		w->sample_ptrs[i] = s;
	}
	w->msg.n_sample = n;
	w->msg.sample = w->sample_ptrs;
	return 0;
}

/* Point the message at the finished string table; no string may be added after this. */
static int pprof_finish_strings(struct pprof_writer *w)
{
	size_t n = intern__count(w->strings);

	w->string_table = pprof_array(n, sizeof(*w->string_table));
	if (!w->string_table)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		w->string_table[i] = (char *)intern__get(w->strings, (uint32_t)i, NULL);
	w->msg.n_string_table = n;
	w->msg.string_table = w->string_table;
	return 0;
}

/* Write @len bytes at @data to @out as one gzip member. */
static int pprof_gzip(const uint8_t *data, size_t len, FILE *out)
{
	unsigned char buf[16384];
	z_stream z = { 0 };
	int flush, zr, r = 0;

	zr = deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
	if (zr != Z_OK)
		return zr == Z_MEM_ERROR ? -ENOMEM : -EINVAL;
	z.next_in = data;
	do {
		/* avail_in is 32 bits wide: feed a large buffer in pieces. */
		uInt chunk = len > (1u << 30) ? (1u << 30) : (uInt)len;

		z.avail_in = chunk;
		len -= chunk;
		flush = len ? Z_NO_FLUSH : Z_FINISH;
		do {
			size_t have;

			z.next_out = buf;
			z.avail_out = sizeof(buf);
			zr = deflate(&z, flush);
			if (zr == Z_STREAM_ERROR) {
				r = -EIO;
				goto out;
			}
			have = sizeof(buf) - z.avail_out;
			if (have && fwrite(buf, 1, have, out) != have) {
				r = -EIO;
				goto out;
			}
		} while (z.avail_out == 0);
	} while (flush != Z_FINISH);
	if (zr != Z_STREAM_END)
		r = -EIO;
out:
	deflateEnd(&z);
	return r;
}

static int pprof_write(const struct profile *p, const struct export_options *o, FILE *out)
{
	_cleanup_(pprof_writer__freep) struct pprof_writer *w = NULL;
	_cleanup_free_ uint8_t *packed = NULL;
	size_t len;
	int r;

	/* pprof compares two files itself: go tool pprof -diff_base. */
	if (o && o->base)
		return -EOPNOTSUPP;
	r = pprof_writer__new(p, &w);
	if (r < 0)
		return r;
	if ((r = pprof_add_header(w, o)) < 0 || (r = pprof_add_mappings(w)) < 0 ||
	    (r = pprof_add_locations(w)) < 0 || (r = pprof_add_samples(w)) < 0 ||
	    (r = pprof_finish_strings(w)) < 0)
		return r;

	len = perftools__profiles__profile__get_packed_size(&w->msg);
	packed = malloc(len ? len : 1);
	if (!packed)
		return -ENOMEM;
	if (perftools__profiles__profile__pack(&w->msg, packed) != len)
		return -EIO;
	/* The packed bytes stand alone: free the message before compressing, to lower the peak. */
	w = pprof_writer__free(w);

	r = pprof_gzip(packed, len, out);
	if (r < 0)
		return r;
	/* Flush so a full disk shows here, not only at the caller's fclose(). */
	if (fflush(out) != 0 || ferror(out))
		return -EIO;
	return 0;
}

static const char *const pprof_extensions[] = { ".pb.gz", ".pprof", ".pb", NULL };

const struct exporter exporter_pprof = {
	.name = "pprof",
	.description = "pprof protobuf, gzip-compressed (go tool pprof, Pyroscope, Grafana)",
	.extensions = pprof_extensions,
	.write = pprof_write,
};
