// SPDX-License-Identifier: MIT
/*
 * The pprof writer: export the fixture to memory, gunzip and decode it with
 * the same schema pprof uses, and compare every field with what the fixture
 * holds. tests/tools/check-pprof.py does the same with `go tool pprof` itself.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "check.h"
#include "export.h"
#include "fixture.h"
#include "profile.pb-c.h"

typedef Perftools__Profiles__Profile Profile;

/* Run the pprof writer on @p and return its bytes (gzip), or NULL. */
static unsigned char *export_pprof(const struct profile *p, size_t *ret_len)
{
	struct export_options o = { .program_version = "test" };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int r;

	if (!f)
		return NULL;
	r = exporter_pprof.write(p, &o, f);
	CHECK_INT(r, 0);
	fclose(f);
	*ret_len = len;
	return (unsigned char *)buf;
}

/* Inflate a gzip member; NULL if it is not one. */
static unsigned char *gunzip(const unsigned char *in, size_t in_len, size_t *ret_len)
{
	z_stream z = { 0 };
	unsigned char *out = NULL;
	size_t cap = 4096, len = 0;
	int zr;

	if (inflateInit2(&z, 15 + 16) != Z_OK)
		return NULL;
	z.next_in = (unsigned char *)in;
	z.avail_in = (uInt)in_len;
	do {
		unsigned char *o = realloc(out, cap *= 2);

		if (!o) {
			free(out);
			inflateEnd(&z);
			return NULL;
		}
		out = o;
		z.next_out = out + len;
		z.avail_out = (uInt)(cap - len);
		zr = inflate(&z, Z_NO_FLUSH);
		len = cap - z.avail_out;
	} while (zr == Z_OK);
	inflateEnd(&z);
	if (zr != Z_STREAM_END || z.avail_in) {
		free(out);
		return NULL;
	}
	*ret_len = len;
	return out;
}

static Profile *export_and_decode(const struct profile *p)
{
	unsigned char *gz, *raw;
	size_t gz_len = 0, raw_len = 0;
	Profile *m;

	gz = export_pprof(p, &gz_len);
	CHECK_TRUE(gz != NULL);
	if (!gz)
		return NULL;
	/* Always gzip, whatever the extension. */
	CHECK_TRUE(gz_len > 2 && gz[0] == 0x1f && gz[1] == 0x8b);
	raw = gunzip(gz, gz_len, &raw_len);
	free(gz);
	CHECK_TRUE(raw != NULL);
	if (!raw)
		return NULL;
	m = perftools__profiles__profile__unpack(NULL, raw_len, raw);
	free(raw);
	CHECK_TRUE(m != NULL);
	return m;
}

/* The string at @i, or "(bad index)" so a check fails readably. */
static const char *str(const Profile *m, int64_t i)
{
	if (i < 0 || (size_t)i >= m->n_string_table)
		return "(bad index)";
	return m->string_table[i];
}

static const Perftools__Profiles__Location *location(const Profile *m, uint64_t id)
{
	for (size_t i = 0; i < m->n_location; i++)
		if (m->location[i]->id == id)
			return m->location[i];
	return NULL;
}

static const Perftools__Profiles__Function *function(const Profile *m, uint64_t id)
{
	for (size_t i = 0; i < m->n_function; i++)
		if (m->function[i]->id == id)
			return m->function[i];
	return NULL;
}

static const Perftools__Profiles__Mapping *mapping(const Profile *m, uint64_t id)
{
	for (size_t i = 0; i < m->n_mapping; i++)
		if (m->mapping[i]->id == id)
			return m->mapping[i];
	return NULL;
}

/* The function behind location @id (each location has exactly one line). */
static const Perftools__Profiles__Function *location_function(const Profile *m, uint64_t id)
{
	const Perftools__Profiles__Location *l = location(m, id);

	if (!l || l->n_line != 1)
		return NULL;
	return function(m, l->line[0]->function_id);
}

static const char *location_name(const Profile *m, uint64_t id)
{
	const Perftools__Profiles__Function *f = location_function(m, id);

	return f ? str(m, f->name) : "(no function)";
}

/* The filename of the mapping behind location @id, "" if it has none. */
static const char *location_mapping_file(const Profile *m, uint64_t id)
{
	const Perftools__Profiles__Location *l = location(m, id);
	const Perftools__Profiles__Mapping *mp;

	if (!l)
		return "(no location)";
	if (!l->mapping_id)
		return "";
	mp = mapping(m, l->mapping_id);
	return mp ? str(m, mp->filename) : "(no mapping)";
}

