// SPDX-License-Identifier: MIT
#include "debugframe.h"

#include <elf.h>
#include <errno.h>
#include <gelf.h>
#include <libelf.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "cleanup.h"
#include "debugfile.h"

#define DEBUG_FRAME_PAD 16 /* zero bytes after the copy: no read runs off its end */

/* Exported by libunwind but absent from its headers (as in unwind.c). */
extern int UNW_OBJ(dwarf_search_unwind_table)(unw_addr_space_t as, unw_word_t ip, unw_dyn_info_t *di,
					      unw_proc_info_t *pi, int need_unwind_info, void *arg);

/* libunwind's struct table_entry: an FDE's first address and its offset in .debug_frame. */
struct debug_frame_entry {
	int32_t start_ip_offset;
	int32_t fde_offset;
};

/*
 * libunwind 1.6 to 1.8's struct unw_debug_frame_list (include/dwarf.h, not
 * installed), which UNW_INFO_FORMAT_TABLE points at: meson.build checks the
 * version. libunwind reads the index and the CFI it points to from local
 * memory, so .debug_frame stays a buffer of ours.
 */
struct debug_frame_list {
	unw_word_t start, end, load_offset;
	char *debug_frame;
	size_t debug_frame_size;
	struct debug_frame_entry *index;
	size_t index_size; /* bytes */
	struct debug_frame_list *next;
};

struct debug_frame {
	uint8_t *data; /* the section's bytes, inflated, DEBUG_FRAME_PAD zeroes past the end */
	size_t size;
	struct debug_frame_entry *index; /* FDEs by first (link-time) address */
	size_t count;
};

