// SPDX-License-Identifier: MIT
/*
 * DWARF unwinding of copied stacks: snapshots taken by unwind-fixture (built
 * without frame pointers) are unwound offline against the files its maps
 * name, and the frames must symbolize to the call chain the fixture made.
 * Then the ways a walk must stop cleanly: truncated copies, garbage
 * registers, code without CFI, depth, and random stack contents.
 * The fixture built without unwind tables is unwound through .debug_frame.
 * Usage: test-unwind FIXTURE FIXTURE-NOPIE FIXTURE-DEBUGFRAME FIXTURE-DEBUGLINK FIXTURE-NOCFI
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capture-regs.h"
#include "check.h"
#include "cleanup.h"
#include "elfsym.h"
#include "procmaps.h"
#include "unwind-snapshot.h"
#include "unwind.h"

#define MAX_FRAMES 128

struct sym_file {
	char path[PATH_MAX];
	struct elfsym *syms;
};

static struct sym_file sym_files[16];
static size_t nr_sym_files;

/* The function holding @addr in the process whose mappings are @maps, or "?". */
static const char *symbolize(const struct procmaps *maps, uint64_t addr)
{
	const struct procmap *m = procmaps__find(maps, addr);
	struct elfsym *syms = NULL;
	uint64_t vaddr, off;
	const char *name;

	if (!m || !procmap__is_file(m))
		return "?";
	for (size_t i = 0; i < nr_sym_files; i++)
		if (!strcmp(sym_files[i].path, m->path))
			syms = sym_files[i].syms;
	if (!syms && nr_sym_files < 16) {
		int fd = open(m->path, O_RDONLY | O_CLOEXEC);

		if (fd < 0 || elfsym__new(fd, NULL, m->path, &syms) < 0) {
			if (fd >= 0)
				close(fd);
			return "?";
		}
		close(fd);
		snprintf(sym_files[nr_sym_files].path, PATH_MAX, "%s", m->path);
		sym_files[nr_sym_files++].syms = syms;
	}
	if (!syms || elfsym__offset_to_vaddr(syms, m->offset + (addr - m->start), &vaddr) < 0)
		return "?";
	name = elfsym__lookup(syms, vaddr, &off);
	return name ? name : "?";
}

static const char *frame_name(const struct procmaps *maps, const uint64_t *ips, size_t i)
{
	/* Return addresses point after the call, maybe past the caller's last byte. */
	return symbolize(maps, i ? ips[i] - 1 : ips[i]);
}

static bool frame_in(const struct procmaps *maps, uint64_t ip, const char *path_part)
{
	const struct procmap *m = procmaps__find(maps, ip);

	return m && strstr(m->path, path_part);
}

static void print_frames(const char *what, const struct procmaps *maps, const uint64_t *ips, size_t n,
			 enum unwind_stop stop)
{
	printf("%s: %zu frames, stop %s\n", what, n, unwind_stop_name(stop));
	for (size_t i = 0; i < n; i++)
		printf("  #%zu %#" PRIx64 " %s\n", i, ips[i], frame_name(maps, ips, i));
}

/* libunwind alone (unwinder__use_rows(false)): every walk through cached CFI rows must match its. */
static struct unwinder *plain;
static unsigned int walks_compared, walks_differed;

static void unwind_ok(struct unwinder *u, const struct fixture_snapshot *s, const struct unwind_snapshot *snap,
		      uint64_t *ips, size_t max, size_t *n, enum unwind_stop *stop)
{
	uint64_t want[MAX_FRAMES];
	enum unwind_stop want_stop = UNWIND_STOP__MAX;
	size_t want_n = SIZE_MAX;

	*n = SIZE_MAX;
	*stop = UNWIND_STOP__MAX;
	CHECK_INT(unwinder__unwind(u, 0, s->maps, snap, ips, max, n, stop), 0);
	CHECK_TRUE(*n <= max);
	CHECK_TRUE((unsigned)*stop < UNWIND_STOP__MAX);
	if (max > MAX_FRAMES)
		return;
	CHECK_INT(unwinder__unwind(plain, 0, s->maps, snap, want, max, &want_n, &want_stop), 0);
	unwinder__forget_process(plain, 0);
	walks_compared++;
	if (want_n != *n || want_stop != *stop || memcmp(want, ips, *n * sizeof(*ips))) {
		walks_differed++;
		print_frames("with CFI rows", s->maps, ips, *n, *stop);
		print_frames("libunwind alone", s->maps, want, want_n, want_stop);
	}
}

