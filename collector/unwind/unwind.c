// SPDX-License-Identifier: MIT
/*
 * A walk goes first through the CFI rows cached per file (cfirows.c, read
 * with libdw): for compiled code a lookup and a few reads per frame. Where a
 * frame needs more (expressions, signal frames, .debug_frame, words past the
 * copy), libunwind walks the whole stack (CIE/FDE parsing, the CFA programs,
 * signal frames) in an address space made of two things only: the copied
 * stack, and the bytes of the ELF files the process maps, mapped here
 * read-only. Nothing is ever read from the target process itself.
 */
#include "unwind.h"

#include <elf.h>
#include <errno.h>
#include <malloc.h>
#include <fcntl.h>
#include <libunwind.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfirows.h"
#include "cleanup.h"
#include "debugframe.h"
#include "log.h"

/* Exported by libunwind (and what its own ptrace accessors use) but absent from its headers. */
extern int UNW_OBJ(dwarf_search_unwind_table)(unw_addr_space_t as, unw_word_t ip, unw_dyn_info_t *di,
					      unw_proc_info_t *pi, int need_unwind_info, void *arg);

#define UNWIND_DEFAULT_FILES 256
#define UNWIND_MIN_FILES 4
#define UNWIND_MAX_LOADS 32
#define UNWIND_PAGE_SIZE 4096ull

/* DWARF pointer encodings used by .eh_frame_hdr (LSB 5.0, "DWARF Extensions"). */
#define DW_EH_PE_OMIT 0xff
#define DW_EH_PE_FORMAT_MASK 0x0f
#define DW_EH_PE_APPL_MASK 0x70
#define DW_EH_PE_DATAREL_SDATA4 0x3b

#define UNWIND_MAX_BUILD_ID 64
#define UNWIND_MAX_NOTES 4096 /* bytes of PT_NOTE segments read looking for the build-id */

struct unwind_load {
	uint64_t offset, vaddr, filesz;
};

/*
 * One ELF image: its bytes mapped, its PT_LOADs and unwind tables. Shared by
 * every mapped file with the same build-id and size (the same library in
 * many containers, each with its own device and inode).
 */
struct unwind_file {
	uint32_t dev_major, dev_minor; /* of the file it was loaded from */
	uint64_t inode;
	uint8_t build_id[UNWIND_MAX_BUILD_ID];
	uint8_t build_id_len;         /* 0: none, shared by device and inode only */
	uint64_t file_size;
	uint64_t last_use;
	int error;           /* < 0: could not be loaded; remembered so samples do not retry */
	const uint8_t *data; /* the whole file */
	size_t size;
	bool mapped;         /* data is a mapping of ours (the vDSO is not) */
	struct unwind_load loads[UNWIND_MAX_LOADS];
	size_t nr_loads;
	bool has_table;      /* a usable .eh_frame_hdr binary-search table */
	uint64_t hdr_vaddr;  /* link-time address of .eh_frame_hdr */
	uint64_t table_vaddr;
	uint64_t fde_count;
	bool dbg_tried;      /* .debug_frame was looked for (in the file, then in debug files) */
	struct debug_frame *dbg;
	bool rows_tried;     /* rows was made, or could not be */
	struct cfi_rows *rows; /* the .eh_frame rows met so far, for unwind_by_rows() */
};

struct unwind_process {
	pid_t pid;
	unw_addr_space_t as;
	uint64_t last_use;
};

/* One walk's inputs, which the libunwind callbacks reach through their arg. */
struct unwind_ctx {
	struct unwinder *u;
	pid_t pid;
	const struct procmaps *maps;
	const struct unwind_snapshot *snap;
	const struct procmap *stack_map; /* the mapping holding SP, or NULL */
	const struct procmap *memo_map;  /* the last mapping resolved to a file */
	struct unwind_file *memo_file;
	bool refused;                    /* a read failed since the last step began */
	enum unwind_stop hint;           /* and why */
	bool no_cfi;                     /* find_proc_info found no CFI in this step */
	enum unwind_stop no_cfi_reason;  /* UNWIND_STOP_BAD_IP or UNWIND_STOP_NO_INFO */
};

/* A mapped file (device and inode) resolved to a loaded image: an open-addressing table. */
struct unwind_key {
	uint64_t inode;
	uint32_t dev_major, dev_minor;
	uint32_t file; /* index in files plus one; 0: an empty slot */
};

struct unwinder {
	struct unwind_file *files;
	size_t nr_files, max_files;
	struct unwind_key *keys, *keys_spare; /* nr_keys each, a power of two */
	size_t nr_keys, keys_used;
	struct unwind_process procs[UNWIND_MAX_PROCESSES];
	size_t nr_procs;
	uint64_t tick; /* one per unwind: files used by the current walk are never evicted */
	unw_accessors_t accessors;
	struct unwind_ctx ctx;
	struct unwind_file vdso;
	bool vdso_tried;
	bool trim_pending;   /* memory freed since the last malloc_trim() */
	uint64_t trimmed_ns; /* CLOCK_MONOTONIC of that trim */
	struct unwind_stats stats;
	bool rows_off; /* unwinder__use_rows(false): libunwind walks every stack */
};

