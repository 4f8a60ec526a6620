// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness: records from the BPF program's ring buffer, as the
 * collector takes them apart (collector/sampleview.c). The program is ours,
 * but a record's sizes come from target memory walks and helpers' returns:
 * a record that does not add up must be refused, and every byte a view
 * points at must lie inside the record (read here, so ASan says if not).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "sampleview.h"

static volatile uint64_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct hearth_task_event *e;
	struct sample_view v;
	uint64_t sum = 0;
	uint32_t type;

	if (record_view_type(data, size, &type) < 0)
		return 0;
	if (type == HEARTH_EVENT_SAMPLE && sample_view_parse(data, size, &v) == 0) {
		if ((const uint8_t *)v.s != data)
			abort();
		sum += v.s->pid + v.s->tid + v.s->flags + v.s->weight_ns + (uint8_t)v.s->comm[15];
		for (size_t i = 0; i < v.nk; i++)
			sum += v.kips[i];
		for (size_t i = 0; i < v.np; i++)
			sum += v.py[i].code + (uint64_t)v.py[i].instr + v.py[i].owner + v.py[i].flags;
		for (size_t i = 0; i < v.nu; i++)
			sum += v.uips[i];
		if (v.uregs) {
			sum += v.uregs->ip + v.uregs->sp + v.uregs->r15;
			for (size_t i = 0; i < v.stack_len; i++)
				sum += v.stack[i];
		} else if (v.stack || v.stack_len) {
			abort();
		}
	} else if (type != HEARTH_EVENT_SAMPLE && task_event_parse(data, size, &e) == 0) {
		sum += e->pid + e->parent_pid + (uint8_t)e->comm[15];
	}
	sink = sum;
	return 0;
}
