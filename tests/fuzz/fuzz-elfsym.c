// SPDX-License-Identifier: MIT
/* libFuzzer harness: ELF files, which come from target processes and are untrusted. */
#include <stddef.h>
#include <stdint.h>

#include "elfsym.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct elfsym *e = NULL;
	uint64_t vaddr;

	if (elfsym__new_memory(data, size, &e) == 0) {
		elfsym__build_id(e);
		for (uint64_t off = 0; off < 0x4000; off += 0x40)
			if (elfsym__offset_to_vaddr(e, off, &vaddr) == 0)
				elfsym__lookup(e, vaddr, NULL);
		elfsym__unref(e);
	}
	return 0;
}