static const char *const unwind_stop_names[UNWIND_STOP__MAX] = {
	[UNWIND_STOP_END] = "end",
	[UNWIND_STOP_STACK_END] = "stack-end",
	[UNWIND_STOP_NO_INFO] = "no-info",
	[UNWIND_STOP_BAD_IP] = "bad-ip",
	[UNWIND_STOP_BAD_MEMORY] = "bad-memory",
	[UNWIND_STOP_LOOP] = "loop",
	[UNWIND_STOP_DEPTH] = "depth",
	[UNWIND_STOP_ERROR] = "error",
};

const char *unwind_stop_name(enum unwind_stop stop)
{
	return (unsigned)stop < UNWIND_STOP__MAX ? unwind_stop_names[stop] : "unknown";
}

/* Bytes of a DWARF pointer encoding's value; -1 for the variable-length and unknown ones. */
static int dw_eh_pe_size(uint8_t enc)
{
	if (enc == DW_EH_PE_OMIT)
		return 0;
	switch (enc & DW_EH_PE_FORMAT_MASK) {
	case 0x00: /* absptr */
	case 0x04: /* udata8 */
	case 0x0c: /* sdata8 */
		return 8;
	case 0x02: /* udata2 */
	case 0x0a: /* sdata2 */
		return 2;
	case 0x03: /* udata4 */
	case 0x0b: /* sdata4 */
		return 4;
	default:
		return -1;
	}
}

static uint64_t read_le(const uint8_t *p, int size)
{
	uint64_t v = 0;

	for (int i = size - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* Find the PT_LOADs and the .eh_frame_hdr table in the ELF image at f->data. */
static int unwind_file_parse(struct unwind_file *f)
{
	Elf64_Ehdr eh;
	Elf64_Phdr hdr_ph = { 0 };
	bool have_hdr = false;
	const uint8_t *h;
	int ptr_size, count_size;
	uint64_t table_off;

	if (f->size < sizeof(eh))
		return -ENOEXEC;
	memcpy(&eh, f->data, sizeof(eh));
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_phentsize != sizeof(Elf64_Phdr) ||
	    eh.e_phoff > f->size || eh.e_phnum > (f->size - eh.e_phoff) / sizeof(Elf64_Phdr))
		return -ENOEXEC;

	for (size_t i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, f->data + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_LOAD && f->nr_loads < UNWIND_MAX_LOADS) {
			f->loads[f->nr_loads++] = (struct unwind_load){
				.offset = ph.p_offset, .vaddr = ph.p_vaddr, .filesz = ph.p_filesz,
			};
		} else if (ph.p_type == PT_GNU_EH_FRAME) {
			hdr_ph = ph;
			have_hdr = true;
		}
	}
	if (!f->nr_loads)
		return -ENOEXEC;
	if (!have_hdr || hdr_ph.p_offset > f->size || hdr_ph.p_filesz > f->size - hdr_ph.p_offset ||
	    hdr_ph.p_filesz < 4)
		return 0; /* loaded, but no table: its ips stop with UNWIND_STOP_NO_INFO */

	/* version, eh_frame_ptr_enc, fde_count_enc, table_enc, eh_frame_ptr, fde_count, table */
	h = f->data + hdr_ph.p_offset;
	ptr_size = dw_eh_pe_size(h[1]);
	count_size = dw_eh_pe_size(h[2]);
	if (h[0] != 1 || ptr_size < 0 || count_size <= 0 || (h[2] & DW_EH_PE_APPL_MASK) ||
	    h[3] != DW_EH_PE_DATAREL_SDATA4)
		return 0;
	table_off = 4 + (uint64_t)ptr_size + (uint64_t)count_size;
	if (table_off > hdr_ph.p_filesz)
		return 0;
	f->fde_count = read_le(h + 4 + ptr_size, count_size);
	if (f->fde_count == 0 || f->fde_count > UNWIND_MAX_FDES ||
	    f->fde_count * 8 > hdr_ph.p_filesz - table_off)
		return 0;
	f->hdr_vaddr = hdr_ph.p_vaddr;
	f->table_vaddr = hdr_ph.p_vaddr + table_off;
	f->has_table = true;
	return 0;
}

static void unwind_file_release(struct unwind_file *f)
{
	if (f->mapped && f->data)
		munmap((void *)f->data, f->size);
	debug_frame__free(f->dbg);
	cfi_rows__free(f->rows);
	*f = (struct unwind_file){ 0 };
}