static uint64_t read_le(const uint8_t *p, int size)
{
	uint64_t v = 0;

	for (int i = size - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void elf_endp(Elf **e)
{
	if (*e)
		elf_end(*e);
}

/* Copy @elf's .debug_frame, inflating a compressed one. Returns 1, 0 when it has none usable, or -errno. */
static int debug_frame_copy(Elf *elf, uint8_t **ret, size_t *ret_size)
{
	Elf_Scn *scn = debugfile_section(elf, SHT_PROGBITS, ".debug_frame");
	const uint8_t *src;
	size_t size, src_size;
	GElf_Shdr sh;
	Elf_Data *d;
	uint8_t *p;

	if (!scn || !gelf_getshdr(scn, &sh))
		return 0;
	d = elf_rawdata(scn, NULL);
	if (!d || !d->d_buf)
		return 0;
	src = d->d_buf;
	src_size = d->d_size;
	size = src_size;
	if (sh.sh_flags & SHF_COMPRESSED) {
		Elf64_Chdr ch;

		if (src_size < sizeof(ch))
			return 0;
		memcpy(&ch, src, sizeof(ch));
		if (ch.ch_type != ELFCOMPRESS_ZLIB || ch.ch_size > DEBUG_FRAME_MAX_SIZE)
			return 0;
		size = ch.ch_size;
	}
	if (size < 8 || size > DEBUG_FRAME_MAX_SIZE)
		return 0;
	p = malloc(size + DEBUG_FRAME_PAD);
	if (!p)
		return -ENOMEM;
	if (sh.sh_flags & SHF_COMPRESSED) {
		uLongf out = size;

		if (uncompress(p, &out, src + sizeof(Elf64_Chdr), src_size - sizeof(Elf64_Chdr)) != Z_OK ||
		    out != size) {
			free(p);
			return 0;
		}
	} else {
		memcpy(p, src, size);
	}
	memset(p + size, 0, DEBUG_FRAME_PAD);
	*ret = p;
	*ret_size = size;
	return 1;
}

struct debug_frame_search {
	const char *build_id;
	uint8_t *data;
	size_t size;
};

/* debugfile_fn: take a separate debug file's .debug_frame, if it is this build's. */
static int debug_frame_use(int fd, void *arg)
{
	struct debug_frame_search *s = arg;
	_cleanup_(elf_endp) Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	char id[2 * DEBUGFILE_MAX_BUILD_ID + 1];

	if (!elf || elf_kind(elf) != ELF_K_ELF)
		return 0;
	if (s->build_id[0] && debugfile_build_id(elf, id) && strcmp(id, s->build_id))
		return 0;
	return debug_frame_copy(elf, &s->data, &s->size);
}

/* Bytes of the LEB128 number at @p, 0 when it runs past @end. */
static size_t leb128_len(const uint8_t *p, const uint8_t *end)
{
	for (size_t i = 0; p + i < end; i++)
		if (!(p[i] & 0x80))
			return i + 1;
	return 0;
}

/*
 * Whether libunwind may run the CFA program [@p, @end): known instructions
 * whose operands lie inside it, and no DWARF expression, which libunwind
 * would evaluate against the target's address space, where this buffer is
 * not. GCC and clang write expressions here only for stack realignment.
 */
static bool debug_frame_program_ok(const uint8_t *p, const uint8_t *end)
{
	while (p < end) {
		uint8_t op = *p++;
		size_t fixed = 0, lebs = 0, n;

		switch (op >> 6) {
		case 1: /* advance_loc */
		case 3: /* restore */
			continue;
		case 2: /* offset */
			lebs = 1;
			break;
		default:
			switch (op) {
			case 0x00: /* nop */
			case 0x0a: /* remember_state */
			case 0x0b: /* restore_state */
			case 0x2d: /* GNU_window_save */
				break;
			case 0x01: /* set_loc, an 8-byte address */
				fixed = 8;
				break;
			case 0x02: /* advance_loc1, 2, 4 */
			case 0x03:
			case 0x04:
				fixed = op == 0x02 ? 1 : op == 0x03 ? 2 : 4;
				break;
			case 0x06: /* restore_extended */
			case 0x07: /* undefined */
			case 0x08: /* same_value */
			case 0x0d: /* def_cfa_register */
			case 0x0e: /* def_cfa_offset */
			case 0x13: /* def_cfa_offset_sf */
			case 0x2e: /* GNU_args_size */
				lebs = 1;
				break;
			case 0x05: /* offset_extended */
			case 0x09: /* register */
			case 0x0c: /* def_cfa */
			case 0x11: /* offset_extended_sf */
			case 0x12: /* def_cfa_sf */
			case 0x14: /* val_offset */
			case 0x15: /* val_offset_sf */
			case 0x2f: /* GNU_negative_offset_extended */
				lebs = 2;
				break;
			default: /* expressions (0x0f, 0x10, 0x16) and the unknown */
				return false;
			}
		}
		if ((size_t)(end - p) < fixed)
			return false;
		p += fixed;
		for (size_t i = 0; i < lebs; i++) {
			n = leb128_len(p, end);
			if (!n)
				return false;
			p += n;
		}
	}
	return true;
}

/*
 * The address size of the .debug_frame CIE at @off, or 0 for one whose FDEs
 * cannot be indexed here: not a CIE inside the section, an augmentation
 * (compilers write none in .debug_frame), addresses other than 8 bytes, or
 * initial instructions debug_frame_program_ok() refuses.
 */
static unsigned int debug_frame_cie(const uint8_t *p, size_t size, uint64_t off)
{
	uint64_t len, id, q, end;
	size_t hdr = 4, idsz = 4, n;
	uint8_t version;

	if (size < 4 || off > size - 4)
		return 0;
	len = read_le(p + off, 4);
	if (len == 0xffffffffu) {
		if (off > size - 12)
			return 0;
		len = read_le(p + off + 4, 8);
		hdr = idsz = 8;
		hdr += 4;
	}
	if (len < idsz + 2 || len > size - off - hdr)
		return 0;
	id = read_le(p + off + hdr, (int)idsz);
	if (id != (idsz == 4 ? 0xffffffffull : UINT64_MAX))
		return 0;
	q = off + hdr + idsz;
	end = off + hdr + len;
	version = p[q++];
	if ((version != 1 && version != 3 && version != 4) || p[q++] != 0)
		return 0;
	if (version == 4) {
		if (end - q < 2 || p[q] != 8 || p[q + 1] != 0)
			return 0;
		q += 2;
	}
	/* code alignment, data alignment, then the return address column (a byte in version 1) */
	for (int i = 0; i < 2; i++) {
		n = leb128_len(p + q, p + end);
		if (!n)
			return 0;
		q += n;
	}
	n = version == 1 ? (q < end) : leb128_len(p + q, p + end);
	if (!n)
		return 0;
	q += n;
	return debug_frame_program_ok(p + q, p + end) ? 8 : 0;
}

static int debug_frame_entry_cmp(const void *a, const void *b)
{
	const struct debug_frame_entry *x = a, *y = b;

	if (x->start_ip_offset != y->start_ip_offset)
		return x->start_ip_offset < y->start_ip_offset ? -1 : 1;
	return x->fde_offset < y->fde_offset ? -1 : x->fde_offset > y->fde_offset;
}

/* Index the FDEs of d->data by first address, as libunwind's binary search wants them. */
static int debug_frame_index(struct debug_frame *d)
{
	const uint8_t *p = d->data;
	size_t size = d->size, n = 0, cap = 0, out = 0;
	uint64_t off, end, last_cie = UINT64_MAX;
	unsigned int addr_size = 0;
	struct debug_frame_entry *idx = NULL;

	for (off = 0; size - off >= 4; off = end) {
		uint64_t len = read_le(p + off, 4), id, pc, range;
		size_t hdr = 4, idsz = 4;

		if (len == 0xffffffffu) {
			if (size - off < 12)
				break;
			len = read_le(p + off + 4, 8);
			hdr = 12;
			idsz = 8;
		}
		if (len > size - off - hdr)
			break;
		end = off + hdr + len;
		if (len < idsz + 16)
			continue; /* a CIE, padding or a terminator */
		id = read_le(p + off + hdr, (int)idsz);
		if (id == (idsz == 4 ? 0xffffffffull : UINT64_MAX))
			continue;
		if (id != last_cie) {
			last_cie = id;
			addr_size = debug_frame_cie(p, size, id);
		}
		if (addr_size != 8)
			continue;
		pc = read_le(p + off + hdr + idsz, 8);
		range = read_le(p + off + hdr + idsz + 8, 8);
		/* pc 0: code the linker discarded. libunwind's index holds 31-bit offsets. */
		if (!pc || !range || pc > INT32_MAX || off > INT32_MAX ||
		    !debug_frame_program_ok(p + off + hdr + idsz + 16, p + end))
			continue;
		if (n == cap) {
			size_t c = cap ? cap * 2 : 256;
			void *q;

			if (c > DEBUG_FRAME_MAX_FDES)
				break;
			q = realloc(idx, c * sizeof(*idx));
			if (!q) {
				free(idx);
				return -ENOMEM;
			}
			idx = q;
			cap = c;
		}
		idx[n++] = (struct debug_frame_entry){ .start_ip_offset = (int32_t)pc, .fde_offset = (int32_t)off };
	}
	if (!n) {
		free(idx);
		return -ENOENT;
	}
	qsort(idx, n, sizeof(*idx), debug_frame_entry_cmp);
	for (size_t i = 0; i < n; i++)
		if (!out || idx[out - 1].start_ip_offset != idx[i].start_ip_offset)
			idx[out++] = idx[i];
	d->index = idx;
	d->count = out;
	return 0;
}

struct debug_frame *debug_frame__free(struct debug_frame *d)
{
	if (!d)
		return NULL;
	free(d->data);
	free(d->index);
	free(d);
	return NULL;
}

static void debug_frame__freep(struct debug_frame **d)
{
	debug_frame__free(*d);
}

int debug_frame__load(const void *image, size_t size, const char *root, const char *path,
		      struct debug_frame **ret)
{
	_cleanup_(debug_frame__freep) struct debug_frame *d = NULL;
	struct debug_frame_search s = { 0 };
	_cleanup_(elf_endp) Elf *elf = NULL;
	char id[2 * DEBUGFILE_MAX_BUILD_ID + 1];
	int r;

#ifndef HEARTH_UNWIND_DEBUG_FRAME
	return -ENOENT;
#endif
	if (debugfile_init_libelf() < 0)
		return -ENOENT;
	/* libelf reads the image in place, never writing to it (ELF_C_READ_MMAP semantics). */
	elf = elf_memory((char *)image, size);
	if (!elf || elf_kind(elf) != ELF_K_ELF)
		return -ENOENT;
	r = debug_frame_copy(elf, &s.data, &s.size);
	if (r == 0) {
		debugfile_build_id(elf, id);
		s.build_id = id;
		r = debugfile_find(elf, id, root, path, debug_frame_use, &s);
	}
	if (r <= 0)
		return r < 0 ? r : -ENOENT;
	d = calloc(1, sizeof(*d));
	if (!d) {
		free(s.data);
		return -ENOMEM;
	}
	d->data = s.data;
	d->size = s.size;
	r = debug_frame_index(d);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(d);
	return 0;
}

int debug_frame__find_proc_info(const struct debug_frame *d, unw_addr_space_t as, uint64_t start,
				uint64_t end, uint64_t bias, unw_word_t ip, unw_proc_info_t *pi,
				int need_unwind_info)
{
	struct debug_frame_list list = {
		.start = start,
		.end = end,
		.debug_frame = (char *)d->data,
		.debug_frame_size = d->size,
		.index = d->index,
		.index_size = d->count * sizeof(*d->index),
	};
	unw_dyn_info_t di;

	memset(&di, 0, sizeof(di));
	di.start_ip = start;
	di.end_ip = end;
	di.format = UNW_INFO_FORMAT_TABLE;
	di.u.ti.segbase = bias; /* .debug_frame addresses are link-time ones */
	di.u.ti.table_data = (unw_word_t *)&list;
	di.u.ti.table_len = sizeof(list) / sizeof(unw_word_t);
	/* libunwind reads this format from its local address space: no accessor of ours runs. */
	return UNW_OBJ(dwarf_search_unwind_table)(as, ip, &di, pi, need_unwind_info, NULL);
}

size_t debug_frame__memory(const struct debug_frame *d)
{
	return d ? sizeof(*d) + d->size + DEBUG_FRAME_PAD + d->count * sizeof(*d->index) : 0;
}
