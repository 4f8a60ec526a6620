// SPDX-License-Identifier: MIT
/*
 * pystack on hand-built CPython 3.12 objects in this process (which reads
 * itself with process_vm_readv, no privileges needed): a frame chain with a
 * C-stack shim to skip, a frame not started yet to leave out, code objects
 * told by their type's tp_name, line
 * numbers from a location table, the cache noticing a reused address, a
 * broken chain kept as an unknown frame, and native_thread_id as the tid.
 * tests/integration/test_dump.py checks the same code on real interpreters.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "check.h"
#include "pystack.h"

struct obj {
	_Alignas(8) uint8_t b[512];
};

static struct obj type_code, type_other, name_a, name_b, file, table, code_a, code_b;
static struct obj frame_a, shim, frame_b, cframe, tstate;
static const char code_str[] = "code";
static const char other_str[] = "dict";

static void put64(struct obj *o, int off, uint64_t v)
{
	memcpy(o->b + off, &v, sizeof(v));
}

static void put32(struct obj *o, int off, uint32_t v)
{
	memcpy(o->b + off, &v, sizeof(v));
}

static uint64_t addr(const void *p)
{
	return (uint64_t)(uintptr_t)p;
}

/* A compact ASCII str (3.12 layout). */
static void make_str(const struct py_offsets *o, struct obj *s, const char *text)
{
	put64(s, o->unicode_length, strlen(text));
	put32(s, o->unicode_state, (1u << o->unicode_kind_shift) | (1u << o->unicode_compact_bit) |
					   (1u << o->unicode_ascii_bit));
	memcpy(s->b + o->unicode_ascii_data, text, strlen(text) + 1);
}

static void make_code(const struct py_offsets *o, struct obj *c, struct obj *name, int firstlineno)
{
	put64(c, o->object_type, addr(&type_code));
	put64(c, o->varobject_size, 8); /* code units */
	put64(c, o->code_qualname, addr(name));
	put64(c, o->code_name, addr(name));
	put64(c, o->code_filename, addr(&file));
	put32(c, o->code_firstlineno, firstlineno);
	put64(c, o->code_linetable, addr(&table));
}

static void make_frame(const struct py_offsets *o, struct obj *f, struct obj *code, int64_t unit,
		       struct obj *previous, uint8_t owner)
{
	put64(f, o->iframe_code, addr(code));
	put64(f, o->iframe_previous, previous ? addr(previous) : 0);
	put64(f, o->iframe_instr, addr(code) + o->code_code_adaptive + 2 * unit);
	f->b[o->iframe_owner] = owner;
}