/* Open the file behind @m: through the process, or by its path when @pid is 0 (offline). */
static int unwind_file_open(pid_t pid, const struct procmap *m, struct stat *ret_st)
{
	_cleanup_close_ int fd = -1;

	if (pid > 0) {
		fd = procmap__open(m, pid);
		if (fd < 0)
			return fd;
	} else {
		fd = open(m->path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
	}
	if (fstat(fd, ret_st) < 0)
		return -errno;
	if (!S_ISREG(ret_st->st_mode))
		return -ENOEXEC;
	/* Offline, the path may name another file by now; live, map_files is the mapped file. */
	if (pid <= 0 && (uint64_t)ret_st->st_ino != m->inode)
		return -ESTALE;
	if ((uint64_t)ret_st->st_size < sizeof(Elf64_Ehdr) || (uint64_t)ret_st->st_size > UNWIND_MAX_FILE_SIZE)
		return -ENOEXEC;
	return TAKE_FD(fd);
}

/* The GNU build-id in the PT_NOTE segments of the ELF file at @fd: its length, 0 when none. */
static size_t unwind_read_build_id(int fd, uint8_t *id)
{
	uint8_t notes[UNWIND_MAX_NOTES];
	Elf64_Ehdr eh;

	if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr) ||
	    eh.e_phnum > UNWIND_MAX_LOADS * 2)
		return 0;
	for (size_t i = 0; i < eh.e_phnum; i++) {
		uint64_t align, off = 0;
		Elf64_Phdr ph;
		ssize_t n;

		if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + i * sizeof(ph))) != (ssize_t)sizeof(ph))
			return 0;
		if (ph.p_type != PT_NOTE || ph.p_filesz > sizeof(notes))
			continue;
		n = pread(fd, notes, ph.p_filesz, (off_t)ph.p_offset);
		if (n != (ssize_t)ph.p_filesz)
			continue;
		align = ph.p_align == 8 ? 8 : 4;
		while (off + sizeof(Elf64_Nhdr) <= (uint64_t)n) {
			Elf64_Nhdr nh;
			uint64_t name_off, desc_off;

			memcpy(&nh, notes + off, sizeof(nh));
			name_off = off + sizeof(nh);
			desc_off = name_off + ((nh.n_namesz + align - 1) & ~(align - 1));
			off = desc_off + ((nh.n_descsz + align - 1) & ~(align - 1));
			if (desc_off + nh.n_descsz > (uint64_t)n)
				break;
			if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 && !memcmp(notes + name_off, "GNU", 4) &&
			    nh.n_descsz && nh.n_descsz <= UNWIND_MAX_BUILD_ID) {
				memcpy(id, notes + desc_off, nh.n_descsz);
				return nh.n_descsz;
			}
		}
	}
	return 0;
}

/* Map and parse the file open at @fd. */
static int unwind_file_map(struct unwind_file *f, int fd, const struct stat *st)
{
	void *p = mmap(NULL, (size_t)st->st_size, PROT_READ, MAP_PRIVATE, fd, 0);

	if (p == MAP_FAILED)
		return -errno;
	f->data = p;
	f->size = (size_t)st->st_size;
	f->mapped = true;
	return unwind_file_parse(f);
}

/* Our own vDSO serves every process's: same kernel, same image. */
static struct unwind_file *unwinder_vdso(struct unwinder *u)
{
	_cleanup_(procmaps__freep) struct procmaps *self = NULL;
	const struct procmap *m;
	unsigned long base;

	if (u->vdso_tried)
		return &u->vdso;
	u->vdso_tried = true;
	u->vdso.error = -ENOENT;
	base = getauxval(AT_SYSINFO_EHDR);
	if (!base || procmaps__read(getpid(), &self) < 0)
		return &u->vdso;
	m = procmaps__find(self, base);
	if (!m || m->start != base)
		return &u->vdso;
	u->vdso.data = (const uint8_t *)base;
	u->vdso.size = m->end - m->start;
	u->vdso.error = unwind_file_parse(&u->vdso);
	if (u->vdso.error < 0)
		log_debug("unwind: cannot parse our vDSO: %s", strerror(-u->vdso.error));
	return &u->vdso;
}

static bool procmap_is_vdso(const struct procmap *m)
{
	return !strcmp(m->path, "[vdso]");
}

static uint64_t unwind_key_hash(uint32_t dev_major, uint32_t dev_minor, uint64_t inode)
{
	uint64_t h = inode * 0x9e3779b97f4a7c15ull ^ ((uint64_t)dev_major << 32 | dev_minor) * 0xc2b2ae3d27d4eb4full;

	return h ^ h >> 29;
}

/* The slot of a file's key: the one holding it, else the empty one where it would go. */
static struct unwind_key *unwinder_key_slot(struct unwinder *u, uint32_t dev_major, uint32_t dev_minor,
					    uint64_t inode)
{
	size_t mask = u->nr_keys - 1, i = unwind_key_hash(dev_major, dev_minor, inode) & mask;

	/* Never full: the table is emptied at three quarters. */
	while (u->keys[i].file && !(u->keys[i].inode == inode && u->keys[i].dev_major == dev_major &&
				    u->keys[i].dev_minor == dev_minor))
		i = (i + 1) & mask;
	return &u->keys[i];
}

static void unwinder_key_set(struct unwinder *u, uint32_t dev_major, uint32_t dev_minor, uint64_t inode,
			     uint32_t file)
{
	struct unwind_key *k;

	if ((u->keys_used + 1) * 4 > u->nr_keys * 3) {
		/* Forgotten keys come back through their file's build-id (or its own key), opened again. */
		memset(u->keys, 0, u->nr_keys * sizeof(*u->keys));
		u->keys_used = 0;
	}
	k = unwinder_key_slot(u, dev_major, dev_minor, inode);
	u->keys_used += !k->file;
	*k = (struct unwind_key){ .inode = inode, .dev_major = dev_major, .dev_minor = dev_minor, .file = file };
}

