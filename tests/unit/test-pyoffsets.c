// SPDX-License-Identifier: MIT
/*
 * The generated CPython offset table: every supported version is there and
 * nothing else, fields exist in exactly the versions that have them, and a
 * few values are the layouts every reader of CPython's headers knows
 * (non-debug x86-64 builds). That the table matches the headers themselves is
 * scripts/gen-python-offsets --check's job.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pyoffsets.h"

#if defined(__x86_64__)

#include "check.h"

static const struct {
	unsigned int major, minor;
} versions[] = {
	{ 2, 7 }, { 3, 6 }, { 3, 7 }, { 3, 8 }, { 3, 9 }, { 3, 10 }, { 3, 11 }, { 3, 12 }, { 3, 13 },
};
/* 3.14 and 3.15 are there too, but their target-carried fields are the target's: test_debug_layouts. */

#define NONE PY_OFFSET_NONE

static bool has(int16_t field)
{
	return field != NONE;
}

static unsigned int version_code(const struct py_offsets *o)
{
	return o->major * 100 + o->minor;
}

static void test_find(void)
{
	const struct py_offsets *o;
	size_t i;

	for (i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		o = py_offsets_find(versions[i].major, versions[i].minor);
		CHECK_TRUE(o != NULL);
		if (!o)
			continue;
		CHECK_INT(o->major, versions[i].major);
		CHECK_INT(o->minor, versions[i].minor);
	}
	CHECK_TRUE(py_offsets_find(3, 99) == NULL);
	CHECK_TRUE(py_offsets_find(2, 6) == NULL);
	CHECK_TRUE(py_offsets_find(3, 5) == NULL);
	CHECK_TRUE(py_offsets_find(4, 0) == NULL);
	CHECK_TRUE(py_offsets_find(0, 0) == NULL);
}

/* What holds in every version. */
static void test_common(const struct py_offsets *o)
{
	unsigned int v = version_code(o);

	/* PyObject_HEAD: ob_refcnt then ob_type; PyObject_VAR_HEAD adds ob_size. */
	CHECK_INT(o->object_type, 8);
	CHECK_INT(o->varobject_size, 16);
	CHECK_INT(o->bytes_size, 16);
	/* After ob_shash (a Py_hash_t), and 2.7's int ob_sstate. */
	CHECK_INT(o->bytes_sval, v == 207 ? 36 : 32);

	/* PyThreadState starts with prev (not in 2.7), next, interp. */
	CHECK_INT(o->tstate_next, v == 207 ? 0 : 8);
	CHECK_INT(o->tstate_interp, v == 207 ? 8 : 16);
	CHECK_TRUE(o->tstate_thread_id < o->tstate_size);
	CHECK_TRUE(o->tstate_native_thread_id < o->tstate_size);

	CHECK_TRUE(has(o->code_filename) && o->code_filename < o->code_size);
	CHECK_TRUE(has(o->code_name) && o->code_name < o->code_size);
	CHECK_TRUE(has(o->code_firstlineno) && o->code_firstlineno < o->code_size);
	CHECK_TRUE(has(o->interp_next));
	CHECK_TRUE(has(o->interp_tstate_head));
}

/* The thread's innermost frame is reached one way in each version. */
static void test_frames(const struct py_offsets *o)
{
	unsigned int v = version_code(o);

	CHECK_INT(has(o->tstate_frame) + has(o->tstate_cframe) + has(o->tstate_current_frame), 1);
	CHECK_INT(has(o->tstate_frame), v <= 310);
	CHECK_INT(has(o->tstate_cframe), v == 311 || v == 312);
	CHECK_INT(has(o->cframe_current_frame), v == 311 || v == 312);
	CHECK_INT(has(o->tstate_current_frame), v >= 313);

	if (v <= 310) {
		/* f_back and f_code come right after PyObject_VAR_HEAD. */
		CHECK_INT(o->frame_back, 24);
		CHECK_INT(o->frame_code, 32);
		CHECK_TRUE(o->frame_lineno > o->frame_lasti && o->frame_lineno < o->frame_size);
		CHECK_INT(o->iframe_previous, NONE);
		CHECK_INT(o->code_code_adaptive, NONE);
	} else {
		CHECK_INT(o->frame_back, NONE);
		CHECK_INT(o->frame_code, NONE);
		CHECK_INT(o->frame_lasti, NONE);
		CHECK_TRUE(has(o->iframe_code) && has(o->iframe_previous) && has(o->iframe_instr));
		CHECK_TRUE(o->iframe_owner < o->iframe_size);
		/* The inline code units are the last member of PyCodeObject. */
		CHECK_TRUE(o->code_code_adaptive < o->code_size);
		CHECK_TRUE(o->code_firsttraceable < o->code_code_adaptive);
	}
	if (v == 311) {
		/* _PyCFrame starts with uint8_t use_tracing in 3.11 only. */
		CHECK_INT(o->cframe_current_frame, 8);
		CHECK_INT(o->iframe_owner_shim, NONE);
	}
	if (v >= 312) {
		/* f_code / f_executable first, previous second. */
		CHECK_INT(o->iframe_code, 0);
		CHECK_INT(o->iframe_previous, 8);
		CHECK_INT(o->iframe_owner_shim, 3);
	}
	if (v == 312)
		CHECK_INT(o->cframe_current_frame, 0);
	CHECK_INT(has(o->codeunit_size), v >= 306);
	if (v >= 306)
		CHECK_INT(o->codeunit_size, 2);
}

