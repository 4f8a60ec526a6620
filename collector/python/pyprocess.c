// SPDX-License-Identifier: MIT
#include "pyprocess.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "intern.h"
#include "log.h"
#include "pystack.h"

/* First retry of a failed look, doubled each time up to the maximum. */
#define PYPROCESS_RETRY_NS 10000000ull
#define PYPROCESS_RETRY_MAX_NS 1000000000ull
/* Looks that find no CPython before the process is taken for not being Python. */
#define PYPROCESS_NOEXEC_TRIES 8
/* Looks that cannot read a CPython before it is given up. */
#define PYPROCESS_UNREADABLE_TRIES 8
/* How long a code object is trusted before it is read and compared again. */
#define PYPROCESS_CODE_MAX_AGE_NS 1000000000ull
/* Frames remembered by (code object, instruction); the memo restarts when full. */
#define PYPROCESS_FRAME_CACHE 65536

struct pyprocess {
	pid_t pid;
	struct pyprocess_options opts;
	enum pyprocess_state state;
	int error;
	unsigned int tries;
	uint64_t next_try_ns;
	struct pyinfo info;
	struct pystack *stack;
	struct intern *frame_keys; /* key: struct frame_key; id indexes frame_ids */
	uint32_t *frame_ids;
	struct pyprocess_stats stats;
	bool starting; /* the sampler watches for the interpreter already: it is starting up */
};

struct frame_key {
	uint64_t code;
	uint64_t serial; /* of the code object's cache entry: a reused address differs */
	int64_t offset;
};

int pyprocess__new(pid_t pid, const struct pyprocess_options *o, struct pyprocess **ret)
{
	struct pyprocess *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->pid = pid;
	if (o)
		p->opts = *o;
	*ret = p;
	return 0;
}

static void pyprocess_forget(struct pyprocess *p)
{
	p->stack = pystack__free(p->stack);
	p->frame_keys = intern__free(p->frame_keys);
	free(p->frame_ids);
	p->frame_ids = NULL;
}

struct pyprocess *pyprocess__free(struct pyprocess *p)
{
	if (!p)
		return NULL;
	pyprocess_forget(p);
	free(p);
	return NULL;
}

int pyprocess__forget_profile(struct pyprocess *p)
{
	if (!p->frame_keys)
		return 0;
	p->frame_keys = intern__free(p->frame_keys);
	return intern__new(PYPROCESS_FRAME_CACHE, &p->frame_keys);
}

void pyprocess__reset(struct pyprocess *p)
{
	pyprocess_forget(p);
	p->state = PYPROCESS_LOOKING;
	p->error = 0;
	p->tries = 0;
	p->next_try_ns = 0;
	p->starting = false;
	memset(&p->info, 0, sizeof(p->info));
}

enum pyprocess_state pyprocess__state(const struct pyprocess *p)
{
	return p->state;
}

int pyprocess__error(const struct pyprocess *p)
{
	return p->error;
}

const struct pyinfo *pyprocess__info(const struct pyprocess *p)
{
	return &p->info;
}

uint64_t pyprocess__code_reads(const struct pyprocess *p)
{
	return p->stack ? pystack__code_reads(p->stack) : 0;
}

void pyprocess__stats(const struct pyprocess *p, struct pyprocess_stats *ret)
{
	*ret = p->stats;
}

static int16_t max16(int16_t a, int16_t b)
{
	return a > b ? a : b;
}

/* Where the address of the interpreter is stored, to be read while it starts up; 0 when unknown. */
static uint64_t pyprocess_interp_addr(const struct pyinfo *info)
{
	if (!info->supported)
		return 0;
	if (info->runtime_addr && info->offsets.runtime_interpreters_head != PY_OFFSET_NONE)
		return info->runtime_addr + info->offsets.runtime_interpreters_head;
	return info->interp_head_addr;
}

