// SPDX-License-Identifier: MIT
/*
 * The ELF images an unwinder reads CFI and words from: each file a process
 * maps, mapped here read-only, its PT_LOADs and .eh_frame_hdr table found,
 * cached by build-id and size (else by device and inode) up to max_files,
 * least recently used evicted; our own vDSO stands in for every process's.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfirows.h"
#include "cleanup.h"
#include "debugframe.h"
#include "log.h"
#include "unwind-internal.h"

#define UNWIND_PAGE_SIZE 4096ull

/* DWARF pointer encodings used by .eh_frame_hdr (LSB 5.0, "DWARF Extensions"). */
#define DW_EH_PE_OMIT 0xff
#define DW_EH_PE_FORMAT_MASK 0x0f
#define DW_EH_PE_APPL_MASK 0x70
#define DW_EH_PE_DATAREL_SDATA4 0x3b

#define UNWIND_MAX_NOTES 4096 /* bytes of PT_NOTE segments read looking for the build-id */

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

void unwind_file_release(struct unwind_file *f)
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
int unwind_ctx_file(struct unwind_ctx *ctx, const struct procmap *m, struct unwind_file **ret)
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
int unwind_file_bias(const struct unwind_file *f, const struct procmap *m, uint64_t *ret)
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