/* The string value of label @key, checking that it is a string label. */
static const char *label(const Profile *m, const Perftools__Profiles__Sample *s, const char *key)
{
	for (size_t i = 0; i < s->n_label; i++) {
		if (strcmp(str(m, s->label[i]->key), key))
			continue;
		CHECK_INT(s->label[i]->num, 0);
		return str(m, s->label[i]->str);
	}
	return "(no label)";
}

static bool has_comment(const Profile *m, const char *text)
{
	for (size_t i = 0; i < m->n_comment; i++)
		if (!strcmp(str(m, m->comment[i]), text))
			return true;
	return false;
}

/* Every string index in range, and the table deduplicated, as pprof expects. */
static void check_strings(const Profile *m)
{
	CHECK_TRUE(m->n_string_table >= 1);
	if (m->n_string_table < 1)
		return;
	CHECK_STR(m->string_table[0], "");
	for (size_t i = 0; i < m->n_string_table; i++)
		for (size_t j = i + 1; j < m->n_string_table; j++)
			if (!strcmp(m->string_table[i], m->string_table[j]))
				CHECK_STR("duplicate string", m->string_table[i]);
}

/* Every location id a sample names exists, and every mapping id a location names. */
static void check_references(const Profile *m)
{
	for (size_t i = 0; i < m->n_sample; i++)
		for (size_t j = 0; j < m->sample[i]->n_location_id; j++)
			CHECK_TRUE(location(m, m->sample[i]->location_id[j]) != NULL);
	for (size_t i = 0; i < m->n_location; i++) {
		const Perftools__Profiles__Location *l = m->location[i];

		CHECK_TRUE(l->id != 0);
		CHECK_TRUE(!l->mapping_id || mapping(m, l->mapping_id) != NULL);
		CHECK_TRUE(l->n_line == 1 && function(m, l->line[0]->function_id) != NULL);
	}
}

static void check_sample(const Profile *m, size_t i, uint64_t count, const char *const *names,
			 size_t depth)
{
	const Perftools__Profiles__Sample *s;

	CHECK_TRUE(i < m->n_sample);
	if (i >= m->n_sample)
		return;
	s = m->sample[i];
	CHECK_INT(s->n_value, 2);
	if (s->n_value == 2) {
		CHECK_INT(s->value[0], count);
		CHECK_INT(s->value[1], count * FIXTURE_SAMPLE_NS);
	}
	CHECK_INT(s->n_location_id, depth);
	for (size_t d = 0; d < depth && d < s->n_location_id; d++)
		CHECK_STR(location_name(m, s->location_id[d]), names[d]);
}

