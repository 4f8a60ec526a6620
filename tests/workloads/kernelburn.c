// SPDX-License-Identifier: MIT
/*
 * A workload that spends most of its time in the kernel: main -> read_loop ->
 * read(2) of /dev/zero into a large buffer (the kernel clears user memory),
 * so samples have kernel frames on top of main -> read_loop.
 * Usage: kernelburn [SECONDS]. Built with frame pointers.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * read(2) issued from this function itself: libc's read() wrapper sets up no
 * frame pointer, and a frame-pointer walk from inside it would lose its caller.
 */
static inline __attribute__((always_inline)) long raw_read(int fd, void *buf, size_t len)
{
#if defined(__x86_64__)
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(0L /* __NR_read */), "D"((long)fd), "S"(buf), "d"(len)
			 : "rcx", "r11", "memory");
	return ret;
#else
	return read(fd, buf, len);
#endif
}

__attribute__((noinline)) void read_loop(int fd, double seconds)
{
	static char buf[1 << 20];
	double end = now() + seconds;

	while (now() < end)
		if (raw_read(fd, buf, sizeof(buf)) < 0) {
			fprintf(stderr, "kernelburn: read failed\n");
			exit(1);
		}
	__asm__ volatile("" ::: "memory");
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 5.0;
	int fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);

	if (fd < 0 || seconds <= 0) {
		fprintf(stderr, "usage: kernelburn [SECONDS]\n");
		return 2;
	}
	read_loop(fd, seconds);
	close(fd);
	return 0;
}
