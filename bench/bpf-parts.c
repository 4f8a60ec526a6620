// SPDX-License-Identifier: MIT
/*
 * Where the BPF program's time goes: loads the sampler four times on target
 * PID, with kernel and user stacks each switched on or off, samples it for a
 * few seconds at 999 Hz, and prints the program's run time per run from the
 * kernel's own accounting (kernel.bpf_stats_enabled, switched on here and
 * restored). Usage: bpf-parts PID [SECONDS]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sampler.h"

static int count_record(void *ctx, const void *data, size_t size)
{
	(void)data;
	(void)size;
	(*(unsigned long *)ctx)++;
	return 0;
}

static int write_sysctl(const char *value, char *old, size_t size)
{
	const char *path = "/proc/sys/kernel/bpf_stats_enabled";
	FILE *f = fopen(path, "r+");

	if (!f)
		return -errno;
	if (old && !fgets(old, (int)size, f))
		old[0] = '\0';
	rewind(f);
	fputs(value, f);
	return fclose(f) ? -errno : 0;
}

int main(int argc, char **argv)
{
	char old[8] = "0";
	pid_t pid = argc > 1 ? atoi(argv[1]) : 0;
	int seconds = argc > 2 ? atoi(argv[2]) : 3;

	if (pid <= 0 || seconds <= 0) {
		fprintf(stderr, "usage: bpf-parts PID [SECONDS]\n");
		return 2;
	}
	if (write_sysctl("1", old, sizeof(old)) < 0) {
		fprintf(stderr, "bpf-parts: cannot enable kernel.bpf_stats_enabled: %s\n", strerror(errno));
		return 1;
	}
	printf("| kernel stack | user stack | BPF per run | runs | records |\n| --- | --- | --- | --- | --- |\n");
	for (int mode = 0; mode < 4; mode++) {
		struct sampler_options o = {
			.rate_hz = 999,
			.kernel_stacks = mode & 1,
			.user_stacks = mode & 2,
		};
		struct sampler *s = NULL;
		unsigned long records = 0;
		uint64_t run_time = 0, runs = 0;
		int r;

		r = sampler__new(&o, count_record, &records, &s);
		if (r == 0)
			r = sampler__add_target(s, pid, 0);
		if (r == 0)
			r = sampler__start(s);
		if (r < 0) {
			fprintf(stderr, "bpf-parts: cannot sample pid %d: %s\n", pid, strerror(-r));
			sampler__free(s);
			write_sysctl(old, NULL, 0);
			return 1;
		}
		for (int i = 0; i < seconds * 10; i++) {
			usleep(100000);
			sampler__drain(s);
		}
		sampler__stop(s);
		sampler__drain(s);
		sampler__prog_stats(s, &run_time, &runs);
		printf("| %s | %s | %.2f us | %llu | %lu |\n", mode & 1 ? "on" : "off", mode & 2 ? "on" : "off",
		       runs ? run_time / 1e3 / runs : 0.0, (unsigned long long)runs, records);
		sampler__free(s);
	}
	write_sysctl(old, NULL, 0);
	return 0;
}
