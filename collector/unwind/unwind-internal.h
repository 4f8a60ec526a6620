/* SPDX-License-Identifier: MIT */
/*
 * What the unwinder's files share: the unwinder's state, the ELF images it
 * caches (unwind-files.c) and the walk's context that libunwind's callbacks
 * (unwind-access.c) reach through their arg. Not for use outside unwind/.
 */
#ifndef HEARTH_UNWIND_INTERNAL_H
#define HEARTH_UNWIND_INTERNAL_H

#include <libunwind.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "procmaps.h"
#include "unwind.h"

struct cfi_rows;
struct debug_frame;

#define UNWIND_MAX_LOADS 32
#define UNWIND_MAX_BUILD_ID 64

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

/* Whether @m is the vDSO: no file behind it, our own image stands in for it. */
static inline bool procmap_is_vdso(const struct procmap *m)
{
	return !strcmp(m->path, "[vdso]");
}

/* Unmap @f and free its tables; the slot is left empty (all zero). */
void unwind_file_release(struct unwind_file *f);

/* The file behind mapping @m, loaded on first use. Returns 0, or the file's remembered -errno. */
int unwind_ctx_file(struct unwind_ctx *ctx, const struct procmap *m, struct unwind_file **ret);

/* The load bias of the file behind @m: runtime address = link-time address + bias. Returns 0 or -ENOENT. */
int unwind_file_bias(const struct unwind_file *f, const struct procmap *m, uint64_t *ret);

/* The callbacks through which libunwind sees a walk: the copied stack, the mapped files, their CFI. */
extern const unw_accessors_t unwind_accessors;

#endif
