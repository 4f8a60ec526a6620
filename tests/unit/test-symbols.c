// SPDX-License-Identifier: MIT
/*
 * /proc/PID/maps parsing, ELF symbol lookup (symtab, separate debug file via
 * .gnu_debuglink, dynsym only), the symbol cache and kallsyms parsing, on real
 * files: this test binary itself and the fixtures meson builds; PLT stubs
 * against what objdump calls them, in the fixtures and in libc.
 * Usage: test-symbols FIXTURE FIXTURE.stripped-debuglink FIXTURE.stripped
 *        OBJDUMP FIXTURE-IBT FIXTURE-NOPLT
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
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

/*
 * An exited process not yet reaped reads as no mappings: gone, not a process
 * with an empty address space whose table would replace the one its samples need.
 */
static void test_procmaps_zombie(void)
{
	struct procmaps *m = NULL;
	siginfo_t info;
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	CHECK_TRUE(pid > 0);
	if (pid <= 0)
		return;
	/* WNOWAIT: wait for the exit but leave the zombie in place. */
	CHECK_INT(waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT), 0);
	CHECK_INT(procmaps__read(pid, &m), -ESRCH);
	CHECK_TRUE(m == NULL);
	CHECK_INT(waitpid(pid, NULL, 0), pid);
	CHECK_INT(procmaps__read(pid, &m), -ESRCH);
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

#define PLT_MAX_LABELS 4096

/* A symbol objdump prints in a PLT section, and where it ends (the next one, or the section's end). */
struct plt_label {
	uint64_t addr, end;
	char name[256];
	char section[16];
};

/* The bytes an objdump -w instruction line shows for the instruction at its address. */
static uint64_t plt_insn_len(const char *line)
{
	const char *p = strchr(line, '\t');
	uint64_t n = 0;

	if (!p)
		return 0;
	for (p++; *p && *p != '\t' && *p != '\n';) {
		if (p[0] == ' ') {
			p++;
			continue;
		}
		if (!p[1] || !strchr("0123456789abcdef", p[0]) || !strchr("0123456789abcdef", p[1]))
			break;
		n++;
		p += 2;
	}
	return n;
}

/* Run objdump on @path's PLT sections and collect its labels. Returns how many, -1 on failure. */
static int plt_objdump(const char *objdump, const char *path, struct plt_label *labels)
{
	char cmd[8192], line[8192], section[16] = "";
	uint64_t section_end = 0;
	int n = 0;
	FILE *f;

	if (strchr(objdump, '\'') || strchr(path, '\''))
		return -1;
	snprintf(cmd, sizeof(cmd), "'%s' -dw -j .plt -j .plt.sec -j .plt.got '%s' 2>/dev/null",
		 objdump, path);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char name[300];
		uint64_t a;

		if (sscanf(line, "Disassembly of section %15[^:]:", section) == 1) {
			if (n > 0 && !labels[n - 1].end)
				labels[n - 1].end = section_end;
			section_end = 0;
		} else if (sscanf(line, "%" SCNx64 " <%299[^\n]", &a, name) == 2) {
			size_t len = strlen(name);

			if (len < 2 || strcmp(name + len - 2, ">:") || len - 2 >= sizeof(labels->name) ||
			    n >= PLT_MAX_LABELS)
				continue;
			name[len - 2] = '\0';
			if (n > 0 && !labels[n - 1].end)
				labels[n - 1].end = a;
			labels[n] = (struct plt_label){ .addr = a };
			snprintf(labels[n].name, sizeof(labels[n].name), "%s", name);
			snprintf(labels[n].section, sizeof(labels[n].section), "%s", section);
			n++;
		} else if (sscanf(line, " %" SCNx64 ":", &a) == 1 && a + plt_insn_len(line) > section_end) {
			section_end = a + plt_insn_len(line);
		}
	}
	if (n > 0 && !labels[n - 1].end)
		labels[n - 1].end = section_end;
	return pclose(f) == 0 ? n : -1;
}

/* What elfsym must call the bytes under @l: "x@plt" where objdump says so, else the section. */
static bool plt_name_ok(const struct elfsym *syms, const struct plt_label *l, const char *got)
{
	size_t len = strlen(l->name);
	char want[300];
	uint64_t resolver, off;
	const char *ifunc;

	if (len < 4 || strcmp(l->name + len - 4, "@plt") || strstr(l->name, "@plt-"))
		return !strcmp(got, l->section);
	if (!strcmp(got, l->name))
		return true;
	/* objdump's "*ABS*+0x9f550@plt" (IRELATIVE): we name the IFUNC at 0x9f550, as perf does. */
	if (sscanf(l->name, "*ABS*+0x%" SCNx64 "@plt", &resolver) != 1)
		return false;
	ifunc = elfsym__lookup(syms, resolver, &off);
	if (!ifunc || off)
		return false;
	snprintf(want, sizeof(want), "%s@plt", ifunc);
	return !strcmp(got, want);
}

/*
 * Every byte of @path's .plt, .plt.sec and .plt.got must have the name objdump
 * gives it (a PLT0 or lazy stub the section's, never the function before the
 * PLT), at its offset from the label. Each of @must (NULL-terminated, or
 * NULL) must name a 16-byte stub in @section.
 */
