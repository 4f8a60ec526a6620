/* SPDX-License-Identifier: MIT */
/*
 * The one place that knows how a sample record from the BPF program is laid
 * out (collector/bpf/sampler.h): a record is checked once, and its parts are
 * handed on as pointers and counts that stay inside it. A record that does
 * not add up is refused, never read past.
 */
#ifndef HEARTH_SAMPLEVIEW_H
#define HEARTH_SAMPLEVIEW_H

#include <linux/types.h>
#include <stddef.h>
#include <stdint.h>

#include "bpf/sampler.h"

struct sample_view {
	const struct hearth_sample *s;
	const __u64 *kips;                 /* kernel addresses, innermost first */
	size_t nk;
	const struct hearth_pyframe *py;   /* Python frames, innermost first */
	size_t np;
	const __u64 *uips;                 /* user addresses (frame-pointer walk), innermost first */
	size_t nu;
	const struct hearth_uregs *uregs;  /* with HEARTH_SAMPLE_UREGS: the registers, else NULL */
	const uint8_t *stack;              /* ...and the stack copy after them */
	size_t stack_len;
};

/*
 * The type of the ring-buffer record of @size bytes at @data (enum
 * hearth_event_type) into *@ret_type. Returns 0, or -EBADMSG when it is too
 * short for its header or its header claims more bytes than there are.
 */
int record_view_type(const void *data, size_t size, uint32_t *ret_type);

/*
 * Check the HEARTH_EVENT_SAMPLE record of @size bytes at @data and fill
 * *@ret with its parts, which point into @data (valid as long as it is).
 * Returns 0 or -EBADMSG: a part's size that is not a whole number of its
 * items or more than the ABI allows, parts that do not fit in the record.
 * *@ret is untouched on failure.
 */
int sample_view_parse(const void *data, size_t size, struct sample_view *ret);

/*
 * The HEARTH_EVENT_FORK, _EXEC or _EXIT record of @size bytes at @data into
 * *@ret. Returns 0 or -EBADMSG (too short).
 */
int task_event_parse(const void *data, size_t size, const struct hearth_task_event **ret);

#endif