/* Forget the keys leading to files[@i] (evicted): the table is built again without them. */
static void unwinder_keys_drop(struct unwinder *u, size_t i)
{
	struct unwind_key *old = u->keys;

	u->keys = u->keys_spare;
	u->keys_spare = old;
	memset(u->keys, 0, u->nr_keys * sizeof(*u->keys));
	u->keys_used = 0;
	for (size_t k = 0; k < u->nr_keys; k++)
		if (old[k].file && old[k].file != i + 1)
			unwinder_key_set(u, old[k].dev_major, old[k].dev_minor, old[k].inode, old[k].file);
}

/* A slot for a new file: a free one, else the least recently used one not in the current walk. */
static struct unwind_file *unwinder_file_slot(struct unwinder *u)
{
	struct unwind_file *victim = NULL;

	if (u->nr_files < u->max_files)
		return &u->files[u->nr_files++];
	for (size_t i = 0; i < u->nr_files; i++) {
		struct unwind_file *f = &u->files[i];

		if (f->last_use != u->tick && (!victim || f->last_use < victim->last_use))
			victim = f;
	}
	if (!victim)
		return NULL;
	unwinder_keys_drop(u, (size_t)(victim - u->files));
	unwind_file_release(victim);
	u->stats.file_evictions++;
	return victim;
}

/*
 * The image of the file behind @m, met for the first time under its device
 * and inode: one already loaded from that file, or with its build-id and
 * size, else loaded now (or its error remembered). Returns 0 or -ENOBUFS.
 */
static int unwinder_file_resolve(struct unwind_ctx *ctx, const struct procmap *m, struct unwind_file **ret)
{
	struct unwinder *u = ctx->u;
	uint8_t id[UNWIND_MAX_BUILD_ID];
	_cleanup_close_ int fd = -1;
	struct unwind_file *f;
	size_t id_len = 0;
	struct stat st;
	int r;

	for (size_t i = 0; i < u->nr_files; i++) {
		f = &u->files[i];
		if (f->inode == m->inode && f->dev_major == m->dev_major && f->dev_minor == m->dev_minor) {
			*ret = f;
			return 0;
		}
	}
	fd = unwind_file_open(ctx->pid, m, &st);
	if (fd >= 0)
		id_len = unwind_read_build_id(fd, id);
	for (size_t i = 0; i < u->nr_files && id_len; i++) {
		f = &u->files[i];
		if (!f->error && f->build_id_len == id_len && f->file_size == (uint64_t)st.st_size &&
		    !memcmp(f->build_id, id, id_len)) {
			u->stats.file_shared++;
			*ret = f;
			return 0;
		}
	}
	f = unwinder_file_slot(u);
	if (!f)
		return -ENOBUFS;
	u->stats.file_misses++;
	r = fd < 0 ? fd : unwind_file_map(f, fd, &st);
	if (r < 0) {
		/* Keep the key and the error, drop the rest: not retried until evicted or flushed. */
		unwind_file_release(f);
		f->error = r;
		u->stats.file_failures++;
		log_debug("unwind: %s: %s", m->path, strerror(-r));
	} else {
		memcpy(f->build_id, id, id_len);
		f->build_id_len = (uint8_t)id_len;
		f->file_size = (uint64_t)st.st_size;
	}
	f->dev_major = m->dev_major;
	f->dev_minor = m->dev_minor;
	f->inode = m->inode;
	*ret = f;
	return 0;
}

/* The file behind mapping @m, loaded on first use. Returns 0, or the file's remembered -errno. */
static int unwind_ctx_file(struct unwind_ctx *ctx, const struct procmap *m, struct unwind_file **ret)
{
	struct unwinder *u = ctx->u;
	struct unwind_file *f = NULL;
	int r;

	if (m == ctx->memo_map) {
		f = ctx->memo_file;
	} else if (procmap_is_vdso(m)) {
		f = unwinder_vdso(u);
	} else if (procmap__is_file(m)) {
		struct unwind_key *k = unwinder_key_slot(u, m->dev_major, m->dev_minor, m->inode);

		if (k->file) {
			f = &u->files[k->file - 1];
			u->stats.file_hits++;
		} else {
			r = unwinder_file_resolve(ctx, m, &f);
			if (r < 0)
				return r;
			unwinder_key_set(u, m->dev_major, m->dev_minor, m->inode, (uint32_t)(f - u->files) + 1);
		}
		f->last_use = u->tick;
	} else {
		return -ENOENT;
	}
	ctx->memo_map = m;
	ctx->memo_file = f;
	if (f->error < 0)
		return f->error;
	*ret = f;
	return 0;
}