/* The walker's view of the interpreter pyfind() found. */
static int pyprocess_bpf(struct pyprocess *p, struct hearth_pyproc *b)
{
	const struct py_offsets *o = &p->info.offsets;
	int16_t tw, fw;
	uint64_t holder, locked;
	int r;

	memset(b, 0, sizeof(*b));
	b->interp = p->info.interp;
	b->interp_addr = pyprocess_interp_addr(&p->info);
	b->interp_tstate_head = o->interp_tstate_head;
	b->tstate_next = o->tstate_next;
	b->tstate_thread_id = o->tstate_thread_id;
	b->tstate_native_thread_id = o->tstate_native_thread_id;
	b->cframe_current_frame = o->cframe_current_frame;
	b->owner_shim = o->iframe_owner_shim;
	b->code_tag_bits = o->iframe_stackref_bits > 0 ? (__u8)o->iframe_stackref_bits : 0;
	b->code_tag_refcnt = o->iframe_stackref_refcnt > 0 ? (__u8)o->iframe_stackref_refcnt : 0;
	b->code_adaptive = o->code_code_adaptive;
	b->frame_is_entry = o->iframe_is_entry;
	if (o->tstate_frame != PY_OFFSET_NONE) {
		b->walk = HEARTH_PY_WALK_FRAME_OBJECT;
		b->tstate_frame = o->tstate_frame;
		b->frame_back = o->frame_back;
		b->frame_code = o->frame_code;
		b->frame_instr = o->frame_lasti;
		b->frame_owner = PY_OFFSET_NONE;
		fw = max16(max16(o->frame_back, o->frame_code) + 8, o->frame_lasti + 4);
	} else {
		b->walk = o->tstate_cframe != PY_OFFSET_NONE ? HEARTH_PY_WALK_CFRAME : HEARTH_PY_WALK_CURRENT;
		b->tstate_frame = o->tstate_cframe != PY_OFFSET_NONE ? o->tstate_cframe : o->tstate_current_frame;
		b->frame_back = o->iframe_previous;
		b->frame_code = o->iframe_code;
		b->frame_instr = o->iframe_instr;
		b->frame_owner = o->iframe_owner;
		fw = max16(max16(o->iframe_previous, o->iframe_code), o->iframe_instr) + 8;
		fw = max16(fw, max16(o->iframe_owner, o->iframe_is_entry) + 1);
	}
	tw = max16(max16(o->tstate_next, o->tstate_thread_id),
		   max16(o->tstate_native_thread_id, b->tstate_frame)) + 8;
	if (b->tstate_frame < 0 || b->frame_back < 0 || b->frame_code < 0 || b->frame_instr < 0 ||
	    tw > HEARTH_PY_WINDOW || fw > HEARTH_PY_WINDOW)
		return -EPROTONOSUPPORT;
	b->tstate_window = tw;
	b->frame_window = fw;

	if (!p->info.interp)
		return 0; /* starting up: the GIL comes once the interpreter is found */
	/* The GIL holder, told where pystack__gil_holder() looks. */
	r = pystack__gil_addrs(p->stack, &holder, &locked);
	if (r == -EPROTO)
		return -EAGAIN; /* the GIL is made during start-up */
	if (r < 0 && r != -EOPNOTSUPP)
		return r;
	if (r == 0) {
		b->gil_holder_addr = holder;
		b->gil_locked_addr = locked;
	}
	return 0;
}

static void pyprocess_retry(struct pyprocess *p, uint64_t now_ns)
{
	uint64_t delay = PYPROCESS_RETRY_NS << (p->tries < 8 ? p->tries : 8);

	p->next_try_ns = now_ns + (delay < PYPROCESS_RETRY_MAX_NS ? delay : PYPROCESS_RETRY_MAX_NS);
}

/* Make what reading @p's frames takes from this look's findings, and the sampler's entry. */
static int pyprocess_ready(struct pyprocess *p, struct hearth_pyproc *ret_bpf)
{
	struct procmem mem = procmem_for_pid(p->pid);
	int r;

	/* Made again from this look's findings, which pyprocess_bpf() reads through it. */
	p->stack = pystack__free(p->stack);
	r = pystack__new(&mem, &p->info, &p->stack);
	if (r == 0)
		r = pyprocess_bpf(p, ret_bpf);
	if (r == 0 && !p->frame_keys) {
		r = intern__new(PYPROCESS_FRAME_CACHE, &p->frame_keys);
		if (r == 0) {
			p->frame_ids = malloc(PYPROCESS_FRAME_CACHE * sizeof(*p->frame_ids));
			if (!p->frame_ids)
				r = -ENOMEM;
		}
	}
	return r;
}

int pyprocess__probe(struct pyprocess *p, uint64_t now_ns, struct hearth_pyproc *ret_bpf)
{
	int r;

	if (p->state != PYPROCESS_LOOKING || now_ns < p->next_try_ns)
		return 0;
	p->tries++;
	r = pyfind(p->pid, &p->info);
	/*
	 * Starting up, with the place known where its address will be: the
	 * sampler can watch for the interpreter from its next sample on, rather
	 * than from the next look of ours (a drain away, and the first samples
	 * of a process are slow to take in).
	 */
	if (r == -EAGAIN && !p->starting && pyprocess_interp_addr(&p->info) && pyprocess_ready(p, ret_bpf) == 0) {
		p->starting = true;
		p->next_try_ns = now_ns + PYPROCESS_RETRY_NS;
		return 1;
	}
	if (r == 0)
		r = pyprocess_ready(p, ret_bpf);
	p->error = r;
	switch (r) {
	case 0:
		p->state = PYPROCESS_ACTIVE;
		return 1;
	case -ESRCH:
		p->state = PYPROCESS_NONE;
		return -ESRCH;
	case -EPROTONOSUPPORT:
		p->state = PYPROCESS_UNSUPPORTED;
		return 0;
	case -ENOEXEC:
		/* Just exec'd: libpython may not be mapped yet. */
		if (p->tries >= PYPROCESS_NOEXEC_TRIES)
			p->state = PYPROCESS_NONE;
		break;
	case -EAGAIN:
		/* An interpreter starting up: it will be ready soon, look again soon (no backoff). */
		p->next_try_ns = now_ns + PYPROCESS_RETRY_NS;
		return 0;
	default:
		if (p->tries >= PYPROCESS_UNREADABLE_TRIES)
			p->state = PYPROCESS_UNREADABLE;
		break;
	}
	pyprocess_retry(p, now_ns);
	return 0;
}