static void test_fixture(void)
{
	struct profile *p = fixture_profile();
	Profile *m = export_and_decode(p);
	const Perftools__Profiles__Mapping *mp;
	const Perftools__Profiles__Location *l;
	const Perftools__Profiles__Function *f;

	profile__free(p);
	if (!m)
		return;
	check_strings(m);
	check_references(m);

	CHECK_INT(m->n_sample_type, 2);
	if (m->n_sample_type == 2) {
		CHECK_STR(str(m, m->sample_type[0]->type), "samples");
		CHECK_STR(str(m, m->sample_type[0]->unit), "count");
		CHECK_STR(str(m, m->sample_type[1]->type), "cpu");
		CHECK_STR(str(m, m->sample_type[1]->unit), "nanoseconds");
	}
	CHECK_TRUE(m->period_type != NULL);
	if (m->period_type) {
		CHECK_STR(str(m, m->period_type->type), "cpu");
		CHECK_STR(str(m, m->period_type->unit), "nanoseconds");
	}
	CHECK_INT(m->period, 1000000000 / 99);
	CHECK_STR(str(m, m->default_sample_type), "cpu");
	CHECK_INT(m->time_nanos, 1700000000000000000ll);
	CHECK_INT(m->duration_nanos, 2000000000ll);

	CHECK_TRUE(has_comment(m, "pid 100,200"));
	CHECK_TRUE(has_comment(m, "lost samples: 0"));
	CHECK_TRUE(has_comment(m, "unknown frames: 5"));
	CHECK_TRUE(has_comment(m, "hearth test"));

	/* Samples in the fixture's order, leaf first. */
	CHECK_INT(m->n_sample, 5);
	check_sample(m, 0, 50, (const char *const[]){ "spin", "work", "main" }, 3);
	check_sample(m, 1, 10,
		     (const char *const[]){ "asm_sysvec_apic_timer_interrupt", "spin", "work", "main" },
		     4);
	check_sample(m, 2, 20, (const char *const[]){ "idle", "main" }, 2);
	check_sample(m, 3, 10, (const char *const[]){ "worker_loop", "start_thread" }, 2);
	check_sample(m, 4, 5, (const char *const[]){ "libx.so+0x1234", "main" }, 2);
	if (m->n_sample == 5) {
		const Perftools__Profiles__Sample *s = m->sample[3];

		CHECK_INT(s->n_label, 4);
		CHECK_STR(label(m, s, "pid"), "100");
		CHECK_STR(label(m, s, "thread_id"), "101");
		CHECK_STR(label(m, s, "thread_name"), "worker");
		CHECK_STR(label(m, s, "comm"), "burn");
		s = m->sample[0];
		CHECK_STR(label(m, s, "thread_id"), "100");
		CHECK_STR(label(m, s, "thread_name"), "burn");
		s = m->sample[2]; /* same thread as sample 0 */
		CHECK_STR(label(m, s, "pid"), "100");
		CHECK_STR(label(m, s, "comm"), "burn");
		s = m->sample[4];
		CHECK_STR(label(m, s, "pid"), "200");
		CHECK_STR(label(m, s, "comm"), "other");

		/* The kernel leaf lives in the kernel mapping, the rest in the program. */
		s = m->sample[1];
		CHECK_STR(location_mapping_file(m, s->location_id[0]), "[kernel.kallsyms]");
		CHECK_STR(location_mapping_file(m, s->location_id[1]), "/usr/bin/burn");
		l = location(m, s->location_id[0]);
		CHECK_TRUE(l && l->address == 0xffffffff81e00a40ull);
		s = m->sample[3];
		CHECK_STR(location_mapping_file(m, s->location_id[1]), "/usr/lib/libx.so");
	}

	CHECK_INT(m->n_mapping, 3);
	mp = mapping(m, 1);
	CHECK_TRUE(mp != NULL);
	if (mp) {
		CHECK_STR(str(m, mp->filename), "/usr/bin/burn");
		CHECK_STR(str(m, mp->build_id), "0123456789abcdef0123456789abcdef01234567");
		CHECK_INT(mp->memory_start, 0x400000);
		CHECK_INT(mp->memory_limit, 0x500000);
		CHECK_INT(mp->file_offset, 0);
		CHECK_TRUE(mp->has_functions);
	}
	mp = mapping(m, 2);
	CHECK_TRUE(mp != NULL);
	if (mp) {
		CHECK_STR(str(m, mp->filename), "/usr/lib/libx.so");
		CHECK_STR(str(m, mp->build_id), "");
		CHECK_INT(mp->memory_start, 0x7f0000000000);
		CHECK_INT(mp->file_offset, 0x1000);
	}
	mp = mapping(m, 3);
	CHECK_TRUE(mp != NULL);
	if (mp) {
		CHECK_STR(str(m, mp->filename), "[kernel.kallsyms]");
		CHECK_TRUE(mp->memory_start == 0xffffffff81000000ull);
		CHECK_TRUE(mp->memory_limit == 0xffffffffa0000000ull);
	}

	/* One location per frame; the two "main" frames of one file share a function. */
	CHECK_INT(m->n_location, 9);
	CHECK_INT(m->n_function, 8);
	l = location(m, 1);
	CHECK_TRUE(l && l->address == 0x401000 && l->mapping_id == 1);
	f = location_function(m, 1);
	CHECK_TRUE(f != NULL);
	if (f) {
		CHECK_STR(str(m, f->name), "main");
		CHECK_STR(str(m, f->system_name), "main");
		CHECK_STR(str(m, f->filename), "/usr/bin/burn");
		CHECK_TRUE(location_function(m, 8) == f); /* the second "main" frame */
	}
	f = location_function(m, 5);
	CHECK_TRUE(f && !strcmp(str(m, f->filename), "[kernel.kallsyms]"));

	perftools__profiles__profile__free_unpacked(m, NULL);
}