/* The load bias of the file behind @m: runtime address = link-time address + bias. */
static int unwind_file_bias(const struct unwind_file *f, const struct procmap *m, uint64_t *ret)
{
	for (size_t i = 0; i < f->nr_loads; i++) {
		const struct unwind_load *l = &f->loads[i];

		if (m->offset >= (l->offset & ~(UNWIND_PAGE_SIZE - 1)) && m->offset < l->offset + l->filesz) {
			*ret = m->start - m->offset - (l->vaddr - l->offset);
			return 0;
		}
	}
	return -ENOENT;
}

/* find_proc_info through .debug_frame, found and indexed on first need; -UNW_ENOINFO when none. */
static int unwind_search_debug_frame(unw_addr_space_t as, struct unwind_ctx *ctx, struct unwind_file *f,
				     const struct procmap *m, uint64_t bias, unw_word_t ip, unw_proc_info_t *pi,
				     int need_unwind_info)
{
	char root[64];
	int r;

	if (!f->dbg_tried && f->mapped) {
		f->dbg_tried = true;
		snprintf(root, sizeof(root), "/proc/%d/root", (int)ctx->pid);
		r = debug_frame__load(f->data, f->size, ctx->pid > 0 ? root : NULL, m->path, &f->dbg);
		if (r == 0)
			ctx->u->stats.debug_frame_files++;
		else if (r != -ENOENT)
			log_debug("unwind: %s: .debug_frame: %s", m->path, strerror(-r));
	}
	if (!f->dbg)
		return -UNW_ENOINFO;
	r = debug_frame__find_proc_info(f->dbg, as, m->start, m->end, bias, ip, pi, need_unwind_info);
	if (r == 0)
		ctx->u->stats.debug_frame_lookups++;
	return r;
}

static int unwind_ctx_refuse(struct unwind_ctx *ctx, enum unwind_stop why)
{
	ctx->refused = true;
	ctx->hint = why;
	ctx->u->stats.mem_refused++;
	return -UNW_EINVAL;
}

/*
 * Without CFI libunwind falls back on guesses (the RBP chain, "RBP 0 is the
 * outermost frame"); a walk that needed one stops instead, so what it
 * returns is what the tables say.
 */
static int unwind_ctx_no_cfi(struct unwind_ctx *ctx, enum unwind_stop why)
{
	ctx->no_cfi = true;
	ctx->no_cfi_reason = why;
	return -UNW_ENOINFO;
}

static int unwind_find_proc_info(unw_addr_space_t as, unw_word_t ip, unw_proc_info_t *pi,
				 int need_unwind_info, void *arg)
{
	struct unwind_ctx *ctx = arg;
	const struct procmap *m = procmaps__find(ctx->maps, ip);
	struct unwind_file *f;
	unw_dyn_info_t di;
	uint64_t bias;
	int r;

	if (!m || !(m->prot & PROCMAP_EXEC))
		return unwind_ctx_no_cfi(ctx, UNWIND_STOP_BAD_IP);
	if (unwind_ctx_file(ctx, m, &f) < 0 || unwind_file_bias(f, m, &bias) < 0)
		return unwind_ctx_no_cfi(ctx, UNWIND_STOP_NO_INFO);
	r = -UNW_ENOINFO;
	if (f->has_table) {
		memset(&di, 0, sizeof(di));
		di.start_ip = m->start;
		di.end_ip = m->end;
		di.format = UNW_INFO_FORMAT_REMOTE_TABLE;
		di.u.rti.name_ptr = 0;
		di.u.rti.segbase = f->hdr_vaddr + bias;
		di.u.rti.table_data = f->table_vaddr + bias;
		di.u.rti.table_len = f->fde_count * 8 / sizeof(unw_word_t);
		r = UNW_OBJ(dwarf_search_unwind_table)(as, ip, &di, pi, need_unwind_info, arg);
	}
	if (r == -UNW_ENOINFO)
		r = unwind_search_debug_frame(as, ctx, f, m, bias, ip, pi, need_unwind_info);
	if (r == -UNW_ENOINFO)
		return unwind_ctx_no_cfi(ctx, UNWIND_STOP_NO_INFO);
	return r;
}

/* libunwind frees the unwind info it builds from tables itself; only dynamic info comes here. */
static void unwind_put_unwind_info(unw_addr_space_t as, unw_proc_info_t *pi, void *arg)
{
}

static int unwind_get_dyn_info_list_addr(unw_addr_space_t as, unw_word_t *dilap, void *arg)
{
	return -UNW_ENOINFO;
}