/* The outermost frames: main, then glibc's start code, ending at _start with undefined RIP. */
static void check_outer_frames(const struct procmaps *maps, const uint64_t *ips, size_t n, size_t main_at,
			       enum unwind_stop stop)
{
	CHECK_INT(stop, UNWIND_STOP_END);
	CHECK_TRUE(n > main_at + 1);
	if (n <= main_at + 1)
		return;
	CHECK_STR(frame_name(maps, ips, n - 1), "_start");
	for (size_t i = main_at + 1; i < n - 1; i++)
		CHECK_TRUE(frame_in(maps, ips[i], "libc.so"));
}

/* From frame @i on: @caller, level_b, level_a, main, then libc and _start. */
static void check_way_out(const struct procmaps *maps, const uint64_t *ips, size_t n, size_t i,
			  const char *caller, enum unwind_stop stop)
{
	static const char *const rest[] = { "level_b", "level_a", "main" };

	CHECK_TRUE(n >= i + 4);
	if (n < i + 4)
		return;
	CHECK_STR(frame_name(maps, ips, i), caller);
	for (size_t k = 0; k < ARRAY_SIZE(rest); k++)
		CHECK_STR(frame_name(maps, ips, i + 1 + k), rest[k]);
	check_outer_frames(maps, ips, n, i + 3, stop);
}

/*
 * Unwind @s, a "direct" snapshot, and check the chain it was taken in, from
 * capture to main and what lies beyond. Returns the frame count, 0 when the
 * chain is not all there.
 */
static size_t check_direct_chain(struct unwinder *u, const struct fixture_snapshot *s, const char *what,
				 uint64_t *ips, enum unwind_stop *ret_stop)
{
	static const char *const chain[] = { "capture", "level_c", "level_b", "level_a", "main" };
	size_t n;

	unwind_ok(u, s, &s->snap, ips, MAX_FRAMES, &n, ret_stop);
	print_frames(what, s->maps, ips, n, *ret_stop);
	CHECK_TRUE(n >= ARRAY_SIZE(chain));
	if (n < ARRAY_SIZE(chain))
		return 0;
	CHECK_INT(ips[0], s->snap.regs.ip);
	for (size_t i = 0; i < ARRAY_SIZE(chain); i++)
		CHECK_STR(frame_name(s->maps, ips, i), chain[i]);
	check_outer_frames(s->maps, ips, n, 4, *ret_stop);
	return n;
}

static void test_direct(struct unwinder *u, const struct fixture_snapshot *s)
{
	uint64_t ips[MAX_FRAMES];
	enum unwind_stop stop;
	size_t n;

	n = check_direct_chain(u, s, "direct", ips, &stop);
	if (!n)
		return;

	/* Caches warm or flushed, the answer is the same. */
	for (int pass = 0; pass < 2; pass++) {
		uint64_t again[MAX_FRAMES];
		size_t n2;

		if (pass)
			unwinder__forget_process(u, 0);
		unwind_ok(u, s, &s->snap, again, MAX_FRAMES, &n2, &stop);
		CHECK_INT(n2, n);
		CHECK_TRUE(n2 == n && !memcmp(again, ips, n * sizeof(ips[0])));
		CHECK_INT(stop, UNWIND_STOP_END);
	}
}

static void test_qsort(struct unwinder *u, const struct fixture_snapshot *s)
{
	uint64_t ips[MAX_FRAMES];
	enum unwind_stop stop;
	size_t n, i, libc_frames = 0;
	bool saw_qsort = false;

	unwind_ok(u, s, &s->snap, ips, MAX_FRAMES, &n, &stop);
	print_frames("qsort", s->maps, ips, n, stop);
	CHECK_TRUE(n >= 7);
	if (n < 7)
		return;
	CHECK_STR(frame_name(s->maps, ips, 0), "capture");
	CHECK_STR(frame_name(s->maps, ips, 1), "compare");
	/* The comparator was called from inside libc's qsort... */
	for (i = 2; i < n && frame_in(s->maps, ips[i], "libc.so"); i++) {
		libc_frames++;
		saw_qsort |= strstr(frame_name(s->maps, ips, i), "qsort") ||
			     strstr(frame_name(s->maps, ips, i), "msort");
	}
	CHECK_TRUE(libc_frames >= 1);
	CHECK_TRUE(saw_qsort);
	/* ...and the walk came back out of it into the fixture. */
	check_way_out(s->maps, ips, n, i, "call_qsort", stop);
}

