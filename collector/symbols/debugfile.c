// SPDX-License-Identifier: MIT
#include "debugfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "cleanup.h"

int debugfile_init_libelf(void)
{
	static int done;

	if (!done) {
		if (elf_version(EV_CURRENT) == EV_NONE)
			return -ENOTSUP;
		done = 1;
	}
	return 0;
}

Elf_Scn *debugfile_section(Elf *elf, uint32_t type, const char *name)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	if (elf_getshdrstrndx(elf, &shstrndx) < 0)
		return NULL;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		const char *n;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != type)
			continue;
		if (!name)
			return scn;
		n = elf_strptr(elf, shstrndx, sh.sh_name);
		if (n && !strcmp(n, name))
			return scn;
	}
	return NULL;
}

size_t debugfile_build_id(Elf *elf, char *buf)
{
	Elf_Scn *scn = NULL;

	buf[0] = '\0';
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;
		size_t off = 0, name_off, desc_off;
		GElf_Nhdr nh;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE)
			continue;
		d = elf_getdata(scn, NULL);
		if (!d)
			continue;
		while ((off = gelf_getnote(d, off, &nh, &name_off, &desc_off)) > 0) {
			const unsigned char *desc = (const unsigned char *)d->d_buf + desc_off;

			if (nh.n_type != NT_GNU_BUILD_ID || nh.n_namesz != 4 ||
			    memcmp((const char *)d->d_buf + name_off, "GNU", 4) != 0)
				continue;
			if (nh.n_descsz == 0 || nh.n_descsz > DEBUGFILE_MAX_BUILD_ID)
				continue;
			for (size_t i = 0; i < nh.n_descsz; i++)
				snprintf(buf + 2 * i, 3, "%02x", desc[i]);
			return nh.n_descsz;
		}
	}
	return 0;
}

/* Open @file and hand it to @fn, after checking its CRC when @check_crc. */
static int debugfile_try(const char *file, bool check_crc, uint32_t crc, debugfile_fn fn, void *arg)
{
	_cleanup_close_ int fd = open(file, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	if (check_crc) {
		unsigned char buf[65536];
		uLong c = crc32(0L, Z_NULL, 0);
		ssize_t n;

		while ((n = read(fd, buf, sizeof(buf))) > 0)
			c = crc32(c, buf, (uInt)n);
		if (n < 0 || (uint32_t)c != crc || lseek(fd, 0, SEEK_SET) != 0)
			return 0;
	}
	return fn(fd, arg);
}

int debugfile_find(Elf *elf, const char *build_id, const char *root, const char *path,
		   debugfile_fn fn, void *arg)
{
	const char *roots[2] = { root, NULL };
	char file[4096];
	Elf_Scn *scn;
	int r;

	if (build_id && build_id[0] && build_id[1] && build_id[2]) {
		for (size_t i = 0; i < ARRAY_SIZE(roots); i++) {
			snprintf(file, sizeof(file), "%s/usr/lib/debug/.build-id/%.2s/%s.debug",
				 roots[i] ? roots[i] : "", build_id, build_id + 2);
			r = debugfile_try(file, false, 0, fn, arg);
			if (r != 0)
				return r;
		}
	}

	scn = debugfile_section(elf, SHT_PROGBITS, ".gnu_debuglink");
	if (scn && path) {
		Elf_Data *d = elf_getdata(scn, NULL);
		const char *name;
		size_t name_len, crc_off;
		uint32_t crc;
		char dir[4096];
		const char *slash;

		if (!d || d->d_size < 8)
			return 0;
		name = d->d_buf;
		name_len = strnlen(name, d->d_size);
		crc_off = (name_len + 4) & ~(size_t)3;
		if (name_len == 0 || crc_off + 4 > d->d_size || strchr(name, '/'))
			return 0;
		memcpy(&crc, (const char *)d->d_buf + crc_off, 4);
		slash = strrchr(path, '/');
		snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) : 0, path);
		for (size_t i = 0; i < ARRAY_SIZE(roots); i++) {
			const char *rt = roots[i] ? roots[i] : "";
			const char *fmts[] = { "%s%s/%s", "%s%s/.debug/%s", "%s/usr/lib/debug%s/%s" };

			for (size_t j = 0; j < ARRAY_SIZE(fmts); j++) {
				snprintf(file, sizeof(file), fmts[j], rt, dir, name);
				if (!strcmp(file + strlen(rt), path))
					continue; /* the stripped file itself */
				r = debugfile_try(file, true, crc, fn, arg);
				if (r != 0)
					return r;
			}
		}
	}
	return 0;
}