static void test_plt(const char *objdump, const char *path, const char *section,
		     const char *const *must)
{
	static struct plt_label labels[PLT_MAX_LABELS];
	struct elfsym *syms = NULL;
	uint64_t bad_addr = 0, checked = 0, off;
	const char *bad_name = NULL, *bad_want = NULL, *name;
	int n, bad = 0, fd = open(path, O_RDONLY | O_CLOEXEC);

	CHECK_TRUE(fd >= 0);
	if (fd < 0)
		return;
	CHECK_INT(elfsym__new(fd, NULL, path, &syms), 0);
	close(fd);
	n = plt_objdump(objdump, path, labels);
	CHECK_TRUE(n > 0);
	if (!syms || n <= 0) {
		elfsym__unref(syms);
		return;
	}
	for (int i = 0; i < n; i++) {
		const struct plt_label *l = &labels[i];

		for (uint64_t v = l->addr; v < l->end; v++, checked++) {
			name = elfsym__lookup(syms, v, &off);
			if (name && off == v - l->addr && plt_name_ok(syms, l, name))
				continue;
			if (!bad++) {
				bad_addr = v;
				bad_name = name;
				bad_want = l->name;
			}
		}
	}
	if (bad)
		fprintf(stderr, "%s: %d of %" PRIu64 " PLT bytes misnamed, first %#" PRIx64
			": \"%s\" where objdump says <%s>\n",
			path, bad, checked, bad_addr, bad_name ? bad_name : "(null)", bad_want);
	CHECK_INT(bad, 0);
	/* The lazy-binding stub PLT0 opens .plt: it is no part of _init. */
	CHECK_STR(labels[0].section, ".plt");
	CHECK_STR(elfsym__lookup(syms, labels[0].addr, NULL), ".plt");
	for (size_t m = 0; must && must[m]; m++) {
		const struct plt_label *found = NULL;

		for (int i = 0; i < n && !found; i++)
			if (!strcmp(labels[i].section, section) &&
			    (name = elfsym__lookup(syms, labels[i].addr, NULL)) && !strcmp(name, must[m]))
				found = &labels[i];
		if (!found)
			fprintf(stderr, "%s: no %s in %s\n", path, must[m], section);
		CHECK_TRUE(found != NULL);
		if (!found)
			continue;
		CHECK_INT(found->end - found->addr, 16);
		CHECK_STR(elfsym__lookup(syms, found->addr + 7, &off), must[m]);
		CHECK_INT(off, 7);
		name = elfsym__lookup(syms, found->end, NULL);
		CHECK_TRUE(!name || strcmp(name, must[m]));
	}
	printf("%s: %d PLT labels, %" PRIu64 " bytes named as objdump names them\n", path, n,
	       checked - bad);
	elfsym__unref(syms);
}

/* libc's own PLT: IRELATIVE entries, which ld puts out of .rela.plt order. */
static void test_plt_libc(const char *objdump)
{
	struct procmaps *m = NULL;
	const struct procmap *e;

	CHECK_INT(procmaps__read(getpid(), &m), 0);
	e = m ? procmaps__find(m, (uint64_t)(uintptr_t)getpid) : NULL;
	CHECK_TRUE(e && procmap__is_file(e));
	if (e && procmap__is_file(e))
		test_plt(objdump, e->path, ".plt", NULL);
	procmaps__free(m);
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
	if (argc != 7) {
		fprintf(stderr, "usage: test-symbols FIXTURE DEBUGLINKED STRIPPED OBJDUMP IBT NOPLT\n");
		return 2;
	}
	test_procmaps_parse();
	test_procmaps_zombie();
	test_self_lookup();
	test_fixture(argv[1], ELFSYM_SOURCE_SYMTAB, "hearth_fixture_alpha", "hearth_fixture_local", argv[1]);
	test_fixture(argv[2], ELFSYM_SOURCE_DEBUGFILE, "hearth_fixture_alpha", "hearth_fixture_local", argv[1]);
	/* Stripped bare: only .dynsym is left, which holds neither function. */
	test_fixture(argv[3], ELFSYM_SOURCE_NONE, NULL, NULL, argv[1]);
	/*
	 * The PLT is named from the file itself, whatever else it keeps; the
	 * IFUNC's entry from the symbols, or as objdump does when stripped.
	 */
	test_plt(argv[4], argv[1], ".plt", (const char *[]){ "getpid@plt", "hearth_fixture_beta@plt", NULL });
	test_plt(argv[4], argv[2], ".plt", (const char *[]){ "getpid@plt", "hearth_fixture_beta@plt", NULL });
	test_plt(argv[4], argv[3], ".plt", (const char *[]){ "getpid@plt", NULL });
	test_plt(argv[4], argv[5], ".plt.sec",
		 (const char *[]){ "getpid@plt", "hearth_fixture_beta@plt", NULL });
	test_plt(argv[4], argv[6], ".plt", NULL);
	test_plt_libc(argv[4]);
	test_ksyms();
	return check_finish("test-symbols");
}
