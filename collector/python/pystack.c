// SPDX-License-Identifier: MIT
#include "pystack.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "pyline.h"
#include "procmem.h"

/* Tries of a walk that does not hold together before unknown frames are kept. */
#define PYSTACK_TRIES 3
/* Interpreter frames visited per walk, shims included (3.12+ skip C-stack shims). */
#define PYSTACK_MAX_VISITS (4 * PYSTACK_MAX_FRAMES)
/* Largest fixed part of a code object or frame read at once (sizes come from the table). */
#define PYSTACK_MAX_HEAD 1024
/* How far into our own struct pthread the tid is looked for. */
#define PTHREAD_SCAN_BYTES 2048

struct pystack {
	struct procmem mem; /* a copy of the caller's reader */
	struct pyinfo info;
	const struct py_offsets *o;
	uint64_t code_type; /* PyCode_Type in the target, once one code object validated */
	int tid_offset;     /* of the tid in glibc's struct pthread, or -1 */
	uint64_t serial;    /* of the last entry filled */
	struct pycode cache[PYSTACK_CACHE_SIZE];
};

static uint64_t get_u64(const uint8_t *buf, int16_t off)
{
	uint64_t v;

	memcpy(&v, buf + off, sizeof(v));
	return v;
}

static uint32_t get_u32(const uint8_t *buf, int16_t off)
{
	uint32_t v;

	memcpy(&v, buf + off, sizeof(v));
	return v;
}

static pid_t sys_gettid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/*
 * Where glibc keeps the kernel tid in struct pthread (what pthread_self()
 * points at), found by looking for gettid() in our own: in a new thread,
 * then checked in the calling one, so a field that merely equals the pid of
 * the main thread is not taken for it.
 */
static void *tid_offset_thread(void *arg)
{
	const int32_t *self = (const int32_t *)(uintptr_t)pthread_self();
	pid_t tid = sys_gettid();

	for (size_t i = 0; i < PTHREAD_SCAN_BYTES / sizeof(int32_t); i++)
		if (self[i] == tid) {
			*(int *)arg = (int)(i * sizeof(int32_t));
			break;
		}
	return NULL;
}

static int tid_offset = -1;

static void tid_offset_measure(void)
{
#ifdef __GLIBC__
	pthread_t t;
	int off = -1;
	int32_t v;

	if (pthread_create(&t, NULL, tid_offset_thread, &off) != 0)
		return;
	pthread_join(t, NULL);
	if (off < 0)
		return;
	memcpy(&v, (const char *)(uintptr_t)pthread_self() + off, sizeof(v));
	if (v == sys_gettid())
		tid_offset = off;
#endif
}

/* The layout of glibc's struct pthread is this process's: measured once, by the first walker that needs it. */
static int tid_offset_get(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, tid_offset_measure);
	return tid_offset;
}

int pystack__new(const struct procmem *mem, const struct pyinfo *info, struct pystack **ret)
{
	struct pystack *s;

	if (!info->supported || info->offsets.code_size > PYSTACK_MAX_HEAD ||
	    info->offsets.frame_size > PYSTACK_MAX_HEAD || info->offsets.iframe_size > PYSTACK_MAX_HEAD)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->mem = *mem;
	s->info = *info;
	s->o = &s->info.offsets;
	s->tid_offset = s->o->tstate_native_thread_id == PY_OFFSET_NONE ? tid_offset_get() : -1;
	*ret = s;
	return 0;
}

struct pystack *pystack__free(struct pystack *s)
{
	if (!s)
		return NULL;
	for (size_t i = 0; i < PYSTACK_CACHE_SIZE; i++)
		free(s->cache[i].table);
	free(s);
	return NULL;
}

/* Whether @type is PyCode_Type: known once, otherwise told by its tp_name. */
static bool pystack_is_code_type(struct pystack *s, uint64_t type)
{
	uint64_t name;
	char buf[5];

	if (!procmem_ptr_plausible(type))
		return false;
	if (type == s->code_type)
		return true;
	if (s->code_type)
		return false;
	if (procmem__read_ptr(&s->mem, type + s->o->type_name, &name) < 0 || !name ||
	    procmem__read(&s->mem, name, buf, sizeof(buf)) < 0 || memcmp(buf, "code", sizeof(buf)) != 0)
		return false;
	s->code_type = type;
	return true;
}