/* Through a signal frame (__restore_rt) back into the interrupted code, without looping. */
static void test_signal(struct unwinder *u, const struct fixture_snapshot *s)
{
	uint64_t ips[MAX_FRAMES];
	enum unwind_stop stop;
	size_t n, i;

	unwind_ok(u, s, &s->snap, ips, MAX_FRAMES, &n, &stop);
	print_frames("signal", s->maps, ips, n, stop);
	CHECK_TRUE(n >= 7);
	if (n < 7)
		return;
	CHECK_STR(frame_name(s->maps, ips, 0), "capture");
	CHECK_STR(frame_name(s->maps, ips, 1), "on_signal");
	for (i = 2; i < n && frame_in(s->maps, ips[i], "libc.so"); i++)
		;
	/* __restore_rt, then raise's insides where the signal arrived. */
	CHECK_TRUE(i >= 4);
	check_way_out(s->maps, ips, n, i, "level_c", stop);
}

/* A non-PIE executable (load bias 0, like Debian's python3.11): same chain. */
static void test_nopie(struct unwinder *u, const struct fixture_snapshot *s)
{
	const struct procmap *m = procmaps__find(s->maps, s->snap.regs.ip);
	uint64_t ips[MAX_FRAMES];
	enum unwind_stop stop;

	CHECK_TRUE(m && m->start < 0x1000000); /* really linked at 0x400000 */
	check_direct_chain(u, s, "non-PIE", ips, &stop);
}

/*
 * A fixture whose CFI is only in .debug_frame (its own, or a separate debug
 * file's): the same chain, each fixture frame unwound through .debug_frame.
 */
static void test_debug_frame(struct unwinder *u, const struct fixture_snapshot *s, const char *what)
{
	struct unwind_stats before, after;
	uint64_t ips[MAX_FRAMES];
	enum unwind_stop stop;

	unwinder__stats(u, &before);
	check_direct_chain(u, s, what, ips, &stop);
	unwinder__stats(u, &after);
	/* capture, level_c, level_b and level_a step through .debug_frame; main's caller is libc's. */
	CHECK_TRUE(after.debug_frame_lookups - before.debug_frame_lookups >= 4);
	CHECK_INT(after.debug_frame_files - before.debug_frame_files, 1);
}

/* The same binary with .debug_frame stripped and no debug file: one frame, then NO_INFO. */
static void test_no_cfi(struct unwinder *u, const struct fixture_snapshot *s)
{
	uint64_t ips[MAX_FRAMES];
	enum unwind_stop stop;
	size_t n;

	unwind_ok(u, s, &s->snap, ips, MAX_FRAMES, &n, &stop);
	print_frames("no CFI", s->maps, ips, n, stop);
	CHECK_INT(n, 1);
	CHECK_INT(stop, UNWIND_STOP_NO_INFO);
	CHECK_STR(frame_name(s->maps, ips, 0), "capture");
}

/*
 * A copy of the fixture (another inode, the same build-id and size), as the
 * same image in another container is: its image is the one loaded already.
 */
static void test_shared_by_build_id(struct unwinder *u, const char *fixture)
{
	struct fixture_snapshot s = { 0 };
	struct unwind_stats before, after;
	char copy[PATH_MAX], buf[65536];
	uint64_t ips[MAX_FRAMES];
	enum unwind_stop stop;
	int in, out = -1;
	ssize_t n;

	snprintf(copy, sizeof(copy), "%s-copy-XXXXXX", fixture);
	in = open(fixture, O_RDONLY | O_CLOEXEC);
	if (in >= 0)
		out = mkstemp(copy);
	CHECK_TRUE(in >= 0 && out >= 0);
	while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof(buf))) > 0)
		CHECK_INT(write(out, buf, (size_t)n), n);
	if (out >= 0) {
		CHECK_INT(fchmod(out, 0755), 0);
		close(out);
	}
	if (in >= 0)
		close(in);
	CHECK_INT(fixture_snapshot__take(copy, "direct", &s), 0);
	if (!s.maps) {
		unlink(copy);
		return;
	}
	unwinder__stats(u, &before);
	check_direct_chain(u, &s, "copy", ips, &stop);
	unwinder__stats(u, &after);
	CHECK_INT(after.file_shared - before.file_shared, 1);
	CHECK_INT(after.file_misses, before.file_misses);
	unlink(copy);
	fixture_snapshot__release(&s);
}