static void test_empty(void)
{
	struct profile *p = NULL;
	Profile *m;

	CHECK_INT(profile__new(&p), 0);
	if (!p)
		return;
	m = export_and_decode(p);
	profile__free(p);
	if (!m)
		return;
	check_strings(m);
	CHECK_INT(m->n_sample, 0);
	CHECK_INT(m->n_location, 0);
	CHECK_INT(m->n_function, 0);
	CHECK_INT(m->n_mapping, 0);
	CHECK_INT(m->n_sample_type, 2);
	CHECK_TRUE(has_comment(m, "lost samples: 0"));
	perftools__profiles__profile__free_unpacked(m, NULL);
}

/* Interpreted frames keep their source file and line; synthetic roots have no mapping. */
static void test_python_and_synthetic(void)
{
	struct profile *p = NULL;
	struct profile_mapping exe = { .start = 0x400000, .limit = 0x500000 };
	struct profile_frame py = { .kind = PROFILE_FRAME_PYTHON, .line = 42 };
	struct profile_frame root = { .kind = PROFILE_FRAME_PROCESS };
	struct profile_frame special = { .kind = PROFILE_FRAME_SPECIAL, .address = 0x401000 };
	struct profile_sample s = { .pid = 7, .tid = 8 };
	uint32_t stack[3];
	Profile *m;

	CHECK_INT(profile__new(&p), 0);
	if (!p)
		return;
	exe.file = (uint32_t)profile__intern(p, "/usr/bin/python3");
	special.mapping = (uint32_t)profile__add_mapping(p, &exe);
	py.name = (uint32_t)profile__intern(p, "compute");
	py.file = (uint32_t)profile__intern(p, "/app/job.py");
	root.name = (uint32_t)profile__intern(p, "python3 (7)");
	special.name = (uint32_t)profile__intern(p, "[unknown]");
	stack[0] = (uint32_t)profile__add_frame(p, &special);
	stack[1] = (uint32_t)profile__add_frame(p, &py);
	stack[2] = (uint32_t)profile__add_frame(p, &root);
	s.stack = (uint32_t)profile__add_stack(p, stack, 3);
	s.comm = (uint32_t)profile__intern(p, "python3");
	CHECK_INT(profile__add_sample(p, &s, 3, 30000000), 0);

	m = export_and_decode(p);
	profile__free(p);
	if (!m)
		return;
	check_strings(m);
	check_references(m);
	CHECK_INT(m->n_sample, 1);
	if (m->n_sample == 1 && m->sample[0]->n_location_id == 3) {
		const uint64_t *ids = m->sample[0]->location_id;
		const Perftools__Profiles__Function *f = location_function(m, ids[1]);
		const Perftools__Profiles__Location *l = location(m, ids[1]);

		CHECK_STR(location_name(m, ids[0]), "[unknown]");
		CHECK_STR(location_mapping_file(m, ids[0]), "");
		CHECK_TRUE(f && !strcmp(str(m, f->name), "compute") &&
			   !strcmp(str(m, f->filename), "/app/job.py"));
		CHECK_TRUE(l && l->n_line == 1 && l->line[0]->line == 42);
		CHECK_STR(location_name(m, ids[2]), "python3 (7)");
		CHECK_STR(location_mapping_file(m, ids[2]), "");
		CHECK_STR(label(m, m->sample[0], "thread_name"), "");
		CHECK_STR(label(m, m->sample[0], "thread_id"), "8");
	} else {
		CHECK_TRUE(!"one sample of three frames");
	}
	perftools__profiles__profile__free_unpacked(m, NULL);
}

/* A failed write is reported, not lost in the caller's buffer. */
static void test_write_error(void)
{
	struct profile *p;
	FILE *f = fopen("/dev/full", "w");

	if (!f)
		return;
	p = fixture_profile();
	CHECK_INT(exporter_pprof.write(p, &(struct export_options){ 0 }, f), -EIO);
	fclose(f);
	profile__free(p);
}

int main(void)
{
	test_fixture();
	test_empty();
	test_python_and_synthetic();
	test_write_error();
	CHECK_STR(exporter_pprof.name, "pprof");
	CHECK_TRUE(exporter_find("pprof") == &exporter_pprof);
	CHECK_TRUE(exporter_for_path("cpu.pb.gz") == &exporter_pprof);
	CHECK_TRUE(exporter_for_path("cpu.pprof") == &exporter_pprof);
	CHECK_TRUE(exporter_for_path("cpu.pb") == &exporter_pprof);
	return check_finish("test-pprof");
}
