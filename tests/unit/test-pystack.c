// SPDX-License-Identifier: MIT
/*
 * pystack on hand-built CPython 3.12 objects in this process, read twice:
 * through procmem_for_pid() (this process reads itself with
 * process_vm_readv, no privileges needed) and through procmem_for_buffer()
 * over the same bytes, which must give the same answers. Checked: a frame
 * chain with a C-stack shim to skip, a frame not started yet to leave out,
 * code objects told by their type's tp_name, line numbers from a location
 * table, the cache noticing a reused address, a broken chain kept as an
 * unknown frame, and native_thread_id as the tid (checked against
 * /proc/PID/task, so only with a pid). Also the buffer reader's bounds.
 * tests/integration/test_dump.py checks the same code on real interpreters.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "check.h"
#include "procmem.h"
#include "pystack.h"

struct obj {
	_Alignas(8) uint8_t b[512];
};

/* Every object in one place, so that a buffer reader can serve them all. */
static struct image {
	struct obj type_code, type_other, name_a, name_b, file, table, code_a, code_b;
	struct obj frame_a, shim, frame_b, cframe, tstate;
	char code_str[8];
	char other_str[8];
} img;

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
	put64(c, o->object_type, addr(&img.type_code));
	put64(c, o->varobject_size, 8); /* code units */
	put64(c, o->code_qualname, addr(name));
	put64(c, o->code_name, addr(name));
	put64(c, o->code_filename, addr(&img.file));
	put32(c, o->code_firstlineno, firstlineno);
	put64(c, o->code_linetable, addr(&img.table));
}

static void make_frame(const struct py_offsets *o, struct obj *f, struct obj *code, int64_t unit,
		       struct obj *previous, uint8_t owner)
{
	put64(f, o->iframe_code, addr(code));
	put64(f, o->iframe_previous, previous ? addr(previous) : 0);
	put64(f, o->iframe_instr, addr(code) + o->code_code_adaptive + 2 * unit);
	f->b[o->iframe_owner] = owner;
}

/* Lay the objects out afresh. */
static void make_image(const struct py_offsets *o)
{
	/* One entry: units 0-7, no columns (kind 13), line delta +2 (signed varint 4). */
	static const uint8_t locations[] = { 0x80 | (13 << 3) | 7, 0x04 };

	memset(&img, 0, sizeof(img));
	strcpy(img.code_str, "code");
	strcpy(img.other_str, "dict");
	put64(&img.type_code, 24, addr(img.code_str));
	put64(&img.type_other, 24, addr(img.other_str));
	make_str(o, &img.name_a, "Worker.run");
	make_str(o, &img.name_b, "main");
	make_str(o, &img.file, "/srv/app.py");
	put64(&img.table, o->bytes_size, sizeof(locations));
	memcpy(img.table.b + o->bytes_sval, locations, sizeof(locations));
	make_code(o, &img.code_a, &img.name_a, 10);
	make_code(o, &img.code_b, &img.name_b, 40);
	make_frame(o, &img.frame_a, &img.code_a, 3, &img.shim, 0);
	make_frame(o, &img.shim, &img.code_a, 0, &img.frame_b, (uint8_t)o->iframe_owner_shim);
	make_frame(o, &img.frame_b, &img.code_b, 0, NULL, 0);
	put64(&img.cframe, o->cframe_current_frame, addr(&img.frame_a));
	put64(&img.tstate, o->tstate_cframe, addr(&img.cframe));
	put64(&img.tstate, o->tstate_thread_id, 0x7f0012345678ull);
	put64(&img.tstate, o->tstate_native_thread_id, (uint64_t)syscall(SYS_gettid));
}