/* A 2.7 str (PyStringObject): bytes, cut to fit @size with its NUL. */
static int pystack_read_bytes_str(struct pystack *s, uint64_t addr, char *buf, size_t size)
{
	const struct py_offsets *o = s->o;
	int64_t len;
	int r;

	r = procmem__read(&s->mem, addr + o->bytes_size, &len, sizeof(len));
	if (r < 0)
		return r;
	if (len < 0 || len > (1 << 20))
		return -EPROTO;
	if ((size_t)len >= size)
		len = size - 1;
	r = procmem__read(&s->mem, addr + o->bytes_sval, buf, len);
	if (r < 0)
		return r;
	buf[len] = '\0';
	return 0;
}

/* A str (PEP 393 layout, 3.3+) to UTF-8 in @buf, cut to fit @size. */
static int pystack_read_str(struct pystack *s, uint64_t addr, char *buf, size_t size)
{
	const struct py_offsets *o = s->o;
	uint8_t head[PYSTACK_MAX_HEAD];
	uint8_t data[4 * PYSTACK_FILE_MAX];
	unsigned int kind;
	uint64_t data_addr;
	uint32_t state;
	int64_t len;
	size_t n;
	bool compact, ascii;
	int r;

	if (!procmem_ptr_plausible(addr))
		return -EPROTO;
	if (o->unicode_state == PY_OFFSET_NONE)
		return pystack_read_bytes_str(s, addr, buf, size);
	/* The header of the smallest (compact ASCII) str; other layouts read more below. */
	r = procmem__read(&s->mem, addr, head, o->unicode_ascii_data);
	if (r < 0)
		return r;
	memcpy(&len, head + o->unicode_length, sizeof(len));
	state = get_u32(head, o->unicode_state);
	kind = (state >> o->unicode_kind_shift) & 7;
	compact = state & (1u << o->unicode_compact_bit);
	ascii = state & (1u << o->unicode_ascii_bit);
	if (len < 0 || len > (1 << 24) || (kind != 1 && kind != 2 && kind != 4) || (ascii && kind != 1))
		return -EPROTO;
	n = (size_t)len;
	if (n > size - 1)
		n = size - 1; /* at least a byte of UTF-8 a code point: no more can fit */
	if (n * kind > sizeof(data))
		n = sizeof(data) / kind;
	if (compact)
		data_addr = addr + (ascii ? o->unicode_ascii_data : o->unicode_compact_data);
	else {
		r = procmem__read_ptr(&s->mem, addr + o->unicode_data_any, &data_addr);
		if (r < 0)
			return r;
		if (!data_addr)
			return -EPROTO;
	}
	r = procmem__read(&s->mem, data_addr, data, n * kind);
	if (r < 0)
		return r;
	return pystr_to_utf8(kind, data, n, buf, size, NULL);
}

/* The bytes object at @addr (a line table) into *@e's buffer. */
static int pystack_read_table(struct pystack *s, uint64_t addr, struct pycode *e)
{
	const struct py_offsets *o = s->o;
	int64_t len;
	uint8_t *t;
	int r;

	e->table_len = 0;
	if (!addr)
		return 0;
	if (!procmem_ptr_plausible(addr))
		return -EPROTO;
	r = procmem__read(&s->mem, addr + o->bytes_size, &len, sizeof(len));
	if (r < 0)
		return r;
	if (len < 0 || len > PYSTACK_TABLE_MAX)
		return -EPROTO;
	t = realloc(e->table, len ? len : 1);
	if (!t)
		return -ENOMEM;
	e->table = t;
	r = procmem__read(&s->mem, addr + o->bytes_sval, t, len);
	if (r < 0)
		return r;
	e->table_len = len;
	return 0;
}

