// SPDX-License-Identifier: MIT
#include "kstack.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "intern.h"
#include "ksyms.h"
#include "log.h"

enum kstack_class {
	KSTACK_CODE = 0,     /* the code a sample is about */
	KSTACK_PLUMBING = 1, /* how the sampling clock ran: BPF, the timer, softirq and interrupt exit */
	KSTACK_ENTRY = 2,    /* an interrupt's entry stub, right above the interrupted code */
	KSTACK_UNNAMED = 3,  /* no symbol */
};

struct kstack_addr {
	uint32_t frame;     /* frame id in the profile, when has_frame */
	uint8_t has_frame;
	uint8_t class;      /* enum kstack_class; known once classified */
	uint8_t classified;
};

struct kstack {
	struct ksyms *ksyms;
	int ksyms_error; /* 0 until tried */
	uint32_t mapping; /* the "[kernel.kallsyms]" mapping in the profile, 0 until made */
	struct intern *addrs; /* key: uint64_t address */
	struct kstack_addr *info;
};

/*
 * The functions between a BPF timer's callback and the interrupt it ran on
 * the way out of (x86-64, 6.x; older kernels say __do_softirq), and the
 * entries of the helpers that read the stack.
 */
static const char *const plumbing[] = {
	"__bpf_get_stack", "__bpf_get_task_stack", "bpf_get_task_stack", "bpf_timer_cb",
	"__hrtimer_run_queues", "hrtimer_run_softirq", "handle_softirqs", "__do_softirq", "do_softirq",
	"do_softirq_own_stack", "__irq_exit_rcu", "irq_exit_rcu", "irq_exit", "__local_bh_enable_ip",
	"_local_bh_enable", "local_bh_enable",
};

static enum kstack_class kstack_classify(const char *name, const char *module)
{
	if (!name)
		return KSTACK_UNNAMED;
	if (module && !strcmp(module, "bpf"))
		return KSTACK_PLUMBING; /* the program itself */
	if (!strncmp(name, "asm_", 4))
		return KSTACK_ENTRY;
	/* The C side of an interrupt (sysvec_apic_timer_interrupt, __common_interrupt, ...). */
	if (!strncmp(name, "sysvec_", 7) || !strncmp(name, "__sysvec_", 9) || !strcmp(name, "common_interrupt") ||
	    !strcmp(name, "__common_interrupt"))
		return KSTACK_PLUMBING;
	for (size_t i = 0; i < sizeof(plumbing) / sizeof(plumbing[0]); i++)
		if (!strcmp(name, plumbing[i]))
			return KSTACK_PLUMBING;
	return KSTACK_CODE;
}

int kstack__new(struct kstack **ret)
{
	_cleanup_(kstack__freep) struct kstack *k = calloc(1, sizeof(*k));
	int r;

	if (!k)
		return -ENOMEM;
	r = intern__new(KSTACK_CACHE_MAX, &k->addrs);
	if (r < 0)
		return r;
	k->info = calloc(KSTACK_CACHE_MAX, sizeof(*k->info));
	if (!k->info)
		return -ENOMEM;
	*ret = TAKE_PTR(k);
	return 0;
}

struct kstack *kstack__free(struct kstack *k)
{
	if (!k)
		return NULL;
	ksyms__free(k->ksyms);
	intern__free(k->addrs);
	free(k->info);
	free(k);
	return NULL;
}

void kstack__forget_profile(struct kstack *k)
{
	for (size_t i = 0; i < intern__count(k->addrs); i++)
		k->info[i].has_frame = 0;
	k->mapping = 0;
}

static const struct ksyms *kstack_ksyms(struct kstack *k)
{
	if (!k->ksyms && !k->ksyms_error) {
		k->ksyms_error = ksyms__load("/proc/kallsyms", &k->ksyms);
		if (k->ksyms_error < 0)
			log_debug("cannot read /proc/kallsyms: %s", strerror(-k->ksyms_error));
		else
			k->ksyms_error = 1;
	}
	return k->ksyms;
}

/* The cache entry of @addr, made if new; NULL when the cache is full (it then starts over). */
static struct kstack_addr *kstack_addr(struct kstack *k, uint64_t addr)
{
	int64_t id;
	int added;

	id = intern__add(k->addrs, &addr, sizeof(addr), &added);
	if (id == -E2BIG) {
		/* Frame ids live on in the profile: only the cache starts over. */
		struct intern *fresh;

		if (intern__new(KSTACK_CACHE_MAX, &fresh) < 0)
			return NULL;
		intern__free(k->addrs);
		k->addrs = fresh;
		id = intern__add(k->addrs, &addr, sizeof(addr), &added);
	}
	if (id < 0)
		return NULL;
	if (added)
		k->info[id] = (struct kstack_addr){ 0 };
	return &k->info[id];
}

int kstack__frame(struct kstack *k, struct profile *p, uint64_t addr, uint32_t *ret)
{
	struct profile_frame f = { .kind = PROFILE_FRAME_KERNEL, .address = addr };
	const struct ksyms *ks = kstack_ksyms(k);
	struct kstack_addr *a = kstack_addr(k, addr);
	const char *name = NULL, *module = NULL;
	char buf[256];
	int64_t id;

	if (a && a->has_frame) {
		*ret = a->frame;
		return 0;
	}
	if (!k->mapping) {
		struct profile_mapping m = { .start = 0, .limit = UINT64_MAX };

		id = profile__intern(p, "[kernel.kallsyms]");
		if (id < 0)
			return (int)id;
		m.file = (uint32_t)id;
		id = profile__add_mapping(p, &m);
		if (id < 0)
			return (int)id;
		k->mapping = (uint32_t)id;
	}
	f.mapping = k->mapping;
	if (ks)
		name = ksyms__lookup(ks, addr, &module);
	if (name && module && *module) {
		snprintf(buf, sizeof(buf), "%s [%s]", name, module);
		name = buf;
	} else if (!name) {
		snprintf(buf, sizeof(buf), "[kernel]+0x%llx", (unsigned long long)addr);
		name = buf;
		f.unknown = 1;
	}
	id = profile__add_frame_named(p, &f, name);
	if (id < 0)
		return (int)id;
	*ret = (uint32_t)id;
	if (a) {
		a->frame = (uint32_t)id;
		a->has_frame = 1;
	}
	return 0;
}

/* How kernel address @addr serves a sample (cached). */
static enum kstack_class kstack_class_of(struct kstack *k, const struct ksyms *ks, uint64_t addr)
{
	struct kstack_addr *a = kstack_addr(k, addr);
	const char *module = NULL, *name;
	enum kstack_class c;

	if (a && a->classified)
		return (enum kstack_class)a->class;
	name = ksyms__lookup(ks, addr, &module);
	c = kstack_classify(name, module);
	if (a) {
		a->class = (uint8_t)c;
		a->classified = 1;
	}
	return c;
}

size_t kstack__clock_start(struct kstack *k, const uint64_t *ips, size_t n)
{
	const struct ksyms *ks = kstack_ksyms(k);
	size_t i = 0;

	if (!ks)
		return 0;
	/* Past the first, addresses are return addresses: look up the call. */
	for (; i < n; i++) {
		enum kstack_class c = kstack_class_of(k, ks, ips[i] - (i ? 1 : 0));

		if (c == KSTACK_ENTRY)
			return i + 1;
		if (c == KSTACK_CODE)
			return i;
		/* plumbing, or unnamed (a JIT image without a kallsyms name): go on */
	}
	return n;
}