static int unwind_access_mem(unw_addr_space_t as, unw_word_t addr, unw_word_t *valp, int write,
			     void *arg)
{
	struct unwind_ctx *ctx = arg;
	const struct unwind_snapshot *s = ctx->snap;
	const struct procmap *m;
	struct unwind_file *f;
	uint64_t off;

	if (write)
		return -UNW_EREADONLYREG;
	if (addr >= s->regs.sp && addr - s->regs.sp < s->stack_len) {
		off = addr - s->regs.sp;
		if (s->stack_len - off < sizeof(*valp))
			return unwind_ctx_refuse(ctx, UNWIND_STOP_STACK_END);
		memcpy(valp, s->stack + off, sizeof(*valp));
		ctx->u->stats.mem_stack++;
		return 0;
	}
	m = ctx->memo_map && addr >= ctx->memo_map->start && addr < ctx->memo_map->end ?
		    ctx->memo_map : procmaps__find(ctx->maps, addr);
	if (!m)
		return unwind_ctx_refuse(ctx, UNWIND_STOP_BAD_MEMORY);
	if (m == ctx->stack_map)
		return unwind_ctx_refuse(ctx, addr > s->regs.sp ? UNWIND_STOP_STACK_END :
								  UNWIND_STOP_BAD_MEMORY);
	if (unwind_ctx_file(ctx, m, &f) < 0)
		return unwind_ctx_refuse(ctx, UNWIND_STOP_BAD_MEMORY);
	off = m->offset + (addr - m->start);
	if (off < m->offset || off > f->size || f->size - off < sizeof(*valp))
		return unwind_ctx_refuse(ctx, UNWIND_STOP_BAD_MEMORY);
	memcpy(valp, f->data + off, sizeof(*valp));
	ctx->u->stats.mem_file++;
	return 0;
}

static int unwind_access_reg(unw_addr_space_t as, unw_regnum_t reg, unw_word_t *valp, int write,
			     void *arg)
{
	const struct unwind_regs *r = &((struct unwind_ctx *)arg)->snap->regs;

	if (write)
		return -UNW_EREADONLYREG;
	switch (reg) {
	case UNW_X86_64_RIP:
		*valp = r->ip;
		return 0;
	case UNW_X86_64_RSP:
		*valp = r->sp;
		return 0;
	case UNW_X86_64_RBP:
		*valp = r->bp;
		return 0;
	case UNW_X86_64_RBX:
		*valp = r->bx;
		return 0;
	case UNW_X86_64_R12:
		*valp = r->r12;
		return 0;
	case UNW_X86_64_R13:
		*valp = r->r13;
		return 0;
	case UNW_X86_64_R14:
		*valp = r->r14;
		return 0;
	case UNW_X86_64_R15:
		*valp = r->r15;
		return 0;
	default:
		/* Caller-saved registers: no CFI rule at a call site depends on them. */
		return -UNW_EBADREG;
	}
}

static int unwind_access_fpreg(unw_addr_space_t as, unw_regnum_t reg, unw_fpreg_t *val, int write,
			       void *arg)
{
	return -UNW_EBADREG;
}

static int unwind_resume(unw_addr_space_t as, unw_cursor_t *c, void *arg)
{
	return -UNW_EINVAL;
}

static int unwind_get_proc_name(unw_addr_space_t as, unw_word_t addr, char *buf, size_t len,
				unw_word_t *offp, void *arg)
{
	return -UNW_ENOINFO;
}

int unwinder__new(size_t max_files, struct unwinder **ret)
{
	struct unwinder *u;

	if (!max_files)
		max_files = UNWIND_DEFAULT_FILES;
	if (max_files < UNWIND_MIN_FILES)
		max_files = UNWIND_MIN_FILES;
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->max_files = max_files;
	for (u->nr_keys = 16; u->nr_keys < 4 * max_files; u->nr_keys *= 2)
		;
	u->files = calloc(max_files, sizeof(*u->files));
	u->keys = calloc(u->nr_keys, sizeof(*u->keys));
	u->keys_spare = calloc(u->nr_keys, sizeof(*u->keys));
	if (!u->files || !u->keys || !u->keys_spare) {
		unwinder__free(u);
		return -ENOMEM;
	}
	u->accessors = (unw_accessors_t){
		.find_proc_info = unwind_find_proc_info,
		.put_unwind_info = unwind_put_unwind_info,
		.get_dyn_info_list_addr = unwind_get_dyn_info_list_addr,
		.access_mem = unwind_access_mem,
		.access_reg = unwind_access_reg,
		.access_fpreg = unwind_access_fpreg,
		.resume = unwind_resume,
		.get_proc_name = unwind_get_proc_name,
	};
	*ret = u;
	return 0;
}

static void unwinder_drop_process(struct unwinder *u, size_t i)
{
	unw_destroy_addr_space(u->procs[i].as);
	u->procs[i] = u->procs[--u->nr_procs];
	/*
	 * An address space's caches are large: give the freed memory back, or
	 * churn keeps it; but once a second at most, as a trim costs a TLB
	 * flush on every CPU and churn drops spaces by the hundred.
	 */
	u->trim_pending = true;
	unwinder__trim(u);
}

void unwinder__trim(struct unwinder *u)
{
	uint64_t now;

	if (!u || !u->trim_pending)
		return;
	now = time_now_ns();
	if (now - u->trimmed_ns < 1000000000ull)
		return;
	malloc_trim(0);
	u->trimmed_ns = now;
	u->trim_pending = false;
}

void unwinder__flush(struct unwinder *u)
{
	if (!u)
		return;
	while (u->nr_procs)
		unwinder_drop_process(u, u->nr_procs - 1);
	for (size_t i = 0; i < u->nr_files; i++)
		unwind_file_release(&u->files[i]);
	u->nr_files = 0;
	if (u->keys)
		memset(u->keys, 0, u->nr_keys * sizeof(*u->keys));
	u->keys_used = 0;
}

