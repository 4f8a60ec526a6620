// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness: CPython objects read from a target's memory, which the
 * target (any code it runs) controls. The input (fuzz-pycode.h) picks a
 * version out of the offsets table and where the objects start; the rest
 * becomes the target's memory through a procmem_for_buffer() reader, so
 * every read outside it fails as an unmapped page would. Through the real
 * entry points it decodes a code object (names, qualname, filename, first
 * line, line table, the line of an instruction, strings of every kind,
 * bytes), walks a thread's frames as hearth dump does, finds the GIL holder
 * and the thread's tid, and lists the interpreter's thread states.
 *
 * Besides ASan and UBSan it checks that what comes back is well formed and
 * that no entry point reads more often than its walk is bounded to: the
 * reader counts.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-pycode.h"
#include "procmem.h"
#include "pyfind.h"
#include "pystack.h"

/*
 * Reads one code object costs at most: its head, the type and its tp_name,
 * two strings of up to three reads each, and the line table's two.
 */
#define CODE_READS 11
/* A walk: up to PYSTACK_TRIES (3) tries of the thread state's reads and one frame and code per visit. */
#define WALK_READS (3 * (2 + (4 * PYSTACK_MAX_FRAMES) * (1 + CODE_READS)))
#define THREAD_STATES_READS (1 + 2 * PYFIND_MAX_THREADS)

struct counter {
	struct procmem inner;
	unsigned long reads;
};

static int counted_read(const struct procmem *m, uint64_t addr, void *buf, size_t len)
{
	struct counter *c = m->userdata;

	c->reads++;
	return procmem__read(&c->inner, addr, buf, len);
}

static void check_reads(struct counter *c, unsigned long max)
{
	if (c->reads > max)
		abort();
	c->reads = 0;
}

static void check_string(const char *s, size_t size)
{
	if (!memchr(s, '\0', size))
		abort();
}

static void check_code(struct pystack *s, const struct pycode *code, const struct pycode_fuzz_input *in)
{
	const int64_t offsets[] = { -1, 0, 1, in->instr, in->instr / 2, code->nr_units, UINT32_MAX,
				    (int64_t)UINT32_MAX + 1 };
	int line;

	check_string(code->name, sizeof(code->name));
	check_string(code->file, sizeof(code->file));
	if (code->table_len > PYSTACK_TABLE_MAX || (code->table_len && !code->table) || code->firstlineno < 0 ||
	    code->firsttraceable < 0 || (uint32_t)code->firsttraceable > code->nr_units)
		abort();
	for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
		pystack__line(s, code, offsets[i], &line);
		pystack__incomplete(s, code, offsets[i], in->owner);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct py_offsets *versions[PYCODE_FUZZ_MAX_VERSIONS];
	static size_t nr_versions;
	struct counter counter;
	struct procmem mem;
	struct pycode_fuzz_input in;
	struct pyinfo info = {};
	struct pystack *s = NULL;
	struct pystack_trace *trace;
	const struct pycode *code;
	uint64_t holder, locked, thread_id, tstates[8];
	pid_t tid;
	int n;

	if (!nr_versions)
		nr_versions = pycode_fuzz_versions(versions);
	if (!nr_versions || size < PYCODE_FUZZ_HEADER)
		return 0;
	in.o = versions[data[0] % nr_versions];
	in.owner = data[1];
	in.code = pycode_fuzz_u16(data + 2);
	in.tstate = pycode_fuzz_u16(data + 4);
	in.interp = pycode_fuzz_u16(data + 6);
	in.runtime = pycode_fuzz_u16(data + 8);
	in.instr = pycode_fuzz_u32(data + 10);

	counter.inner = procmem_for_buffer(PYCODE_FUZZ_BASE, data + PYCODE_FUZZ_HEADER, size - PYCODE_FUZZ_HEADER);
	counter.reads = 0;
	mem = (struct procmem){ .read = counted_read, .userdata = &counter };

	/* What pyfind() would have found: the version and where its globals sit. */
	info.major = in.o->major;
	info.minor = in.o->minor;
	info.micro = -1;
	info.offsets = *in.o;
	info.supported = true;
	info.interp = PYCODE_FUZZ_BASE + in.interp;
	if (in.o->runtime_interpreters_head != PY_OFFSET_NONE)
		info.runtime_addr = PYCODE_FUZZ_BASE + in.runtime;
	else
		info.tstate_current_addr = PYCODE_FUZZ_BASE + in.runtime;

	trace = malloc(sizeof(*trace));
	if (!trace || pystack__new(&mem, &info, &s) < 0)
		abort();

	/* The code object, then again through the cache, and through the sampler's door. */
	if (pystack__code(s, PYCODE_FUZZ_BASE + in.code, &code) == 0) {
		check_reads(&counter, CODE_READS);
		check_code(s, code, &in);
		if (pystack__code(s, PYCODE_FUZZ_BASE + in.code, &code) == 0)
			check_code(s, code, &in);
		check_reads(&counter, CODE_READS);
		if (pystack__code_recent(s, PYCODE_FUZZ_BASE + in.code, code->checked_ns, 1000000000ull, &code) != 0)
			abort(); /* just checked: served from the cache */
		check_reads(&counter, 0);
	}
	check_reads(&counter, CODE_READS);

	/* hearth dump's walk of one thread. */
	if (pystack__walk(s, PYCODE_FUZZ_BASE + in.tstate, trace) == 0) {
		if (trace->nr > PYSTACK_MAX_FRAMES)
			abort();
		for (size_t i = 0; i < trace->nr; i++) {
			check_string(trace->frames[i].name, sizeof(trace->frames[i].name));
			check_string(trace->frames[i].file, sizeof(trace->frames[i].file));
			if (trace->frames[i].unknown && (trace->frames[i].name[0] || trace->frames[i].file[0]))
				abort();
		}
	}
	check_reads(&counter, WALK_READS);

	pystack__gil_addrs(s, &holder, &locked);
	pystack__gil_holder(s, &holder);
	check_reads(&counter, 4);
	if (pystack__thread_tid(s, PYCODE_FUZZ_BASE + in.tstate, &tid, &thread_id) == 0)
		abort(); /* a buffer has no tasks: a tid never checks out */
	check_reads(&counter, 3);

	n = pyinfo_read_thread_states(&mem, &info, tstates, sizeof(tstates) / sizeof(tstates[0]));
	if (n > PYFIND_MAX_THREADS)
		abort();
	check_reads(&counter, THREAD_STATES_READS);

	pystack__free(s);
	free(trace);
	return 0;
}