static void test_code(const struct py_offsets *o)
{
	unsigned int v = version_code(o);

	CHECK_INT(has(o->code_qualname), v >= 311);
	CHECK_INT(has(o->code_lnotab), v <= 309);
	CHECK_INT(has(o->code_linetable), v >= 310);
	CHECK_INT(has(o->code_code), v <= 310);
	if (v >= 311)
		CHECK_INT(o->code_qualname, o->code_name + 8);
}

static void test_runtime(const struct py_offsets *o)
{
	unsigned int v = version_code(o);

	CHECK_INT(has(o->runtime_interpreters_head), v >= 307);
	CHECK_INT(has(o->runtime_tstate_current), v >= 307 && v <= 311);
	CHECK_INT(has(o->runtime_debug_offsets), v >= 313);
	if (v >= 313)
		CHECK_INT(o->runtime_debug_offsets, 0); /* "This field must be first" */
	/* The GIL is in the runtime up to 3.11, per interpreter from 3.12. */
	CHECK_INT(has(o->runtime_gil), v >= 307 && v <= 311);
	CHECK_INT(has(o->interp_gil), v >= 312);
	if (v >= 307) {
		/* unsigned long interval, then last_holder, then locked. */
		CHECK_INT(o->gil_last_holder, 8);
		CHECK_INT(o->gil_locked, 16);
	}
	CHECK_INT(has(o->tstate_native_thread_id), v >= 311);
	CHECK_INT(has(o->tstate_holds_gil), v >= 313);
	/* next is PyInterpreterState's first member until 3.13 puts ceval first. */
	if (v <= 312)
		CHECK_INT(o->interp_next, 0);
	else
		CHECK_TRUE(o->interp_next > 0);
}

static void test_unicode(const struct py_offsets *o)
{
	unsigned int v = version_code(o);

	if (v == 207) {
		CHECK_INT(o->unicode_state, NONE);
		CHECK_INT(o->unicode_ascii_data, NONE);
		return;
	}
	/* PEP 393: length and hash after PyObject_HEAD, then the state word. */
	CHECK_INT(o->unicode_length, 16);
	CHECK_INT(o->unicode_state, 32);
	/* interned:2, kind:3, compact:1, ascii:1 */
	CHECK_INT(o->unicode_kind_shift, 2);
	CHECK_INT(o->unicode_compact_bit, 5);
	CHECK_INT(o->unicode_ascii_bit, 6);
	/* 3.12 dropped wstr (PEP 623): from PyASCIIObject and wstr_length from the compact form. */
	CHECK_INT(o->unicode_ascii_data, v >= 312 ? 40 : 48);
	CHECK_INT(o->unicode_compact_data, o->unicode_ascii_data + (v >= 312 ? 16 : 24));
	CHECK_INT(o->unicode_data_any, o->unicode_compact_data);
}

/*
 * 3.13+: each minor has a layout of its _Py_DebugOffsets; from 3.14 the
 * fields it carries are committed as PY_OFFSET_TARGET only, and every
 * target-only field has somewhere in the table to come from.
 */
static void test_debug_layouts(void)
{
	for (unsigned int minor = 13; minor <= 15; minor++) {
		const struct py_offsets *o = py_offsets_find(3, minor);
		const struct py_debug_layout *l = py_debug_layout_find(3, minor);
		const int16_t *v, *at;

		CHECK_TRUE(o != NULL && l != NULL);
		if (!o || !l)
			continue;
		CHECK_INT(l->at.major, 3);
		CHECK_INT(l->at.minor, minor);
		CHECK_INT(l->version, 8); /* after the cookie, in every version */
		CHECK_TRUE(l->size > 0 && l->size <= 4096);
		v = py_offsets_carray(o);
		at = py_offsets_carray(&l->at);
		for (size_t i = 0; i < PY_OFFSETS_NR; i++) {
			if (at[i] != NONE)
				CHECK_TRUE(at[i] >= 16 && at[i] + 8 <= l->size);
			if (minor >= 14 && at[i] != NONE)
				CHECK_INT(v[i], PY_OFFSET_TARGET);
			if (v[i] == PY_OFFSET_TARGET)
				CHECK_TRUE(at[i] != NONE);
		}
		/* What the table cannot carry stays a per-minor constant. */
		CHECK_INT(o->iframe_owner_shim, 3);
		CHECK_INT(o->iframe_stackref_bits, minor >= 14 ? 3 : NONE);
		CHECK_TRUE(o->code_firsttraceable > 0);
	}
	CHECK_TRUE(py_debug_layout_find(3, 12) == NULL);
	CHECK_TRUE(py_debug_layout_newest() == py_debug_layout_find(3, 15));
	/* The names follow the fields. */
	CHECK_STR(py_offsets_names[0], "object_type");
	CHECK_STR(py_offsets_names[PY_OFFSETS_NR - 1], "bytes_sval");
}

int main(void)
{
	size_t i;

	test_find();
	test_debug_layouts();
	for (i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		const struct py_offsets *o = py_offsets_find(versions[i].major, versions[i].minor);

		if (!o)
			continue;
		test_common(o);
		test_frames(o);
		test_code(o);
		test_runtime(o);
		test_unicode(o);
	}
	return check_finish("test-pyoffsets");
}

#else

int main(void)
{
	printf("test-pyoffsets: the table is measured for x86-64 only, skipping\n");
	return 77;
}

#endif