static void check_walker(const struct py_offsets *o, const struct procmem *mem, struct pystack_trace *t)
{
	struct pyinfo info = {};
	struct pystack *s = NULL;
	const struct pycode *code;
	pid_t tid = 0;
	uint64_t thread_id = 0;

	make_image(o);
	info.major = 3;
	info.minor = 12;
	info.offsets = *o;
	info.supported = true;
	CHECK_INT(pystack__new(mem, &info, &s), 0);
	if (!s)
		return;

	CHECK_INT(pystack__walk(s, addr(&img.tstate), t), 0);
	CHECK_INT(t->nr, 2);
	CHECK_TRUE(!t->truncated && !t->inconsistent);
	CHECK_STR(t->frames[0].name, "Worker.run");
	CHECK_STR(t->frames[0].file, "/srv/app.py");
	CHECK_INT(t->frames[0].line, 12);
	CHECK_INT(t->frames[0].code, addr(&img.code_a));
	CHECK_STR(t->frames[1].name, "main");
	CHECK_INT(t->frames[1].line, 42);

	/* A frame that has not started (3.11+: before _co_firsttraceable) is left out, as CPython does. */
	make_frame(o, &img.frame_b, &img.code_b, -1, NULL, 0);
	CHECK_INT(pystack__walk(s, addr(&img.tstate), t), 0);
	CHECK_INT(t->nr, 1);
	CHECK_STR(t->frames[0].name, "Worker.run");
	make_frame(o, &img.frame_b, &img.code_b, 0, NULL, 0);

	/* The same address now holds another code object: read again, not served stale. */
	make_code(o, &img.code_a, &img.name_b, 20);
	CHECK_INT(pystack__code(s, addr(&img.code_a), &code), 0);
	CHECK_STR(code->name, "main");
	CHECK_INT(code->firstlineno, 20);

	/* Through the sampler's door: trusted while recent, read again once older than the age. */
	{
		uint64_t t0 = code->checked_ns;

		make_code(o, &img.code_a, &img.name_a, 30);
		CHECK_INT(pystack__code_recent(s, addr(&img.code_a), t0 + 1000, 1000000000ull, &code), 0);
		CHECK_STR(code->name, "main");
		CHECK_INT(pystack__code_recent(s, addr(&img.code_a), t0 + 2000000000ull, 1000000000ull, &code), 0);
		CHECK_STR(code->name, "Worker.run");
		CHECK_INT(code->firstlineno, 30);
		/* A sample drained after the last check is not "older" by a wrapped subtraction. */
		CHECK_INT(pystack__code_recent(s, addr(&img.code_a), code->checked_ns - 5, 1000000000ull, &code), 0);
		CHECK_INT(code->firstlineno, 30);
	}

	/* Not a code object. */
	put64(&img.code_a, o->object_type, addr(&img.type_other));
	CHECK_INT(pystack__code(s, addr(&img.code_a), &code), -EPROTO);

	/* A chain into unmapped memory and an unknown code object: kept, marked, no failure. */
	put64(&img.frame_b, o->iframe_previous, 0x1000);
	CHECK_INT(pystack__walk(s, addr(&img.tstate), t), 0);
	CHECK_INT(t->nr, 3);
	CHECK_TRUE(t->inconsistent);
	CHECK_TRUE(t->frames[0].unknown);
	CHECK_INT(t->frames[0].code, addr(&img.code_a));
	CHECK_STR(t->frames[1].name, "main");
	CHECK_TRUE(t->frames[2].unknown);
	CHECK_INT(t->frames[2].frame, 0x1000);

	/* No frames at all: an idle thread. */
	put64(&img.cframe, o->cframe_current_frame, 0);
	CHECK_INT(pystack__walk(s, addr(&img.tstate), t), 0);
	CHECK_INT(t->nr, 0);

	/* The tid is checked against /proc/PID/task: memory that is no process has none. */
	CHECK_INT(pystack__thread_tid(s, addr(&img.tstate), &tid, &thread_id), mem->pid ? 0 : -ENOENT);
	if (mem->pid)
		CHECK_INT(tid, syscall(SYS_gettid));
	CHECK_INT(thread_id, 0x7f0012345678ull);
	put64(&img.tstate, o->tstate_native_thread_id, 0x7fffffff);
	CHECK_INT(pystack__thread_tid(s, addr(&img.tstate), &tid, &thread_id), -ENOENT);

	s = pystack__free(s);
	CHECK_TRUE(s == NULL);
}

/* A buffer reader serves exactly its bytes, whatever the address and length. */
static void check_buffer_reader(void)
{
	static const uint8_t bytes[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
	const uint64_t base = 0x550000001000ull;
	struct procmem m = procmem_for_buffer(base, bytes, sizeof(bytes));
	uint8_t buf[32];
	uint64_t v = 0;
	uint32_t w = 0;

	CHECK_INT(procmem__read(&m, base, buf, 16), 0);
	CHECK_TRUE(!memcmp(buf, bytes, 16));
	CHECK_INT(procmem__read(&m, base + 15, buf, 1), 0);
	CHECK_INT(buf[0], 16);
	CHECK_INT(procmem__read(&m, base + 16, buf, 0), 0);
	CHECK_INT(procmem__read(&m, base + 16, buf, 1), -EFAULT);
	CHECK_INT(procmem__read(&m, base - 1, buf, 2), -EFAULT);
	CHECK_INT(procmem__read(&m, base + 8, buf, 9), -EFAULT);
	CHECK_INT(procmem__read(&m, base + 8, buf, SIZE_MAX), -EFAULT);
	CHECK_INT(procmem__read(&m, UINT64_MAX, buf, 2), -EFAULT);
	CHECK_INT(procmem__read_ptr(&m, base + 8, &v), 0);
	CHECK_INT(v, 0x100f0e0d0c0b0a09ull);
	v = 42;
	CHECK_INT(procmem__read_ptr(&m, base + 9, &v), -EFAULT);
	CHECK_INT(v, 42); /* untouched on failure */
	CHECK_INT(procmem__read_u32(&m, base + 12, &w), 0);
	CHECK_INT(w, 0x100f0e0d);
	CHECK_INT(m.pid, 0);

	/* And the pid reader: no process, and a range that wraps. */
	m = procmem_for_pid(0);
	CHECK_INT(procmem__read(&m, base, buf, 1), -ESRCH);
	m = procmem_for_pid(getpid());
	CHECK_INT(procmem__read(&m, UINT64_MAX - 2, buf, 8), -EFAULT);
	CHECK_INT(procmem__read(&m, addr(bytes), buf, 16), 0);
	CHECK_TRUE(!memcmp(buf, bytes, 16));
}

int main(void)
{
	const struct py_offsets *o = py_offsets_find(3, 12);
	struct pystack_trace *t = calloc(1, sizeof(*t));
	struct procmem by_pid = procmem_for_pid(getpid());
	struct procmem by_buffer = procmem_for_buffer(addr(&img), &img, sizeof(img));

	check_buffer_reader();
	if (!o || !t) {
		printf("pystack: no 3.12 offsets on this architecture, nothing to walk\n");
		free(t);
		return check_finish("pystack");
	}
	check_walker(o, &by_pid, t);
	check_walker(o, &by_buffer, t);
	free(t);
	return check_finish("pystack");
}