const char *pyprocess_short_path(const char *path)
{
	static const char *const markers[] = { "/site-packages/", "/dist-packages/" };
	const char *best = NULL, *q;

	for (size_t i = 0; i < sizeof(markers) / sizeof(markers[0]); i++)
		for (q = strstr(path, markers[i]); q; q = strstr(q + 1, markers[i]))
			if (!best || q + strlen(markers[i]) > best)
				best = q + strlen(markers[i]);
	if (best && *best)
		return best;
	best = NULL;
	/* The standard library: .../lib/pythonX.Y/ (a last one wins). */
	for (q = strstr(path, "/lib/python"); q; q = strstr(q + 1, "/lib/python")) {
		const char *v = q + strlen("/lib/python");

		if (!isdigit((unsigned char)*v))
			continue;
		while (isdigit((unsigned char)*v) || *v == '.')
			v++;
		if (*v == '/' && v[1])
			best = v + 1;
	}
	return best ? best : path;
}

static int pyprocess_unknown(struct pyprocess *p, struct profile *prof, uint64_t code,
			     uint32_t *ret_frame)
{
	struct profile_frame pf = { .kind = PROFILE_FRAME_PYTHON, .unknown = 1, .address = code };
	int64_t id;

	p->stats.unknown_code++;
	id = profile__add_frame_named(prof, &pf, "<unknown>");
	if (id < 0)
		return (int)id;
	*ret_frame = (uint32_t)id;
	return 0;
}

int pyprocess__frame(struct pyprocess *p, struct profile *prof, const struct hearth_pyframe *f,
		     uint64_t time_ns, uint32_t *ret_frame, bool *ret_skip)
{
	const struct py_offsets *o = &p->info.offsets;
	struct profile_frame pf = { .kind = PROFILE_FRAME_PYTHON };
	struct frame_key key = { .code = f->code };
	const struct pycode *code;
	int64_t offset, id;
	int line = 0, r;

	*ret_skip = false;
	if ((p->state != PYPROCESS_ACTIVE && !p->starting) || !p->stack)
		return pyprocess_unknown(p, prof, f->code, ret_frame);
	r = pystack__code_recent(p->stack, f->code, time_ns, PYPROCESS_CODE_MAX_AGE_NS, &code);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return pyprocess_unknown(p, prof, f->code, ret_frame);

	/* The offset as pystack__line() takes it: f_lasti, or code units from 3.11. */
	if (o->code_code_adaptive == PY_OFFSET_NONE)
		offset = f->instr;
	else
		offset = f->instr >= 0 ? f->instr / 2 : -1;
	if (o->code_code_adaptive != PY_OFFSET_NONE && offset > (int64_t)code->nr_units)
		offset = INT32_MIN; /* the frame changed under the walker: the line is unknown */
	else if (pystack__incomplete(p->stack, code, offset, f->owner)) {
		p->stats.incomplete++;
		*ret_skip = true;
		return 0;
	}

	key.serial = code->serial;
	key.offset = p->opts.function ? INT64_MIN : offset;
	id = intern__find(p->frame_keys, &key, sizeof(key));
	if (id >= 0) {
		*ret_frame = p->frame_ids[id];
		return 0;
	}

	if (p->opts.function)
		line = code->firstlineno;
	else if (offset == INT32_MIN || pystack__line(p->stack, code, offset, &line) < 0)
		line = 0;
	id = profile__intern(prof, p->opts.full_filenames ? code->file : pyprocess_short_path(code->file));
	if (id < 0)
		return (int)id;
	pf.file = (uint32_t)id;
	pf.line = line > 0 ? (uint32_t)line : 0;
	id = profile__add_frame_named(prof, &pf, code->name[0] ? code->name : "<unnamed>");
	if (id < 0)
		return (int)id;
	*ret_frame = (uint32_t)id;

	if (intern__count(p->frame_keys) >= PYPROCESS_FRAME_CACHE) {
		/* Full: start over rather than grow. */
		intern__free(p->frame_keys);
		p->frame_keys = NULL;
		if ((r = intern__new(PYPROCESS_FRAME_CACHE, &p->frame_keys)) < 0)
			return r;
	}
	id = intern__add(p->frame_keys, &key, sizeof(key), NULL);
	if (id >= 0)
		p->frame_ids[id] = *ret_frame;
	return 0;
}

const char *pyprocess_state_to_string(enum pyprocess_state s)
{
	switch (s) {
	case PYPROCESS_LOOKING:
		return "looking for CPython";
	case PYPROCESS_ACTIVE:
		return "CPython found";
	case PYPROCESS_NONE:
		return "no CPython";
	case PYPROCESS_UNSUPPORTED:
		return "unsupported CPython";
	case PYPROCESS_UNREADABLE:
		return "CPython unreadable";
	}
	return "?";
}