struct unwinder *unwinder__free(struct unwinder *u)
{
	if (!u)
		return NULL;
	unwinder__flush(u);
	free(u->files);
	free(u->keys);
	free(u->keys_spare);
	free(u);
	return NULL;
}

void unwinder__forget_process(struct unwinder *u, pid_t pid)
{
	if (!u)
		return;
	for (size_t i = 0; i < u->nr_procs; i++) {
		if (u->procs[i].pid == pid) {
			unwinder_drop_process(u, i);
			return;
		}
	}
}

/*
 * One libunwind address space per process: its CFI cache is keyed by ip
 * alone, and two processes map different code at the same addresses.
 */
static unw_addr_space_t unwinder_process_as(struct unwinder *u, pid_t pid)
{
	struct unwind_process *p = NULL;
	unw_addr_space_t as;

	for (size_t i = 0; i < u->nr_procs; i++) {
		if (u->procs[i].pid == pid) {
			u->procs[i].last_use = u->tick;
			return u->procs[i].as;
		}
	}
	as = unw_create_addr_space(&u->accessors, 0);
	if (!as)
		return NULL;
	/* Not UNW_CACHE_PER_THREAD: that one cache is shared by every address space. */
	unw_set_caching_policy(as, UNW_CACHE_GLOBAL);
	if (u->nr_procs == UNWIND_MAX_PROCESSES) {
		size_t victim = 0;

		for (size_t i = 1; i < u->nr_procs; i++)
			if (u->procs[i].last_use < u->procs[victim].last_use)
				victim = i;
		unwinder_drop_process(u, victim);
		u->stats.process_evictions++;
	}
	p = &u->procs[u->nr_procs++];
	*p = (struct unwind_process){ .pid = pid, .as = as, .last_use = u->tick };
	return as;
}

/* Why unw_step() failed: the last refused read or lookup says it best. */
static enum unwind_stop unwind_ctx_failure(const struct unwind_ctx *ctx, int r)
{
	if (ctx->refused)
		return ctx->hint;
	return r == -UNW_ENOINFO ? UNWIND_STOP_NO_INFO : UNWIND_STOP_ERROR;
}

/* The word at @addr of the stack copy; false when it is not all in the copy. */
static bool unwind_copy_word(const struct unwind_snapshot *s, uint64_t addr, uint64_t *ret)
{
	if (addr < s->regs.sp || addr - s->regs.sp > s->stack_len || s->stack_len - (addr - s->regs.sp) < 8)
		return false;
	memcpy(ret, s->stack + (addr - s->regs.sp), sizeof(*ret));
	return true;
}

/* The CFI row for @ip in mapping @m, the rows made on first need. Returns 0 or -EAGAIN (libunwind's walk). */
static int unwind_row(struct unwind_ctx *ctx, const struct procmap *m, uint64_t ip, struct cfi_row *row)
{
	struct unwind_file *f;
	uint64_t bias;

	if (unwind_ctx_file(ctx, m, &f) < 0 || !f->has_table || unwind_file_bias(f, m, &bias) < 0)
		return -EAGAIN;
	if (!f->rows_tried) {
		f->rows_tried = true;
		if (cfi_rows__new(f->data, f->size, &f->rows) < 0)
			f->rows = NULL;
	}
	if (!f->rows || cfi_rows__find(f->rows, ip - bias, row) < 0 || row->kind == CFI_ROW_OTHER)
		return -EAGAIN;
	return 0;
}

/*
 * The walk libunwind would make, step for step and stop for stop, when
 * every frame's row is of the forms cfirows.h keeps and every word it needs
 * is in the copy: a lookup and a few reads per frame. Past the first frame
 * the row is the one of ip - 1 (inside the call), as libunwind looks it up.
 * RBP is read from where it was saved only when a CFA needs it, as
 * libunwind's locations are. Returns 0 with the walk done, or -EAGAIN when
 * a frame needs libunwind: the whole walk is then left to it.
 */
static int unwind_by_rows(struct unwind_ctx *ctx, uint64_t *ips, size_t max, size_t *ret_n,
			  enum unwind_stop *ret_stop)
{
	const struct unwind_snapshot *s = ctx->snap;
	uint64_t ip = s->regs.ip, sp = s->regs.sp, bp = s->regs.bp, bp_at = 0;
	size_t n = 0;

