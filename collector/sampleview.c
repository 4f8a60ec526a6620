// SPDX-License-Identifier: MIT
#include "sampleview.h"

#include <errno.h>

int record_view_type(const void *data, size_t size, uint32_t *ret_type)
{
	const struct hearth_event_header *h = data;

	if (size < sizeof(*h) || h->size > size || h->size < sizeof(*h))
		return -EBADMSG;
	*ret_type = h->type;
	return 0;
}

int sample_view_parse(const void *data, size_t size, struct sample_view *ret)
{
	const struct hearth_sample *s = data;
	const uint8_t *base = data;
	size_t parts, end;

	if (size < sizeof(*s) || s->hdr.size < sizeof(*s) || s->hdr.size > size)
		return -EBADMSG;
	/* The record ends where its header says, whatever the ring buffer's slot holds after it. */
	size = s->hdr.size;
	if (s->kernel_bytes % sizeof(__u64) || s->user_bytes % sizeof(__u64) ||
	    s->python_bytes % sizeof(struct hearth_pyframe) ||
	    s->kernel_bytes / sizeof(__u64) > HEARTH_MAX_STACK_DEPTH ||
	    s->user_bytes / sizeof(__u64) > HEARTH_MAX_STACK_DEPTH ||
	    s->python_bytes / sizeof(struct hearth_pyframe) > HEARTH_PY_MAX_FRAMES)
		return -EBADMSG;
	/* Each is capped above, so the sums cannot wrap. */
	parts = sizeof(*s) + (size_t)s->kernel_bytes + s->python_bytes + s->user_bytes;
	if (parts > size)
		return -EBADMSG;
	end = parts;
	if (s->flags & HEARTH_SAMPLE_UREGS) {
		if (s->stack_bytes > HEARTH_STACK_COPY_MAX)
			return -EBADMSG;
		end += sizeof(struct hearth_uregs) + s->stack_bytes;
		if (end > size)
			return -EBADMSG;
	}
	*ret = (struct sample_view){
		.s = s,
		.kips = (const __u64 *)(base + sizeof(*s)),
		.nk = s->kernel_bytes / sizeof(__u64),
		.py = (const struct hearth_pyframe *)(base + sizeof(*s) + s->kernel_bytes),
		.np = s->python_bytes / sizeof(struct hearth_pyframe),
		.uips = (const __u64 *)(base + sizeof(*s) + s->kernel_bytes + s->python_bytes),
		.nu = s->user_bytes / sizeof(__u64),
	};
	if (s->flags & HEARTH_SAMPLE_UREGS) {
		ret->uregs = (const struct hearth_uregs *)(base + parts);
		ret->stack = base + parts + sizeof(struct hearth_uregs);
		ret->stack_len = s->stack_bytes;
	}
	return 0;
}

int task_event_parse(const void *data, size_t size, const struct hearth_task_event **ret)
{
	const struct hearth_task_event *e = data;

	if (size < sizeof(*e) || e->hdr.size < sizeof(*e) || e->hdr.size > size)
		return -EBADMSG;
	*ret = e;
	return 0;
}
