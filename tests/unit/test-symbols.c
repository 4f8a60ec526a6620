// SPDX-License-Identifier: MIT
/*
 * /proc/PID/maps parsing, ELF symbol lookup (symtab, separate debug file via
 * .gnu_debuglink, dynsym only), the symbol cache and kallsyms parsing, on real
 * files: this test binary itself and the fixtures meson builds.
 * Usage: test-symbols FIXTURE FIXTURE.stripped-debuglink FIXTURE.stripped
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "elfsym.h"
#include "ksyms.h"
#include "procmaps.h"
#include "symcache.h"

__attribute__((noinline)) int test_symbols_marker(int x)
{
	return x + 42;
}

static void test_procmaps_parse(void)
{
	static const char text[] =
		"55d0c0a00000-55d0c0a01000 r--p 00000000 fe:00 123 /usr/bin/prog\n"
		"55d0c0a01000-55d0c0a05000 r-xp 00001000 fe:00 123 /usr/bin/prog\n"
		"7f0000000000-7f0000021000 rw-p 00000000 00:00 0 \n"
		"7f1000000000-7f1000100000 r-xp 00020000 08:01 999 /tmp/lib with space.so (deleted)\n"
		"7ffd00000000-7ffd00002000 r-xp 00000000 00:00 0                          [vdso]\n";
	struct procmaps *m = NULL;
	const struct procmap *e;

	CHECK_INT(procmaps__parse(text, sizeof(text) - 1, &m), 0);
	CHECK_INT(m->nr, 5);
	e = procmaps__find(m, 0x55d0c0a01234);
	CHECK_TRUE(e && e == &m->maps[1]);
	CHECK_INT(e->offset, 0x1000);
	CHECK_INT(e->inode, 123);
	CHECK_INT(e->dev_major, 0xfe);
	CHECK_INT(e->prot, PROCMAP_READ | PROCMAP_EXEC);
	CHECK_STR(e->path, "/usr/bin/prog");
	CHECK_TRUE(procmap__is_file(e));
	CHECK_STR(m->maps[2].path, "");
	CHECK_TRUE(!procmap__is_file(&m->maps[2]));
	CHECK_STR(m->maps[3].path, "/tmp/lib with space.so");
	CHECK_TRUE(m->maps[3].deleted);
	CHECK_STR(m->maps[4].path, "[vdso]");
	CHECK_TRUE(procmaps__find(m, 0x55d0c0a05000) == NULL); /* end is exclusive */
	CHECK_TRUE(procmaps__find(m, 0x1000) == NULL);
	procmaps__free(m);

	m = NULL;
	CHECK_INT(procmaps__parse("garbage\n", 8, &m), -EPROTO);
	CHECK_INT(procmaps__parse("2000-1000 r-xp 0 0:0 0\n", 23, &m), -EPROTO);
	CHECK_INT(procmaps__parse("1000-3000 r-xp 0 0:0 0\n2000-4000 r-xp 0 0:0 0\n", 46, &m), -EPROTO);
	CHECK_TRUE(m == NULL);
	CHECK_INT(procmaps__read(4000000, &m), -ESRCH);
}

/* Resolve a function of our own through maps, the file and its symbols. */
static void test_self_lookup(void)
{
	struct procmaps *m = NULL;
	const struct procmap *e;
	struct elfsym *syms = NULL;
	uint64_t addr = (uint64_t)(uintptr_t)test_symbols_marker, vaddr, off = 99;
	struct symcache *cache = NULL;
	struct symcache_stats st;
	struct elfsym *again = NULL;
	int fd;

	CHECK_INT(procmaps__read(getpid(), &m), 0);
	e = procmaps__find(m, addr);
	CHECK_TRUE(e && (e->prot & PROCMAP_EXEC));
	if (!e)
		return;
	fd = open(e->path, O_RDONLY | O_CLOEXEC);
	CHECK_TRUE(fd >= 0);
	CHECK_INT(elfsym__new(fd, NULL, e->path, &syms), 0);
	close(fd);
	CHECK_INT(elfsym__source(syms), ELFSYM_SOURCE_SYMTAB);
	CHECK_TRUE(elfsym__build_id(syms) && strlen(elfsym__build_id(syms)) == 40);
	CHECK_INT(elfsym__offset_to_vaddr(syms, addr - e->start + e->offset, &vaddr), 0);
	CHECK_STR(elfsym__lookup(syms, vaddr, &off), "test_symbols_marker");
	CHECK_INT(off, 0);
	CHECK_STR(elfsym__lookup(syms, vaddr + 1, &off), "test_symbols_marker");
	CHECK_INT(off, 1);
	CHECK_INT(elfsym__offset_to_vaddr(syms, 1ull << 40, &vaddr), -ENOENT);

	/* Through the cache: parsed once, shared after. */
	CHECK_INT(symcache__new(4, &cache), 0);
	CHECK_INT(symcache__get(cache, getpid(), e, &again), 0);
	elfsym__unref(again);
	CHECK_INT(symcache__get(cache, getpid(), e, &again), 0);
	symcache__stats(cache, &st);
	CHECK_INT(st.misses, 1);
	CHECK_INT(st.hits, 1);
	CHECK_STR(elfsym__build_id(again), elfsym__build_id(syms));
	elfsym__unref(again);

	/* The vDSO, from our own image. */
	again = NULL;
	CHECK_INT(symcache__vdso(cache, &again), 0);
	CHECK_TRUE(again && elfsym__nr_symbols(again) > 0);
	elfsym__unref(again);
	symcache__free(cache);
	elfsym__unref(syms);
	procmaps__free(m);
}

