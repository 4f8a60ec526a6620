/* SPDX-License-Identifier: MIT */
/*
 * CAPTURE_REGS(p): store rip, rsp, rbp, rbx and r12-r15 (in that order, as
 * struct unwind_regs lays them out) into the eight u64 at @p, from one asm
 * block so every register is that of the same instruction. A macro: the
 * registers must be the caller's, not a helper's. x86-64 only.
 */
#ifndef HEARTH_TEST_CAPTURE_REGS_H
#define HEARTH_TEST_CAPTURE_REGS_H

#define CAPTURE_REGS(p)                                          \
	__asm__ volatile("leaq 0(%%rip), %%rax\n\t"              \
			 "movq %%rax, 0(%0)\n\t"                 \
			 "movq %%rsp, 8(%0)\n\t"                 \
			 "movq %%rbp, 16(%0)\n\t"                \
			 "movq %%rbx, 24(%0)\n\t"                \
			 "movq %%r12, 32(%0)\n\t"                \
			 "movq %%r13, 40(%0)\n\t"                \
			 "movq %%r14, 48(%0)\n\t"                \
			 "movq %%r15, 56(%0)\n\t"                \
			 :                                       \
			 : "r"(p)                                \
			 : "rax", "memory")

#endif