int main(void)
{
	const struct py_offsets *o = py_offsets_find(3, 12);
	/* One entry: units 0-7, no columns (kind 13), line delta +2 (signed varint 4). */
	static const uint8_t locations[] = { 0x80 | (13 << 3) | 7, 0x04 };
	struct pyinfo info = {};
	struct pystack *s = NULL;
	struct pystack_trace *t = calloc(1, sizeof(*t));
	const struct pycode *code;
	pid_t tid = 0;
	uint64_t thread_id = 0;

	if (!o || !t) {
		printf("pystack: no 3.12 offsets on this architecture, nothing to check\n");
		return 0;
	}
	put64(&type_code, 24, addr(code_str));
	put64(&type_other, 24, addr(other_str));
	make_str(o, &name_a, "Worker.run");
	make_str(o, &name_b, "main");
	make_str(o, &file, "/srv/app.py");
	put64(&table, o->bytes_size, sizeof(locations));
	memcpy(table.b + o->bytes_sval, locations, sizeof(locations));
	make_code(o, &code_a, &name_a, 10);
	make_code(o, &code_b, &name_b, 40);
	make_frame(o, &frame_a, &code_a, 3, &shim, 0);
	make_frame(o, &shim, &code_a, 0, &frame_b, (uint8_t)o->iframe_owner_cstack);
	make_frame(o, &frame_b, &code_b, 0, NULL, 0);
	put64(&cframe, o->cframe_current_frame, addr(&frame_a));
	put64(&tstate, o->tstate_cframe, addr(&cframe));
	put64(&tstate, o->tstate_thread_id, 0x7f0012345678ull);
	put64(&tstate, o->tstate_native_thread_id, (uint64_t)syscall(SYS_gettid));

	info.major = 3;
	info.minor = 12;
	info.offsets = o;
	CHECK_INT(pystack__new(getpid(), &info, &s), 0);
	if (!s)
		return 1;

	CHECK_INT(pystack__walk(s, addr(&tstate), t), 0);
	CHECK_INT(t->nr, 2);
	CHECK_TRUE(!t->truncated && !t->inconsistent);
	CHECK_STR(t->frames[0].name, "Worker.run");
	CHECK_STR(t->frames[0].file, "/srv/app.py");
	CHECK_INT(t->frames[0].line, 12);
	CHECK_INT(t->frames[0].code, addr(&code_a));
	CHECK_STR(t->frames[1].name, "main");
	CHECK_INT(t->frames[1].line, 42);

	/* A frame that has not started (3.11+: before _co_firsttraceable) is left out, as CPython does. */
	make_frame(o, &frame_b, &code_b, -1, NULL, 0);
	CHECK_INT(pystack__walk(s, addr(&tstate), t), 0);
	CHECK_INT(t->nr, 1);
	CHECK_STR(t->frames[0].name, "Worker.run");
	make_frame(o, &frame_b, &code_b, 0, NULL, 0);

	/* The same address now holds another code object: read again, not served stale. */
	make_code(o, &code_a, &name_b, 20);
	CHECK_INT(pystack__code(s, addr(&code_a), &code), 0);
	CHECK_STR(code->name, "main");
	CHECK_INT(code->firstlineno, 20);

	/* Through the sampler's door: trusted while recent, read again once older than the age. */
	{
		uint64_t t0 = code->checked_ns;

		make_code(o, &code_a, &name_a, 30);
		CHECK_INT(pystack__code_recent(s, addr(&code_a), t0 + 1000, 1000000000ull, &code), 0);
		CHECK_STR(code->name, "main");
		CHECK_INT(pystack__code_recent(s, addr(&code_a), t0 + 2000000000ull, 1000000000ull, &code), 0);
		CHECK_STR(code->name, "Worker.run");
		CHECK_INT(code->firstlineno, 30);
		/* A sample drained after the last check is not "older" by a wrapped subtraction. */
		CHECK_INT(pystack__code_recent(s, addr(&code_a), code->checked_ns - 5, 1000000000ull, &code), 0);
		CHECK_INT(code->firstlineno, 30);
	}

	/* Not a code object. */
	put64(&code_a, o->object_type, addr(&type_other));
	CHECK_INT(pystack__code(s, addr(&code_a), &code), -EPROTO);

	/* A chain into unmapped memory and an unknown code object: kept, marked, no failure. */
	put64(&frame_b, o->iframe_previous, 0x1000);
	CHECK_INT(pystack__walk(s, addr(&tstate), t), 0);
	CHECK_INT(t->nr, 3);
	CHECK_TRUE(t->inconsistent);
	CHECK_TRUE(t->frames[0].unknown);
	CHECK_INT(t->frames[0].code, addr(&code_a));
	CHECK_STR(t->frames[1].name, "main");
	CHECK_TRUE(t->frames[2].unknown);
	CHECK_INT(t->frames[2].frame, 0x1000);

	/* No frames at all: an idle thread. */
	put64(&cframe, o->cframe_current_frame, 0);
	CHECK_INT(pystack__walk(s, addr(&tstate), t), 0);
	CHECK_INT(t->nr, 0);

	CHECK_INT(pystack__thread_tid(s, addr(&tstate), &tid, &thread_id), 0);
	CHECK_INT(tid, syscall(SYS_gettid));
	CHECK_INT(thread_id, 0x7f0012345678ull);
	put64(&tstate, o->tstate_native_thread_id, 0x7fffffff);
	CHECK_INT(pystack__thread_tid(s, addr(&tstate), &tid, &thread_id), -ENOENT);

	s = pystack__free(s);
	CHECK_TRUE(s == NULL);
	free(t);
	return check_finish("pystack");
}
