// SPDX-License-Identifier: MIT
/*
 * Finding CPython in a process: the executable or a mapped libpython*, its
 * ELF file read (pyelf.c), its layout (pylayout.c from 3.13), and the
 * interpreter its threads hang off, found and checked; the thread-state list.
 */
#include "pyfind.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "procmaps.h"
#include "procmem.h"
#include "pyfind-internal.h"

/* Caps on what a file or a target can make us do. */
#define PYFIND_MAX_SCAN (64u << 20)    /* bytes of writable data scanned for interp_head */
#define PYFIND_MAX_PROBES (1u << 20)   /* candidate pointers followed during that scan */
#define PYFIND_SCAN_CHUNK 65536

/*
 * Walk the thread states of @interp: each must point back to it. Returns the
 * length of the list (storing the first @max), -ELOOP for a cycle or more than
 * PYFIND_MAX_THREADS entries, -EPROTO for a foreign entry, or a read error.
 * Cycles are caught with Brent's algorithm, in constant space.
 */
static int thread_states_walk(const struct procmem *m, const struct py_offsets *o, uint64_t interp,
			      uint64_t *ret_addrs, size_t max)
{
	uint64_t t, tortoise = 0;
	size_t n = 0, power = 1, lam = 0;
	int r;

	if (!procmem_ptr_plausible(interp))
		return -EPROTO;
	r = procmem__read_ptr(m, interp + o->interp_tstate_head, &t);
	if (r < 0)
		return r;
	while (t) {
		uint64_t back;

		if (!procmem_ptr_plausible(t))
			return -EPROTO;
		if (t == tortoise || n == PYFIND_MAX_THREADS)
			return -ELOOP;
		r = procmem__read_ptr(m, t + o->tstate_interp, &back);
		if (r < 0)
			return r;
		if (back != interp)
			return -EPROTO;
		if (n < max)
			ret_addrs[n] = t;
		n++;
		if (++lam == power) {
			tortoise = t;
			power *= 2;
			lam = 0;
		}
		r = procmem__read_ptr(m, t + o->tstate_next, &t);
		if (r < 0)
			return r;
	}
	return n;
}

/* An interpreter is real when it has threads and they all point back to it. */
static int interp_check(const struct procmem *m, const struct py_offsets *o, uint64_t interp)
{
	int r = thread_states_walk(m, o, interp, NULL, 0);

	if (r < 0)
		return r;
	return r > 0 ? 0 : -EAGAIN;
}

/*
 * 2.7 and 3.6 without a GIL holder or an interp_head symbol: look through the
 * file's writable segments in the target for a pointer to an interpreter.
 * Candidates must point into writable memory before they are followed, and
 * the number followed is capped.
 */
static int interp_scan(const struct procmem *mem, const struct procmaps *maps, const struct pyelf *pe,
		       const struct pyinfo *info, uint64_t *ret_addr, uint64_t *ret_interp)
{
	const struct py_offsets *o = &info->offsets;
	_cleanup_free_ uint64_t *buf = malloc(PYFIND_SCAN_CHUNK);
	size_t scanned = 0, probes = 0;

	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < pe->nr_loads; i++) {
		const struct pyelf_load *l = &pe->loads[i];
		uint64_t start = (l->vaddr + info->load_bias + 7) & ~7ull;
		uint64_t end = l->vaddr + info->load_bias + l->memsz;

		if (!l->writable)
			continue;
		for (uint64_t a = start; a < end; a += PYFIND_SCAN_CHUNK) {
			size_t len = end - a < PYFIND_SCAN_CHUNK ? (end - a) & ~7ull : PYFIND_SCAN_CHUNK;
			int r;

			if (scanned >= PYFIND_MAX_SCAN)
				return -ENOENT;
			scanned += len;
			r = procmem__read(mem, a, buf, len);
			if (r == -EFAULT)
				continue;
			if (r < 0)
				return r;
			for (size_t k = 0; k < len / 8; k++) {
				const struct procmap *m;
				uint64_t p = buf[k], t;

				if (!procmem_ptr_plausible(p))
					continue;
				m = procmaps__find(maps, p);
				if (!m || !(m->prot & PROCMAP_WRITE))
					continue;
				if (++probes > PYFIND_MAX_PROBES)
					return -ENOENT;
				r = procmem__read_ptr(mem, p + o->interp_tstate_head, &t);
				if (r == 0 && procmem_ptr_plausible(t))
					r = interp_check(mem, o, p);
				else if (r == 0)
					r = -EPROTO;
				/* A target gone or forbidden ends the scan; a wrong guess does not. */
				if (r == -ESRCH || r == -EPERM)
					return r;
				if (r < 0)
					continue;
				*ret_addr = a + k * 8;
				*ret_interp = p;
				return 0;
			}
		}
	}
	return -ENOENT;
}

/* Take the interpreter pointer stored at @addr, if it checks out. -EAGAIN: none yet. */
static int pyinfo_interp_at(const struct procmem *m, struct pyinfo *info, uint64_t addr,
			    enum pyfind_interp_source source)
{
	uint64_t interp;
	int r;

