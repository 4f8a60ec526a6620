// SPDX-License-Identifier: MIT
/*
 * Writes the sample-record fuzz corpus: records laid out as the BPF program
 * lays them out (collector/bpf/sampler.h), one file each: a native sample
 * with kernel and user stacks, a Python sample, a DWARF sample with its
 * registers and stack copy, a deepest one, and a fork notice.
 * Usage: sample-corpus DIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sampleview.h"

static int write_file(const char *dir, const char *name, const void *data, size_t size)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(data, 1, size, f) != size) {
		perror(path);
		return 1;
	}
	return fclose(f) != 0;
}

/* A sample with @nk kernel and @nu user addresses, @np Python frames and @stack bytes of copy. */
static int sample(const char *dir, const char *name, unsigned int nk, unsigned int np, unsigned int nu,
		  unsigned int stack)
{
	size_t size = sizeof(struct hearth_sample) + nk * 8 + np * sizeof(struct hearth_pyframe) + nu * 8 +
		      (stack ? sizeof(struct hearth_uregs) + stack : 0);
	uint8_t *buf = calloc(1, size);
	struct hearth_sample *s = (void *)buf;
	uint64_t *ips;
	struct hearth_pyframe *pf;
	int r;

	if (!buf)
		return 1;
	s->hdr.type = HEARTH_EVENT_SAMPLE;
	s->hdr.size = (uint32_t)size;
	s->time_ns = 123456789;
	s->weight_ns = 10101010;
	s->pid = 4242;
	s->tid = 4243;
	s->flags = (nk ? HEARTH_SAMPLE_IN_KERNEL : 0) | (np ? HEARTH_SAMPLE_PY | HEARTH_SAMPLE_PY_THREAD : 0) |
		   (stack ? HEARTH_SAMPLE_UREGS : 0) | HEARTH_SAMPLE_CLOCK;
	strcpy(s->comm, "worker");
	strcpy(s->process_comm, "python3");
	s->kernel_bytes = nk * 8;
	s->python_bytes = np * (unsigned int)sizeof(*pf);
	s->user_bytes = nu * 8;
	s->stack_bytes = stack;
	ips = (uint64_t *)(s + 1);
	for (unsigned int i = 0; i < nk; i++)
		ips[i] = 0xffffffff81000000ull + i * 0x40;
	pf = (void *)(ips + nk);
	for (unsigned int i = 0; i < np; i++)
		pf[i] = (struct hearth_pyframe){ .code = 0x7f0000100000ull + i * 0x100, .instr = (int)i * 2,
						  .flags = HEARTH_PYFRAME_ENTRY };
	ips = (uint64_t *)(pf + np);
	for (unsigned int i = 0; i < nu; i++)
		ips[i] = 0x555555554000ull + i * 0x10;
	if (stack) {
		struct hearth_uregs *u = (void *)(ips + nu);

		*u = (struct hearth_uregs){ .ip = 0x555555554000ull, .sp = 0x7ffc00000000ull, .bp = 0x7ffc00000100ull };
		memset(u + 1, 0x5a, stack);
	}
	r = write_file(dir, name, buf, size);
	free(buf);
	return r;
}

int main(int argc, char **argv)
{
	struct hearth_task_event e = { .hdr = { HEARTH_EVENT_FORK, sizeof(e) }, .pid = 7, .parent_pid = 6 };

	if (argc != 2) {
		fprintf(stderr, "usage: sample-corpus DIR\n");
		return 2;
	}
	strcpy(e.comm, "sh");
	return sample(argv[1], "native", 5, 0, 12, 0) | sample(argv[1], "python", 0, 20, 0, 0) |
	       sample(argv[1], "dwarf", 2, 3, 8, 2048) |
	       sample(argv[1], "deepest", HEARTH_MAX_STACK_DEPTH, HEARTH_PY_MAX_FRAMES, HEARTH_MAX_STACK_DEPTH, 64) |
	       write_file(argv[1], "fork", &e, sizeof(e));
}
