// SPDX-License-Identifier: MIT
/*
 * Runs a libFuzzer harness without libFuzzer, for `meson test`: every file
 * given (or every file in a directory given) as is, then truncated at a
 * spread of lengths and with bytes flipped at a spread of places, so a saved
 * corpus also covers its damaged variants. Build the harness with clang
 * -fsanitize=fuzzer,address instead to fuzz for real (tests/fuzz/README.md).
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned long runs;

static void run(const uint8_t *data, size_t size)
{
	/* A copy of exactly @size bytes, so reading past the end is a real overflow under ASan. */
	uint8_t *copy = malloc(size ? size : 1);

	if (!copy)
		abort();
	memcpy(copy, data, size);
	LLVMFuzzerTestOneInput(copy, size);
	free(copy);
	runs++;
}

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data;
	long size;

	if (!f)
		return -errno;
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	rewind(f);
	data = malloc(size ? size : 1);
	if (!data || fread(data, 1, size, f) != (size_t)size) {
		fclose(f);
		free(data);
		return -EIO;
	}
	fclose(f);
	run(data, size);
	for (int i = 1; i <= 64; i++)
		run(data, (size_t)size * i / 65);
	for (int i = 0; i < 256 && size; i++) {
		size_t at = (size_t)((uint64_t)size * i / 256);
		uint8_t saved = data[at];

		data[at] ^= 0xff;
		run(data, size);
		data[at] = 0x7f;
		run(data, size);
		data[at] = saved;
	}
	free(data);
	return 0;
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		struct stat st;
		int r;

		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		if (S_ISDIR(st.st_mode)) {
			DIR *d = opendir(argv[i]);
			struct dirent *de;

			while (d && (de = readdir(d))) {
				char path[4096];

				if (de->d_name[0] == '.')
					continue;
				snprintf(path, sizeof(path), "%s/%s", argv[i], de->d_name);
				if ((r = replay_file(path)) < 0) {
					fprintf(stderr, "replay: %s: %s\n", path, strerror(-r));
					return 1;
				}
			}
			if (d)
				closedir(d);
		} else if ((r = replay_file(argv[i])) < 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(-r));
			return 1;
		}
	}
	printf("replay: %lu inputs, no crash\n", runs);
	return runs ? 0 : 1;
}