	r = procmem__read_ptr(m, addr, &interp);
	if (r < 0)
		return r;
	if (!interp)
		return -EAGAIN;
	r = interp_check(m, &info->offsets, interp);
	if (r < 0)
		return r;
	info->interp = interp;
	info->interp_source = source;
	return 0;
}

static int pyinfo_find_interp(const struct procmem *m, const struct procmaps *maps, const struct pyelf *pe,
			      struct pyinfo *info)
{
	const struct py_offsets *o = &info->offsets;
	uint64_t interp, addr;
	int r;

	if (info->runtime_addr)
		return pyinfo_interp_at(m, info, info->runtime_addr + o->runtime_interpreters_head,
					PYFIND_INTERP_RUNTIME);

	if (info->tstate_current_addr) {
		uint64_t t;

		r = procmem__read_ptr(m, info->tstate_current_addr, &t);
		if (r < 0)
			return r;
		if (t && procmem_ptr_plausible(t) &&
		    procmem__read_ptr(m, t + o->tstate_interp, &interp) == 0 &&
		    interp_check(m, o, interp) == 0) {
			info->interp = interp;
			info->interp_source = PYFIND_INTERP_TSTATE_CURRENT;
			return 0;
		}
	}

	if (info->interp_head_addr)
		return pyinfo_interp_at(m, info, info->interp_head_addr, PYFIND_INTERP_HEAD_SYMBOL);

	r = interp_scan(m, maps, pe, info, &addr, &interp);
	if (r == -ENOENT)
		return -EAGAIN;
	if (r < 0)
		return r;
	info->interp_head_addr = addr;
	info->interp = interp;
	info->interp_source = PYFIND_INTERP_DATA_SCAN;
	return 0;
}

/*
 * Whether a version newer than any known reads right through the newest
 * layout: the first frames of its threads must hold code objects (the type
 * named "code"), the interpreter's own frames skipped. -EAGAIN while no
 * thread has a frame yet; -EPROTONOSUPPORT (with the note) when one does not.
 */
static int newest_check_frames(const struct procmem *m, struct pyinfo *info)
{
	const struct py_offsets *o = &info->offsets;
	uint64_t tstates[8];
	int n, checked = 0;

	n = thread_states_walk(m, o, info->interp, tstates, sizeof(tstates) / sizeof(tstates[0]));
	if (n < 0)
		return n;
	for (int i = 0; i < n && i < (int)(sizeof(tstates) / sizeof(tstates[0])); i++) {
		uint64_t frame, exec, type, name;
		uint8_t owner;
		char buf[5];

		if (procmem__read_ptr(m, tstates[i] + o->tstate_current_frame, &frame) < 0)
			continue;
		for (int k = 0; k < 16 && frame && procmem_ptr_plausible(frame); k++) {
			if (procmem__read(m, frame + o->iframe_owner, &owner, 1) < 0 ||
			    procmem__read_ptr(m, frame + o->iframe_code, &exec) < 0)
				break;
			if (o->iframe_owner_shim >= 0 && owner >= o->iframe_owner_shim) {
				if (procmem__read_ptr(m, frame + o->iframe_previous, &frame) < 0)
					break;
				continue;
			}
			if (o->iframe_stackref_bits > 0)
				exec &= ~(uint64_t)o->iframe_stackref_bits;
			if (procmem__read_ptr(m, exec + o->object_type, &type) < 0 ||
			    procmem__read_ptr(m, type + o->type_name, &name) < 0 ||
			    procmem__read(m, name, buf, sizeof(buf)) < 0 || memcmp(buf, "code", sizeof(buf)))
				return pylayout_refuse(info, "CPython %u.%u is newer than any Hearth knows, "
							     "and %u.%u's layout does not read its frames",
						       info->major, info->minor,
						       py_debug_layout_newest()->major,
						       py_debug_layout_newest()->minor);
			checked++;
			break;
		}
	}
	return checked ? 0 : -EAGAIN;
}

static bool same_file(const struct procmap *a, const struct procmap *b)
{
	return a->inode == b->inode && a->dev_major == b->dev_major &&
	       a->dev_minor == b->dev_minor && !strcmp(a->path, b->path);
}

/*
 * Try the file first mapped at maps->maps[@first], opened through @pid's /proc
 * and read through @mem. -ENOEXEC: no CPython in it.
 */