int pystack__code(struct pystack *s, uint64_t addr, const struct pycode **ret)
{
	const struct py_offsets *o = s->o;
	uint8_t head[PYSTACK_MAX_HEAD];
	uint64_t name_ptr, file_ptr, table_ptr = 0;
	struct pycode *e;
	int32_t firstlineno, firsttraceable = 0;
	int64_t nr_units = 0;
	int r;

	if (!procmem_ptr_plausible(addr))
		return -EPROTO;
	r = procmem__read(&s->mem, addr, head, o->code_size);
	if (r < 0)
		return r;
	if (!pystack_is_code_type(s, get_u64(head, o->object_type)))
		return -EPROTO;
	name_ptr = get_u64(head, o->code_qualname != PY_OFFSET_NONE ? o->code_qualname : o->code_name);
	file_ptr = get_u64(head, o->code_filename);
	if (o->code_linetable != PY_OFFSET_NONE)
		table_ptr = get_u64(head, o->code_linetable);
	else if (o->code_lnotab != PY_OFFSET_NONE)
		table_ptr = get_u64(head, o->code_lnotab);
	firstlineno = (int32_t)get_u32(head, o->code_firstlineno);
	if (o->code_firsttraceable != PY_OFFSET_NONE)
		firsttraceable = (int32_t)get_u32(head, o->code_firsttraceable);
	if (o->code_code_adaptive != PY_OFFSET_NONE)
		memcpy(&nr_units, head + o->varobject_size, sizeof(nr_units));
	if (!procmem_ptr_plausible(name_ptr) || !procmem_ptr_plausible(file_ptr) || firstlineno < 0 ||
	    nr_units < 0 || nr_units > (1 << 24) || firsttraceable < 0 || firsttraceable > nr_units)
		return -EPROTO;

	e = &s->cache[(addr >> 4) % PYSTACK_CACHE_SIZE];
	if (e->addr == addr && e->name_ptr == name_ptr && e->file_ptr == file_ptr &&
	    e->table_ptr == table_ptr && e->firstlineno == firstlineno) {
		e->checked_ns = time_now_ns();
		*ret = e;
		return 0;
	}
	/* Invalid until completely read again. */
	e->addr = 0;
	r = pystack_read_str(s, name_ptr, e->name, sizeof(e->name));
	if (r < 0)
		return r;
	r = pystack_read_str(s, file_ptr, e->file, sizeof(e->file));
	if (r < 0)
		return r;
	r = pystack_read_table(s, table_ptr, e);
	if (r < 0)
		return r;
	e->firstlineno = firstlineno;
	e->firsttraceable = firsttraceable;
	e->nr_units = (uint32_t)nr_units;
	e->serial = ++s->serial;
	e->checked_ns = time_now_ns();
	e->name_ptr = name_ptr;
	e->file_ptr = file_ptr;
	e->table_ptr = table_ptr;
	e->addr = addr;
	*ret = e;
	return 0;
}

uint64_t pystack__code_reads(const struct pystack *s)
{
	return s->serial;
}

int pystack__code_recent(struct pystack *s, uint64_t addr, uint64_t now_ns, uint64_t max_age_ns,
			 const struct pycode **ret)
{
	struct pycode *e = &s->cache[(addr >> 4) % PYSTACK_CACHE_SIZE];
	int r;

	/* Signed: a sample drained late is older than the last check. */
	if (addr && e->addr == addr && (int64_t)(now_ns - e->checked_ns) < (int64_t)max_age_ns) {
		*ret = e;
		return 0;
	}
	r = pystack__code(s, addr, ret);
	/* A process that exited cannot have freed the object since: what we have still holds. */
	if (r == -ESRCH && addr && e->addr == addr) {
		*ret = e;
		return 0;
	}
	return r;
}

bool pystack__incomplete(const struct pystack *s, const struct pycode *code, int64_t offset,
			 unsigned int owner)
{
	const struct py_offsets *o = s->o;

	if (o->code_firsttraceable == PY_OFFSET_NONE || o->iframe_owner_generator == PY_OFFSET_NONE ||
	    owner == (unsigned int)o->iframe_owner_generator)
		return false;
	return offset < code->firsttraceable;
}

int pystack__line(struct pystack *s, const struct pycode *code, int64_t offset, int *ret_line)
{
	if (offset < 0) {
		*ret_line = code->firstlineno;
		return 0;
	}
	if (offset > UINT32_MAX)
		return -ERANGE;
	return pyline_lookup(s->o->major, s->o->minor, code->table, code->table_len,
			     code->firstlineno, (uint32_t)offset, ret_line);
}

/*
 * Fill one frame from its code object and instruction offset; false when it
 * stays unknown. *@ret_skip (may be NULL) tells an incomplete frame (3.11+).
 */
static bool pystack_frame_fill(struct pystack *s, struct pystack_frame *f, uint64_t frame,
			       uint64_t code_addr, int64_t offset, bool instr_ok, unsigned int owner,
			       bool *ret_skip)
{
	const struct pycode *code;

	if (ret_skip)
		*ret_skip = false;
	f->name[0] = f->file[0] = '\0';
	f->unknown = false;
	f->frame = frame;
	f->code = code_addr;
	f->line = -1;
	if (pystack__code(s, code_addr, &code) < 0) {
		f->unknown = true;
		return false;
	}
	memcpy(f->name, code->name, sizeof(f->name));
	memcpy(f->file, code->file, sizeof(f->file));
	/* 3.11+: an instruction pointer outside its code was read while the frame changed. */
	if (!instr_ok || (s->o->code_code_adaptive != PY_OFFSET_NONE && offset > (int64_t)code->nr_units))
		return false;
	if (ret_skip)
		*ret_skip = pystack__incomplete(s, code, offset, owner);
	if (pystack__line(s, code, offset, &f->line) < 0)
		f->line = -1;
	return true;
}

