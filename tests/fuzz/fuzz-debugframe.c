// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness: .debug_frame, from ELF files that target processes
 * (containers) supply. debug_frame__load() finds, inflates and indexes it;
 * libunwind then parses the FDEs and CIEs the index holds, in local memory.
 */
#include <stddef.h>
#include <stdint.h>

#include "debugframe.h"

static int no_mem(unw_addr_space_t as, unw_word_t addr, unw_word_t *val, int write, void *arg)
{
	return -UNW_EINVAL;
}

static int no_reg(unw_addr_space_t as, unw_regnum_t reg, unw_word_t *val, int write, void *arg)
{
	return -UNW_EBADREG;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unw_addr_space_t as;
	struct debug_frame *d = NULL;
	unw_proc_info_t pi;

	if (!as) {
		static unw_accessors_t acc = { .access_mem = no_mem, .access_reg = no_reg };

		as = unw_create_addr_space(&acc, 0);
	}
	if (debug_frame__load(data, size, NULL, NULL, &d) == 0) {
		/* The fixtures' code lies in the first pages; both answers and refusals are fine. */
		for (unw_word_t ip = 0x1000; ip < 0x3000; ip += 0x20)
			debug_frame__find_proc_info(d, as, 0, 1ull << 31, 0, ip, &pi, 1);
		debug_frame__free(d);
	}
	return 0;
}