	for (;;) {
		const struct procmap *m = procmaps__find(ctx->maps, ip);
		uint64_t cfa, next_ip;
		struct cfi_row row;

		if (!m || !(m->prot & PROCMAP_EXEC)) {
			*ret_stop = UNWIND_STOP_BAD_IP;
			break;
		}
		if (n == max) {
			*ret_stop = UNWIND_STOP_DEPTH;
			break;
		}
		ips[n++] = ip;
		if (!procmap__is_file(m) && !procmap_is_vdso(m)) {
			*ret_stop = UNWIND_STOP_NO_INFO;
			break;
		}
		if (unwind_row(ctx, m, ip - (n > 1), &row) < 0)
			return -EAGAIN;
		if (row.cfa_reg == CFI_REG_RBP) {
			if (bp_at && !unwind_copy_word(s, bp_at, &bp))
				return -EAGAIN;
			bp_at = 0;
		}
		cfa = (row.cfa_reg == CFI_REG_RBP ? bp : sp) + (uint64_t)(int64_t)row.cfa_off;
		if (row.kind == CFI_ROW_END) {
			/* libunwind: ip 0, the step returns 0, SP the CFA. */
			*ret_stop = cfa < sp ? UNWIND_STOP_LOOP : UNWIND_STOP_END;
			break;
		}
		if (!unwind_copy_word(s, cfa + (uint64_t)(int64_t)row.ra_off, &next_ip))
			return -EAGAIN;
		if (row.bp_saved)
			bp_at = cfa + (uint64_t)(int64_t)row.bp_off;
		if (next_ip == ip && cfa == sp) {
			*ret_stop = UNWIND_STOP_ERROR; /* libunwind's -UNW_EBADFRAME */
			break;
		}
		if (cfa <= sp) {
			*ret_stop = UNWIND_STOP_LOOP;
			break;
		}
		if (next_ip == 0) {
			*ret_stop = UNWIND_STOP_END;
			break;
		}
		ip = next_ip;
		sp = cfa;
	}
	*ret_n = n;
	return 0;
}

int unwinder__unwind(struct unwinder *u, pid_t pid, const struct procmaps *maps,
		     const struct unwind_snapshot *snap, uint64_t *ips, size_t max,
		     size_t *ret_n, enum unwind_stop *ret_stop)
{
	struct unwind_ctx *ctx;
	enum unwind_stop stop;
	unw_cursor_t cursor;
	unw_addr_space_t as;
	uint64_t ip, sp;
	size_t n = 0;
	int r;

	if (!u || !maps || !snap || (!snap->stack && snap->stack_len) || (!ips && max) || !ret_n ||
	    !ret_stop)
		return -EINVAL;
	if (max > UNWIND_MAX_DEPTH)
		max = UNWIND_MAX_DEPTH;
	u->tick++;
	ctx = &u->ctx;
	*ctx = (struct unwind_ctx){
		.u = u,
		.pid = pid,
		.maps = maps,
		.snap = snap,
		.stack_map = procmaps__find(maps, snap->regs.sp),
	};
	if (!u->rows_off && unwind_by_rows(ctx, ips, max, &n, &stop) == 0) {
		u->stats.by_rows++;
		goto out;
	}
	u->stats.by_libunwind++;
	n = 0;
	as = unwinder_process_as(u, pid);
	if (!as)
		return -ENOMEM;

	ip = snap->regs.ip;
	sp = snap->regs.sp;
	r = unw_init_remote(&cursor, as, ctx);
	if (r < 0) {
		stop = UNWIND_STOP_ERROR;
		goto out;
	}
	for (;;) {
		const struct procmap *m = procmaps__find(maps, ip);
		unw_word_t next_ip, next_sp;

		if (!m || !(m->prot & PROCMAP_EXEC)) {
			stop = UNWIND_STOP_BAD_IP;
			break;
		}
		if (n == max) {
			stop = UNWIND_STOP_DEPTH;
			break;
		}
		ips[n++] = ip;
		/* libunwind would guess through frame pointers here; JIT frames are another unwinder's job. */
		if (!procmap__is_file(m) && !procmap_is_vdso(m)) {
			stop = UNWIND_STOP_NO_INFO;
			break;
		}
		ctx->refused = false;
		ctx->no_cfi = false;
		r = unw_step(&cursor);
		if (ctx->no_cfi) {
			stop = ctx->no_cfi_reason;
			break;
		}
		if (r < 0) {
			stop = unwind_ctx_failure(ctx, r);
			break;
		}
		if (unw_get_reg(&cursor, UNW_REG_IP, &next_ip) < 0 ||
		    unw_get_reg(&cursor, UNW_REG_SP, &next_sp) < 0) {
			stop = UNWIND_STOP_ERROR;
			break;
		}
		/*
		 * Every real frame, signal frames included, sits above the one it
		 * called. An end whose CFA wrapped around is no end either: libunwind
		 * takes a return address saved at address 0 for an undefined one.
		 */
		if (next_sp < sp || (r > 0 && next_sp == sp)) {
			stop = UNWIND_STOP_LOOP;
			break;
		}
		if (r == 0 || next_ip == 0) {
			stop = UNWIND_STOP_END;
			break;
		}
		ip = next_ip;
		sp = next_sp;
	}
out:
	u->stats.unwinds++;
	u->stats.frames += n;
	u->stats.stops[stop]++;
	*ret_n = n;
	*ret_stop = stop;
	return 0;
}

void unwinder__use_rows(struct unwinder *u, bool on)
{
	if (u)
		u->rows_off = !on;
}

void unwinder__stats(const struct unwinder *u, struct unwind_stats *ret)
{
	*ret = u->stats;
	ret->files = 0;
	for (size_t i = 0; i < u->nr_files; i++)
		if (u->files[i].data)
			ret->files++;
	ret->processes = u->nr_procs;
}