/* One walk of a PyFrameObject chain (2.7, 3.6-3.10). */
static int pystack_walk_frames(struct pystack *s, uint64_t tstate, struct pystack_trace *t)
{
	const struct py_offsets *o = s->o;
	uint8_t head[PYSTACK_MAX_HEAD];
	size_t head_len = o->frame_lasti + sizeof(int32_t);
	uint64_t frame;
	int r;

	r = procmem__read_ptr(&s->mem, tstate + o->tstate_frame, &frame);
	if (r < 0)
		return r;
	while (frame) {
		struct pystack_frame *f;

		if (t->nr == PYSTACK_MAX_FRAMES) {
			t->truncated = true;
			break;
		}
		f = &t->frames[t->nr++];
		if (!procmem_ptr_plausible(frame) || procmem__read(&s->mem, frame, head, head_len) < 0) {
			pystack_frame_fill(s, f, frame, 0, -1, false, 0, NULL);
			t->inconsistent = true;
			break;
		}
		if (!pystack_frame_fill(s, f, frame, get_u64(head, o->frame_code),
					(int32_t)get_u32(head, o->frame_lasti), true, 0, NULL))
			t->inconsistent = true;
		frame = get_u64(head, o->frame_back);
	}
	return 0;
}

/*
 * The object a frame's executable refers to: 3.14+ keep it as a
 * _PyStackRef, whose low bits tag it. 0 (no object) for a tagged int or an
 * invalid reference.
 */
static uint64_t pystack_code_ref(const struct py_offsets *o, uint64_t bits)
{
	uint64_t tag;

	if (o->iframe_stackref_bits <= 0)
		return bits;
	tag = bits & (uint64_t)o->iframe_stackref_bits;
	if (tag != 0 && tag != (uint64_t)o->iframe_stackref_refcnt)
		return 0;
	return bits & ~(uint64_t)o->iframe_stackref_bits;
}

/* One walk of a _PyInterpreterFrame chain (3.11+). */
static int pystack_walk_iframes(struct pystack *s, uint64_t tstate, struct pystack_trace *t)
{
	const struct py_offsets *o = s->o;
	uint8_t head[PYSTACK_MAX_HEAD];
	uint64_t frame, base_frame = 0;
	int r;

	if (o->tstate_current_frame != PY_OFFSET_NONE) {
		r = procmem__read_ptr(&s->mem, tstate + o->tstate_current_frame, &frame);
	} else {
		uint64_t cframe;

		r = procmem__read_ptr(&s->mem, tstate + o->tstate_cframe, &cframe);
		if (r < 0)
			return r;
		if (!cframe)
			return 0;
		if (!procmem_ptr_plausible(cframe)) {
			t->inconsistent = true;
			return 0;
		}
		r = procmem__read_ptr(&s->mem, cframe + o->cframe_current_frame, &frame);
	}
	if (r < 0)
		return r;
	if (o->tstate_base_frame != PY_OFFSET_NONE &&
	    procmem__read_ptr(&s->mem, tstate + o->tstate_base_frame, &base_frame) < 0)
		base_frame = 0;
	for (size_t visits = 0; frame; visits++) {
		struct pystack_frame *f;
		uint64_t code, instr, base;
		int64_t offset = -1;
		bool instr_ok = true, skip;

		if (t->nr == PYSTACK_MAX_FRAMES || visits == PYSTACK_MAX_VISITS) {
			t->truncated = true;
			break;
		}
		if (!procmem_ptr_plausible(frame) || procmem__read(&s->mem, frame, head, o->iframe_size) < 0) {
			pystack_frame_fill(s, &t->frames[t->nr++], frame, 0, -1, false, 0, NULL);
			t->inconsistent = true;
			break;
		}
		if (o->iframe_owner_shim != PY_OFFSET_NONE && head[o->iframe_owner] >= o->iframe_owner_shim) {
			/* 3.15: the thread's base frame is the bottom; nothing real is below it. */
			if (frame == base_frame)
				break;
			frame = get_u64(head, o->iframe_previous);
			continue;
		}
		code = pystack_code_ref(o, get_u64(head, o->iframe_code));
		instr = get_u64(head, o->iframe_instr);
		base = code + o->code_code_adaptive;
		f = &t->frames[t->nr++];
		/* prev_instr sits one unit before the code until the frame starts (3.11-3.12). */
		if (instr >= base) {
			offset = (int64_t)((instr - base) / 2);
			instr_ok = offset <= (1 << 24);
		}
		if (!pystack_frame_fill(s, f, frame, code, offset, instr_ok, head[o->iframe_owner], &skip))
			t->inconsistent = true;
		else if (skip)
			t->nr--; /* not started: CPython leaves it out too */
		frame = get_u64(head, o->iframe_previous);
	}
	return 0;
}