/* The fixture's functions must resolve from its symtab, a debug file, or not at all. */
static void test_fixture(const char *path, enum elfsym_source want, const char *alpha,
			 const char *local, const char *reference)
{
	struct elfsym *syms = NULL, *ref = NULL;
	const char *names[] = { "hearth_fixture_alpha", "hearth_fixture_local" };
	const char *expect[] = { alpha, local };
	int fd = open(path, O_RDONLY | O_CLOEXEC), rfd = open(reference, O_RDONLY | O_CLOEXEC);

	CHECK_TRUE(fd >= 0 && rfd >= 0);
	CHECK_INT(elfsym__new(fd, NULL, path, &syms), 0);
	CHECK_INT(elfsym__new(rfd, NULL, reference, &ref), 0);
	close(fd);
	close(rfd);
	if (!syms || !ref)
		return;
	CHECK_INT(elfsym__source(syms), want);
	CHECK_STR(elfsym__build_id(syms), elfsym__build_id(ref));
	/* Find each function's address in the unstripped reference, then look it up. */
	for (size_t i = 0; i < 2; i++) {
		uint64_t v;
		int found = 0;

		for (v = 0x1000; v < 0x4000 && !found; v++) {
			const char *n = elfsym__lookup(ref, v, NULL);
			uint64_t off;

			if (n && !strcmp(n, names[i]) && elfsym__lookup(ref, v, &off) && off == 0)
				found = 1;
		}
		CHECK_TRUE(found);
		if (!found)
			continue;
		v--;
		if (expect[i])
			CHECK_STR(elfsym__lookup(syms, v, NULL), expect[i]);
		else
			CHECK_TRUE(elfsym__lookup(syms, v, NULL) == NULL ||
				   strcmp(elfsym__lookup(syms, v, NULL), names[i]) != 0);
	}
	elfsym__unref(syms);
	elfsym__unref(ref);
}

static void test_ksyms(void)
{
	char path[] = "/tmp/hearth-kallsyms-XXXXXX";
	static const char text[] = "ffffffff81000000 T _stext\n"
				   "ffffffff81000100 t do_one\n"
				   "ffffffff81000200 D some_data\n"
				   "ffffffffc0000000 t mod_func\t[mymod]\n";
	static const char hidden[] = "0000000000000000 T _stext\n0000000000000000 t x\n";
	struct ksyms *k = NULL;
	const char *module = NULL;
	int fd = mkstemp(path);

	CHECK_TRUE(fd >= 0);
	CHECK_INT(write(fd, text, sizeof(text) - 1), sizeof(text) - 1);
	close(fd);
	CHECK_INT(ksyms__load(path, &k), 0);
	CHECK_INT(ksyms__count(k), 3);
	CHECK_STR(ksyms__lookup(k, 0xffffffff81000150, &module), "do_one");
	CHECK_STR(module, "");
	CHECK_STR(ksyms__lookup(k, 0xffffffffc0000010, &module), "mod_func");
	CHECK_STR(module, "mymod");
	CHECK_TRUE(ksyms__lookup(k, 0x1000, NULL) == NULL);
	ksyms__free(k);

	fd = open(path, O_WRONLY | O_TRUNC);
	CHECK_INT(write(fd, hidden, sizeof(hidden) - 1), sizeof(hidden) - 1);
	close(fd);
	k = NULL;
	CHECK_INT(ksyms__load(path, &k), -EPERM);
	unlink(path);
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: test-symbols FIXTURE DEBUGLINKED STRIPPED\n");
		return 2;
	}
	test_procmaps_parse();
	test_self_lookup();
	test_fixture(argv[1], ELFSYM_SOURCE_SYMTAB, "hearth_fixture_alpha", "hearth_fixture_local", argv[1]);
	test_fixture(argv[2], ELFSYM_SOURCE_DEBUGFILE, "hearth_fixture_alpha", "hearth_fixture_local", argv[1]);
	/* Stripped bare: only .dynsym is left, which holds neither function. */
	test_fixture(argv[3], ELFSYM_SOURCE_NONE, NULL, NULL, argv[1]);
	test_ksyms();
	return check_finish("test-symbols");
}