/* A cache of four files for five: evictions (and their keys dropped) change no answer. */
static void test_eviction(const struct fixture_snapshot *const *snaps, size_t nr)
{
	uint64_t first[8][MAX_FRAMES], ips[MAX_FRAMES];
	size_t first_n[8], n;
	struct unwinder *u = NULL;
	struct unwind_stats st;
	enum unwind_stop stop;

	CHECK_INT(unwinder__new(4, &u), 0);
	if (!u || nr > 8)
		return;
	for (int round = 0; round < 3; round++) {
		for (size_t i = 0; i < nr; i++) {
			unwind_ok(u, snaps[i], &snaps[i]->snap, round ? ips : first[i], MAX_FRAMES,
				  round ? &n : &first_n[i], &stop);
			CHECK_INT(stop, UNWIND_STOP_END);
			if (round) {
				CHECK_INT(n, first_n[i]);
				CHECK_TRUE(n == first_n[i] && !memcmp(ips, first[i], n * sizeof(ips[0])));
			}
			unwinder__forget_process(u, 0);
		}
	}
	unwinder__stats(u, &st);
	CHECK_TRUE(st.file_evictions > 0);
	CHECK_TRUE(st.files <= 4);
	unwinder__free(u);
}

static void test_truncated(struct unwinder *u, const struct fixture_snapshot *s)
{
	struct unwind_snapshot snap = s->snap;
	uint64_t ips[MAX_FRAMES];
	enum unwind_stop stop;
	size_t n, full;

	unwind_ok(u, s, &snap, ips, MAX_FRAMES, &full, &stop);

	snap.stack_len = 256;
	unwind_ok(u, s, &snap, ips, MAX_FRAMES, &n, &stop);
	print_frames("256 bytes of stack", s->maps, ips, n, stop);
	CHECK_INT(stop, UNWIND_STOP_STACK_END);
	CHECK_TRUE(n >= 1 && n < full);
	CHECK_INT(ips[0], s->snap.regs.ip);

	/* No stack at all: the first frame, then nothing to read. */
	snap.stack_len = 0;
	unwind_ok(u, s, &snap, ips, MAX_FRAMES, &n, &stop);
	CHECK_INT(stop, UNWIND_STOP_STACK_END);
	CHECK_INT(n, 1);

	/*
	 * Every length: fewer frames and STACK_END until the copy holds the
	 * whole stack, then all of them and END; never fewer for more bytes.
	 */
	size_t prev = 0, walks = 0;
	struct unwind_stats before, after;

	unwinder__stats(u, &before);
	for (size_t len = 1; len <= s->snap.stack_len; len += len < 1024 ? 1 : 509) {
		snap.stack_len = len;
		unwind_ok(u, s, &snap, ips, MAX_FRAMES, &n, &stop);
		CHECK_TRUE((n < full && stop == UNWIND_STOP_STACK_END) || (n == full && stop == UNWIND_STOP_END));
		CHECK_TRUE(n >= prev);
		prev = n;
		walks++;
	}
	CHECK_INT(prev, full);
	/* A copy that ends early (Python samples': at the loop) is walked through the rows, not libunwind. */
	unwinder__stats(u, &after);
	printf("truncated copies: %" PRIu64 " of %zu walks through CFI rows\n", after.by_rows - before.by_rows, walks);
	CHECK_TRUE(after.by_rows - before.by_rows == walks);
}