static int pyfind_module(pid_t pid, const struct procmem *mem, const struct procmaps *maps,
			 size_t first, struct pyinfo *ret)
{
	const struct procmap *m = &maps->maps[first];
	_cleanup_close_ int fd = -1;
	struct pyinfo info = {};
	bool biased = false;
	struct pyelf pe;
	int r;

	fd = procmap__open(m, pid);
	if (fd < 0)
		return fd == -ENOENT ? -ENOEXEC : fd;
	r = pyelf_read(fd, &pe);
	if (r < 0)
		return r == -ENOEXEC || r == -E2BIG ? -ENOEXEC : r;
	if (!pe.sym[SYM_RUNTIME] && !pe.pyruntime_section && !pe.sym[SYM_PY_VERSION] &&
	    !pe.sym[SYM_TSTATE_CURRENT])
		return -ENOEXEC;

	for (size_t i = first; i < maps->nr && !biased; i++)
		if (same_file(&maps->maps[i], m))
			biased = pyelf_bias(&pe, &maps->maps[i], &info.load_bias) == 0;
	if (!biased)
		return -ENOEXEC;

#define TARGET_ADDR(v) ((v) ? (v) + info.load_bias : 0)
	info.runtime_addr = TARGET_ADDR(pe.sym[SYM_RUNTIME] ?: pe.pyruntime_section);
	info.py_version_addr = TARGET_ADDR(pe.sym[SYM_PY_VERSION]);
	info.tstate_current_addr = TARGET_ADDR(pe.sym[SYM_TSTATE_CURRENT]);
	info.interp_head_addr = TARGET_ADDR(pe.sym[SYM_INTERP_HEAD]);
#undef TARGET_ADDR
	if (info.runtime_addr)
		info.tstate_current_addr = info.interp_head_addr = 0;
	if (strlen(m->path) >= sizeof(info.module))
		return -ENAMETOOLONG;
	strcpy(info.module, m->path);

	r = pyinfo_find_version(mem, &pe, m->path, &info);
	if (r == -EPROTONOSUPPORT)
		*ret = info;
	if (r < 0)
		return r;
	/* 3.13+, and any later version: the target's own table says where things are. */
	if (info.major == 3 && info.minor >= 13) {
		r = pyinfo_read_layout(mem, &info);
		if (r == -EPROTONOSUPPORT)
			*ret = info;
		if (r < 0)
			return r;
	} else {
		const struct py_offsets *o = py_offsets_find(info.major, info.minor);

		if (!o) {
			*ret = info;
			return -EPROTONOSUPPORT;
		}
		info.offsets = *o;
		info.supported = true;
	}
	/* The table says where the runtime lives; a 3.7+ build without it is broken. */
	if ((info.offsets.runtime_interpreters_head != PY_OFFSET_NONE) != !!info.runtime_addr)
		return -EPROTO;

	r = pyinfo_find_interp(mem, maps, &pe, &info);
	/* A version newer than any known must show it holds: a code object where a frame says. */
	if (r == 0 && info.layout_source == PYFIND_LAYOUT_NEWEST) {
		r = newest_check_frames(mem, &info);
		if (r == -EPROTONOSUPPORT)
			*ret = info;
	}
	/* Starting up: what is known so far, so the interpreter can be watched for from BPF. */
	if (r == 0 || r == -EAGAIN)
		*ret = info;
	return r;
}

static bool is_libpython(const char *path)
{
	const char *base = strrchr(path, '/');

	return base && !strncmp(base + 1, "libpython", 9);
}

int pyfind(pid_t pid, struct pyinfo *ret)
{
	_cleanup_(procmaps__freep) struct procmaps *maps = NULL;
	struct procmem mem = procmem_for_pid(pid);
	char exe_link[64], exe[PATH_MAX];
	ssize_t n;
	int r;

	if (pid <= 0)
		return -ESRCH;
	r = procmaps__read(pid, &maps);
	if (r < 0)
		return r;
	snprintf(exe_link, sizeof(exe_link), "/proc/%d/exe", (int)pid);
	n = readlink(exe_link, exe, sizeof(exe) - 1);
	if (n < 0) {
		if (errno == ENOENT && kill(pid, 0) < 0 && errno == ESRCH)
			return -ESRCH;
		n = 0; /* kernel threads have no executable; libraries may still be looked at */
	}
	exe[n] = '\0';

	/* The executable first, then each distinct libpython*, by first mapping. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < maps->nr; i++) {
			const struct procmap *m = &maps->maps[i];
			bool seen = false;

			if (!procmap__is_file(m))
				continue;
			if (pass == 0 ? strcmp(m->path, exe) != 0 : !is_libpython(m->path))
				continue;
			for (size_t j = 0; j < i && !seen; j++)
				seen = same_file(&maps->maps[j], m);
			if (seen)
				continue;
			r = pyfind_module(pid, &mem, maps, i, ret);
			if (r != -ENOEXEC)
				return r;
			if (pass == 0)
				break;
		}
	}
	if (kill(pid, 0) < 0 && errno == ESRCH)
		return -ESRCH;
	return -ENOEXEC;
}

int pyinfo_read_thread_states(const struct procmem *mem, const struct pyinfo *info, uint64_t *ret_addrs,
			      size_t max)
{
	if (!info->supported)
		return -EINVAL;
	return thread_states_walk(mem, &info->offsets, info->interp, ret_addrs, max);
}

int pyinfo_thread_states(pid_t pid, const struct pyinfo *info, uint64_t *ret_addrs, size_t max)
{
	struct procmem mem = procmem_for_pid(pid);

	return pyinfo_read_thread_states(&mem, info, ret_addrs, max);
}