int pystack__walk(struct pystack *s, uint64_t tstate, struct pystack_trace *trace)
{
	int r = 0;

	if (!procmem_ptr_plausible(tstate))
		return -EINVAL;
	for (int i = 0; i < PYSTACK_TRIES; i++) {
		trace->nr = 0;
		trace->truncated = false;
		trace->inconsistent = false;
		if (s->o->tstate_frame != PY_OFFSET_NONE)
			r = pystack_walk_frames(s, tstate, trace);
		else
			r = pystack_walk_iframes(s, tstate, trace);
		if (r < 0 || !trace->inconsistent)
			break;
	}
	return r;
}

int pystack__gil_addrs(struct pystack *s, uint64_t *ret_holder, uint64_t *ret_locked)
{
	const struct py_offsets *o = s->o;
	uint64_t gil;
	int r;

	*ret_locked = 0;
	/* 2.7, 3.6: the exported _PyThreadState_Current is the holder. */
	if (s->info.tstate_current_addr) {
		*ret_holder = s->info.tstate_current_addr;
		return 0;
	}
	if (!s->info.runtime_addr)
		return -EOPNOTSUPP;
	/* 3.7-3.11: _PyRuntime.gilstate.tstate_current, cleared when the GIL is dropped. */
	if (o->runtime_tstate_current != PY_OFFSET_NONE) {
		*ret_holder = s->info.runtime_addr + o->runtime_tstate_current;
		return 0;
	}
	/* Else a struct _gil_runtime_state: last_holder, while locked. */
	if (o->runtime_gil != PY_OFFSET_NONE) {
		gil = s->info.runtime_addr + o->runtime_gil;
	} else if (o->interp_gil != PY_OFFSET_NONE) {
		/* 3.12+: each interpreter points at the GIL it uses. */
		r = procmem__read_ptr(&s->mem, s->info.interp + o->interp_gil, &gil);
		if (r < 0)
			return r;
		if (!procmem_ptr_plausible(gil))
			return -EPROTO;
	} else {
		return -EOPNOTSUPP;
	}
	*ret_holder = gil + o->gil_last_holder;
	*ret_locked = gil + o->gil_locked;
	return 0;
}

int pystack__gil_holder(struct pystack *s, uint64_t *ret)
{
	uint64_t holder_addr, locked_addr;
	uint32_t locked;
	int r;

	r = pystack__gil_addrs(s, &holder_addr, &locked_addr);
	if (r < 0)
		return r;
	if (locked_addr) {
		r = procmem__read_u32(&s->mem, locked_addr, &locked);
		if (r < 0)
			return r;
		if (!locked) {
			*ret = 0;
			return 0;
		}
	}
	return procmem__read_ptr(&s->mem, holder_addr, ret);
}

static bool pystack_has_task(struct pystack *s, uint64_t tid)
{
	char path[64];
	struct stat st;

	/* Memory that is no process (procmem_for_buffer) has no tasks to check against. */
	if (tid == 0 || tid > INT32_MAX || s->mem.pid <= 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/task/%d", (int)s->mem.pid, (int)tid);
	return stat(path, &st) == 0;
}

int pystack__thread_tid(struct pystack *s, uint64_t tstate, pid_t *ret_tid, uint64_t *ret_thread_id)
{
	const struct py_offsets *o = s->o;
	uint64_t thread_id, tid;
	uint32_t v;
	int r;

	r = procmem__read_ptr(&s->mem, tstate + o->tstate_thread_id, &thread_id);
	if (r < 0)
		return r;
	if (ret_thread_id)
		*ret_thread_id = thread_id;
	if (o->tstate_native_thread_id != PY_OFFSET_NONE) {
		r = procmem__read_ptr(&s->mem, tstate + o->tstate_native_thread_id, &tid);
		if (r < 0)
			return r;
	} else {
		if (s->tid_offset < 0 || !procmem_ptr_plausible(thread_id))
			return -ENOENT;
		r = procmem__read_u32(&s->mem, thread_id + s->tid_offset, &v);
		if (r < 0)
			return r == -EFAULT ? -ENOENT : r;
		tid = v;
	}
	if (!pystack_has_task(s, tid))
		return -ENOENT;
	*ret_tid = (pid_t)tid;
	return 0;
}