static void test_depth(struct unwinder *u, const struct fixture_snapshot *s)
{
	uint64_t ips[3];
	enum unwind_stop stop;
	size_t n;

	unwind_ok(u, s, &s->snap, ips, 3, &n, &stop);
	CHECK_INT(stop, UNWIND_STOP_DEPTH);
	CHECK_INT(n, 3);
	CHECK_STR(frame_name(s->maps, ips, 2), "level_b");

	unwind_ok(u, s, &s->snap, ips, 0, &n, &stop);
	CHECK_INT(stop, UNWIND_STOP_DEPTH);
	CHECK_INT(n, 0);
}

static void test_bad_registers(struct unwinder *u, const struct fixture_snapshot *s)
{
	struct unwind_snapshot snap = s->snap;
	const struct procmap *stack = procmaps__find(s->maps, s->snap.regs.sp);
	uint64_t ips[MAX_FRAMES];
	enum unwind_stop stop;
	size_t n;

	snap.regs.ip = 0;
	unwind_ok(u, s, &snap, ips, MAX_FRAMES, &n, &stop);
	CHECK_INT(stop, UNWIND_STOP_BAD_IP);
	CHECK_INT(n, 0);

	/* An ip in a mapping that is not executable (the stack itself). */
	CHECK_TRUE(stack != NULL);
	snap.regs.ip = stack ? stack->start + 16 : 16;
	unwind_ok(u, s, &snap, ips, MAX_FRAMES, &n, &stop);
	CHECK_INT(stop, UNWIND_STOP_BAD_IP);
	CHECK_INT(n, 0);

	/*
	 * Another SP with the same bytes: CFA rules are SP-relative, so this
	 * walk may well succeed; it must end either way, wrapping included.
	 */
	static const uint64_t bad_sps[] = { 0, 8, 0x7fffffffffffULL, UINT64_MAX - 7 };
	for (size_t i = 0; i < ARRAY_SIZE(bad_sps); i++) {
		snap = s->snap;
		snap.regs.sp = bad_sps[i];
		unwind_ok(u, s, &snap, ips, MAX_FRAMES, &n, &stop);
		printf("sp %#" PRIx64 ": %zu frames, stop %s\n", bad_sps[i], n, unwind_stop_name(stop));
		CHECK_TRUE(n >= 1);
	}
	/* The last one cannot go anywhere: the caller's frame would be past 2^64. */
	CHECK_TRUE(stop != UNWIND_STOP_END);
}

