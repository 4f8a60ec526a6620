// SPDX-License-Identifier: MIT
#include "fixture.h"

#include <stdio.h>
#include <stdlib.h>

#define CHECK(x)                                                            \
	({                                                                  \
		int64_t _v = (x);                                           \
		if (_v < 0) {                                               \
			fprintf(stderr, "fixture: %s failed: %lld\n", #x, (long long)_v); \
			abort();                                            \
		}                                                           \
		_v;                                                         \
	})

static uint32_t frame(struct profile *p, enum profile_frame_kind kind, const char *name,
		      uint32_t mapping, uint64_t addr, int unknown)
{
	struct profile_frame f = {
		.kind = kind,
		.name = (uint32_t)CHECK(profile__intern(p, name)),
		.mapping = mapping,
		.address = addr,
		.unknown = (uint32_t)unknown,
	};

	return (uint32_t)CHECK(profile__add_frame(p, &f));
}

static void sample(struct profile *p, const uint32_t *leaf_first, size_t n, uint32_t pid,
		   uint32_t tid, const char *comm, const char *thread, uint64_t count)
{
	struct profile_sample s = {
		.stack = (uint32_t)CHECK(profile__add_stack(p, leaf_first, n)),
		.pid = pid,
		.tid = tid,
		.comm = (uint32_t)CHECK(profile__intern(p, comm)),
		.thread_name = (uint32_t)CHECK(profile__intern(p, thread)),
	};

	CHECK(profile__add_sample(p, &s, count, count * FIXTURE_SAMPLE_NS));
}

struct profile *fixture_profile(void)
{
	struct profile *p = NULL;
	struct profile_mapping exe = { .start = 0x400000, .limit = 0x500000, .offset = 0 };
	struct profile_mapping lib = { .start = 0x7f0000000000, .limit = 0x7f0000100000, .offset = 0x1000 };
	struct profile_mapping kern = { .start = 0xffffffff81000000, .limit = 0xffffffffa0000000 };
	uint32_t m_exe, m_lib, m_kern, f_main, f_work, f_spin, f_idle, f_irq, f_start, f_worker,
		f_main2, f_unknown;
	struct profile_info *info;

	CHECK(profile__new(&p));
	exe.file = (uint32_t)CHECK(profile__intern(p, "/usr/bin/burn"));
	exe.build_id = (uint32_t)CHECK(profile__intern(p, "0123456789abcdef0123456789abcdef01234567"));
	lib.file = (uint32_t)CHECK(profile__intern(p, "/usr/lib/libx.so"));
	kern.file = (uint32_t)CHECK(profile__intern(p, "[kernel.kallsyms]"));
	m_exe = (uint32_t)CHECK(profile__add_mapping(p, &exe));
	m_lib = (uint32_t)CHECK(profile__add_mapping(p, &lib));
	m_kern = (uint32_t)CHECK(profile__add_mapping(p, &kern));

	f_main = frame(p, PROFILE_FRAME_NATIVE, "main", m_exe, 0x401000, 0);
	f_work = frame(p, PROFILE_FRAME_NATIVE, "work", m_exe, 0x401100, 0);
	f_spin = frame(p, PROFILE_FRAME_NATIVE, "spin", m_exe, 0x401200, 0);
	f_idle = frame(p, PROFILE_FRAME_NATIVE, "idle", m_exe, 0x401300, 0);
	f_irq = frame(p, PROFILE_FRAME_KERNEL, "asm_sysvec_apic_timer_interrupt", m_kern,
		      0xffffffff81e00a40, 0);
	f_start = frame(p, PROFILE_FRAME_NATIVE, "start_thread", m_lib, 0x7f0000001500, 0);
	f_worker = frame(p, PROFILE_FRAME_NATIVE, "worker_loop", m_exe, 0x401400, 0);
	f_main2 = frame(p, PROFILE_FRAME_NATIVE, "main", m_exe, 0x401010, 0);
	f_unknown = frame(p, PROFILE_FRAME_NATIVE, "libx.so+0x1234", m_lib, 0x7f0000000234, 1);

	sample(p, (uint32_t[]){ f_spin, f_work, f_main }, 3, 100, 100, "burn", "burn", 50);
	sample(p, (uint32_t[]){ f_irq, f_spin, f_work, f_main }, 4, 100, 100, "burn", "burn", 10);
	sample(p, (uint32_t[]){ f_idle, f_main }, 2, 100, 100, "burn", "burn", 20);
	sample(p, (uint32_t[]){ f_worker, f_start }, 2, 100, 101, "burn", "worker", 10);
	sample(p, (uint32_t[]){ f_unknown, f_main2 }, 2, 200, 200, "other", "other", 5);

	info = profile__info(p);
	info->time_ns = 1700000000000000000ull;
	info->duration_ns = 2000000000ull;
	info->rate_hz = 99;
	info->period_ns = 1000000000ull / 99;
	info->unknown_frames = 5;
	CHECK(profile__set_target(p, "pid 100,200"));
	return p;
}

char *fixture_render(const struct exporter *e, const struct profile *p, const struct profile *base, int *ret_r,
		     size_t *ret_len)
{
	struct export_options o = { .program_version = "test", .base = base };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		abort();
	*ret_r = e->write(p, &o, f);
	fclose(f);
	if (ret_len)
		*ret_len = len;
	return buf;
}
