/* SPDX-License-Identifier: MIT */
/*
 * Kernel stacks of samples: kernel addresses named from /proc/kallsyms and
 * turned into profile frames (cached by address), and the frames that only
 * say how the sampling clock ran told apart from the code it interrupted.
 */
#ifndef HEARTH_KSTACK_H
#define HEARTH_KSTACK_H

#include <stddef.h>
#include <stdint.h>

#include "profile.h"

struct kstack;

/* Addresses remembered before the cache starts over. */
#define KSTACK_CACHE_MAX 262144

/* kallsyms is read on first use. Returns 0 or -ENOMEM. */
int kstack__new(struct kstack **ret);
struct kstack *kstack__free(struct kstack *k);
static inline void kstack__freep(struct kstack **k)
{
	kstack__free(*k);
}

/* Forget the frame ids made so far: the profile they were made in starts over. */
void kstack__forget_profile(struct kstack *k);

/*
 * The frame of kernel address @addr (a return address already moved back
 * into its call) in @p, into *@ret. Unnamed ones read "[kernel]+0x...".
 * Returns 0 or -errno (-E2BIG: @p is full).
 */
int kstack__frame(struct kstack *k, struct profile *p, uint64_t addr, uint32_t *ret);

/*
 * In the kernel stack @ips (leaf first, @n of them) of a sample taken by the
 * sampling clock, the index of the first frame of the code the clock's
 * interrupt found running: the frames before it are the program, the BPF
 * timer, the softirq and interrupt-exit code that ran it, and the
 * interrupt's entry stub. @n when all of them are (an interrupted user
 * task), 0 when kallsyms cannot be read (nothing is cut blind).
 */
size_t kstack__clock_start(struct kstack *k, const uint64_t *ips, size_t n);

#endif
