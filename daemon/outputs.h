/* SPDX-License-Identifier: MIT */
/*
 * Profiles out of hearthd's ring for the rest of the world: a window of the
 * ring as a gzip pprof in memory (for the HTTP endpoint and the files), and
 * one such file per interval in a directory, the oldest removed past a
 * retention time (--output-dir, --every, --keep).
 */
#ifndef HEARTH_OUTPUTS_H
#define HEARTH_OUTPUTS_H

#include <stddef.h>
#include <stdint.h>

#include "ring.h"

/*
 * Read what @q selects of ring @r and encode it as gzip pprof: a malloc'ed
 * buffer in *@ret_buf, *@ret_len bytes, and the samples it holds in
 * *@ret_samples (may be NULL). @target describes it. Returns 0 or -errno.
 */
int window_pprof(struct ring_reader *r, const struct ring_query *q, const char *target, char **ret_buf,
		 size_t *ret_len, uint64_t *ret_samples);

struct periodic;

/*
 * Write a profile per @every_ns into @dir (created, mode 0750, if missing),
 * keeping files for @keep_ns (0: forever). The first interval starts at
 * @start_ns (CLOCK_REALTIME). Returns 0, -ENOTDIR, -EACCES or -errno.
 */
int periodic__new(const char *dir, uint64_t every_ns, uint64_t keep_ns, uint64_t start_ns, struct periodic **ret);
struct periodic *periodic__free(struct periodic *p);
static inline void periodic__freep(struct periodic **p)
{
	periodic__free(*p);
}

/*
 * The ring holds slots up to @now_ns: write the interval that ended, if one
 * did (@final: write the part of the interval so far too, when it has
 * samples), then remove files older than the retention. A folder removed
 * meanwhile is made again. Returns the number
 * of files written (0 or 1) or -errno; *@ret_path names the file.
 */
int periodic__tick(struct periodic *p, struct ring_reader *r, uint64_t now_ns, bool final, char *ret_path,
		   size_t path_size);

#endif