/* An ip in anonymous executable memory (JIT code) has no CFI: one frame, then NO_INFO. */
static void test_no_info(struct unwinder *u, const struct fixture_snapshot *s)
{
	static const char jit[] = "100000-200000 r-xp 00000000 00:00 0 \n";
	struct unwind_snapshot snap = s->snap;
	struct procmaps *maps = NULL;
	uint64_t ips[MAX_FRAMES];
	enum unwind_stop stop;
	size_t n = 0;
	char *text;

	text = malloc(sizeof(jit) + s->maps_len);
	CHECK_TRUE(text != NULL);
	if (!text)
		return;
	memcpy(text, jit, sizeof(jit) - 1);
	memcpy(text + sizeof(jit) - 1, s->maps_text, s->maps_len);
	CHECK_INT(procmaps__parse(text, sizeof(jit) - 1 + s->maps_len, &maps), 0);
	free(text);
	if (!maps)
		return;
	snap.regs.ip = 0x100040;
	unwinder__forget_process(u, 0);
	CHECK_INT(unwinder__unwind(u, 0, maps, &snap, ips, MAX_FRAMES, &n, &stop), 0);
	CHECK_INT(stop, UNWIND_STOP_NO_INFO);
	CHECK_INT(n, 1);
	CHECK_INT(ips[0], 0x100040);
	unwinder__forget_process(u, 0);
	procmaps__free(maps);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* A word an unwinder could take seriously: code addresses, stack addresses, small numbers, noise. */
static uint64_t plausible_word(const struct fixture_snapshot *s)
{
	const struct procmap *m = &s->maps->maps[rng() % s->maps->nr];

	switch (rng() % 4) {
	case 0:
		return m->start + rng() % (m->end - m->start);
	case 1:
		return s->snap.regs.sp + rng() % (s->snap.stack_len + 64);
	case 2:
		return rng() % 4096;
	default:
		return rng();
	}
}

/* Random stack contents and registers never crash the unwinder nor walk past @max. */
static void test_garbage(struct unwinder *u, const struct fixture_snapshot *s)
{
	size_t len = s->snap.stack_len;
	uint8_t *stack = malloc(len);
	struct unwind_snapshot snap;
	uint64_t ips[MAX_FRAMES];
	enum unwind_stop stop;
	unsigned int stops[UNWIND_STOP__MAX] = { 0 };
	size_t n, max;

	CHECK_TRUE(stack != NULL);
	if (!stack)
		return;
	for (int round = 0; round < 400; round++) {
		uint64_t *words = (uint64_t *)stack;

		memcpy(stack, s->snap.stack, len);
		/* Half the rounds keep the real stack and corrupt some of it; half replace all of it. */
		for (size_t i = 0; i < len / 8; i++)
			if (round % 2 || rng() % 8 == 0)
				words[i] = plausible_word(s);
		snap = s->snap;
		snap.stack = stack;
		if (round % 3 == 1) {
			snap.regs.bp = plausible_word(s);
			snap.regs.bx = plausible_word(s);
		} else if (round % 3 == 2) {
			snap.regs.ip = plausible_word(s);
		}
		max = round % 5 == 0 ? 7 : MAX_FRAMES;
		unwind_ok(u, s, &snap, ips, max, &n, &stop);
		if ((unsigned)stop < UNWIND_STOP__MAX)
			stops[stop]++;
	}
	printf("garbage stops:");
	for (int i = 0; i < UNWIND_STOP__MAX; i++)
		printf(" %s=%u", unwind_stop_name(i), stops[i]);
	printf("\n");
	free(stack);
}

/* The live path: this very process, files opened through /proc/PID/map_files. */
__attribute__((noipa)) static void test_live_self(struct unwinder *u)
{
	static uint8_t stack[16384];
	struct unwind_regs regs;
	struct procmaps *maps = NULL;
	const struct procmap *m;
	struct unwind_snapshot snap;
	uint64_t ips[MAX_FRAMES];
	enum unwind_stop stop;
	size_t n = 0, len;
	bool saw_self = false, saw_main = false;

	CAPTURE_REGS(&regs);
	CHECK_INT(procmaps__read(getpid(), &maps), 0);
	if (!maps)
		return;
	m = procmaps__find(maps, regs.sp);
	CHECK_TRUE(m != NULL);
	len = m ? m->end - regs.sp : 0;
	if (len > sizeof(stack))
		len = sizeof(stack);
	memcpy(stack, (const void *)(uintptr_t)regs.sp, len);
	snap = (struct unwind_snapshot){ .regs = regs, .stack = stack, .stack_len = len };
	CHECK_INT(unwinder__unwind(u, getpid(), maps, &snap, ips, MAX_FRAMES, &n, &stop), 0);
	print_frames("live self", maps, ips, n, stop);
	for (size_t i = 0; i < n; i++) {
		saw_self |= !strcmp(frame_name(maps, ips, i), "test_live_self");
		saw_main |= !strcmp(frame_name(maps, ips, i), "main");
	}
	CHECK_TRUE(saw_self);
	CHECK_TRUE(saw_main);
	CHECK_TRUE(stop == UNWIND_STOP_END || stop == UNWIND_STOP_STACK_END);
	unwinder__forget_process(u, getpid());
	procmaps__free(maps);
}

static void test_api(void)
{
	struct unwinder *u = NULL;
	struct fixture_snapshot none = { 0 };
	size_t n;
	enum unwind_stop stop;

	CHECK_TRUE(unwinder__free(NULL) == NULL);
	unwinder__forget_process(NULL, 1);
	CHECK_INT(unwinder__new(0, &u), 0);
	CHECK_INT(unwinder__unwind(u, 0, NULL, &none.snap, NULL, 0, &n, &stop), -EINVAL);
	CHECK_STR(unwind_stop_name(UNWIND_STOP_STACK_END), "stack-end");
	CHECK_STR(unwind_stop_name(UNWIND_STOP__MAX), "unknown");
	u = unwinder__free(u);
	CHECK_TRUE(u == NULL);
}

int main(int argc, char **argv)
{
	struct fixture_snapshot direct = { 0 }, sorted = { 0 }, sig = { 0 }, nopie = { 0 };
	struct fixture_snapshot dbg = { 0 }, dbg_sorted = { 0 }, dbglink = { 0 }, nocfi = { 0 };
	struct unwinder *u = NULL;
	struct unwind_stats st;

	if (argc != 6) {
		fprintf(stderr, "usage: test-unwind FIXTURE FIXTURE-NOPIE FIXTURE-DEBUGFRAME "
				"FIXTURE-DEBUGLINK FIXTURE-NOCFI\n");
		return 2;
	}
	test_api();
	CHECK_INT(fixture_snapshot__take(argv[1], "direct", &direct), 0);
	CHECK_INT(fixture_snapshot__take(argv[1], "qsort", &sorted), 0);
	CHECK_INT(fixture_snapshot__take(argv[1], "signal", &sig), 0);
	CHECK_INT(fixture_snapshot__take(argv[2], "direct", &nopie), 0);
	CHECK_INT(fixture_snapshot__take(argv[3], "direct", &dbg), 0);
	CHECK_INT(fixture_snapshot__take(argv[3], "qsort", &dbg_sorted), 0);
	CHECK_INT(fixture_snapshot__take(argv[4], "direct", &dbglink), 0);
	CHECK_INT(fixture_snapshot__take(argv[5], "direct", &nocfi), 0);
	CHECK_INT(unwinder__new(16, &u), 0);
	CHECK_INT(unwinder__new(16, &plain), 0);
	unwinder__use_rows(plain, false);
	if (!direct.maps || !sorted.maps || !sig.maps || !nopie.maps || !dbg.maps ||
	    !dbg_sorted.maps || !dbglink.maps || !nocfi.maps || !u)
		return check_finish("test-unwind");

	test_direct(u, &direct);
	/* Two offline snapshots of two processes, both "pid 0": forget in between. */
	unwinder__forget_process(u, 0);
	test_qsort(u, &sorted);
	unwinder__forget_process(u, 0);
	test_signal(u, &sig);
	unwinder__forget_process(u, 0);
	test_nopie(u, &nopie);
	unwinder__forget_process(u, 0);
	test_debug_frame(u, &dbg, ".debug_frame");
	unwinder__forget_process(u, 0);
	test_qsort(u, &dbg_sorted);
	unwinder__forget_process(u, 0);
	test_debug_frame(u, &dbglink, ".debug_frame in a compressed debug file");
	unwinder__forget_process(u, 0);
	test_no_cfi(u, &nocfi);
	unwinder__forget_process(u, 0);
	test_shared_by_build_id(u, argv[1]);
	test_eviction((const struct fixture_snapshot *const[]){ &direct, &nopie, &dbg, &dbglink }, 4);
	unwinder__forget_process(u, 0);
	test_truncated(u, &direct);
	test_depth(u, &direct);
	test_bad_registers(u, &direct);
	test_no_info(u, &direct);
	test_garbage(u, &direct);
	test_live_self(u);

	unwinder__stats(u, &st);
	printf("stats: %" PRIu64 " unwinds, %" PRIu64 " frames, files %" PRIu64 " held %" PRIu64
	       " loaded %" PRIu64 " failed, reads %" PRIu64 " stack %" PRIu64 " file %" PRIu64 " refused\n",
	       st.unwinds, st.frames, st.files, st.file_misses, st.file_failures, st.mem_stack, st.mem_file,
	       st.mem_refused);
	printf("walks: %" PRIu64 " through CFI rows, %" PRIu64 " by libunwind; %u compared with libunwind "
	       "alone, %u differed\n", st.by_rows, st.by_libunwind, walks_compared, walks_differed);
	CHECK_TRUE(st.by_rows > walks_compared / 2);
	CHECK_INT(walks_differed, 0);
	CHECK_TRUE(st.files >= 2 && st.files <= 16);
	CHECK_TRUE(st.stops[UNWIND_STOP_END] >= 4);

	unwinder__free(u);
	unwinder__free(plain);
	fixture_snapshot__release(&direct);
	fixture_snapshot__release(&sorted);
	fixture_snapshot__release(&sig);
	fixture_snapshot__release(&nopie);
	fixture_snapshot__release(&dbg);
	fixture_snapshot__release(&dbg_sorted);
	fixture_snapshot__release(&dbglink);
	fixture_snapshot__release(&nocfi);
	return check_finish("test-unwind");
}
