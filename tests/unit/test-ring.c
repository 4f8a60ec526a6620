// SPDX-License-Identifier: MIT
/*
 * The shared-memory ring: what a writer puts in comes out of a reader, the
 * oldest slots give way when it is full and nothing read is ever wrong, time
 * and process filters, a reopened ring keeps its history, one writer at a
 * time, symlinks and damaged files refused with an error, and a reader
 * racing a writer in another process sees only self-consistent data.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "ring.h"

#define MIB (1ull << 20)

static char dir[] = "/tmp/hearth-test-ring-XXXXXX";
static char path[256];

/*
 * A profile whose samples tell their own story: slot @slot has @n samples,
 * sample i on thread @slot with stack leaf "s<slot>_<i>" over root "root",
 * count i + 1 weighing (i + 1) * 10101010 + i ns, process "p<i % 3>" (pid 100 + i % 3).
 */
static struct profile *slot_profile(struct profile *p, unsigned int slot, unsigned int n)
{
	char name[64];

	profile__clear_samples(p);
	profile__info(p)->period_ns = 10101010;
	profile__info(p)->rate_hz = 99;
	for (unsigned int i = 0; i < n; i++) {
		struct profile_frame leaf = { .kind = PROFILE_FRAME_NATIVE }, root = { .kind = PROFILE_FRAME_NATIVE };
		struct profile_sample s = { .pid = 100 + i % 3, .tid = slot };
		uint32_t frames[2];

		snprintf(name, sizeof(name), "s%u_%u", slot, i);
		frames[0] = (uint32_t)profile__add_frame_named(p, &leaf, name);
		frames[1] = (uint32_t)profile__add_frame_named(p, &root, "root");
		s.stack = (uint32_t)profile__add_stack(p, frames, 2);
		snprintf(name, sizeof(name), "p%u", i % 3);
		s.comm = (uint32_t)profile__intern(p, name);
		s.thread_name = s.comm;
		profile__add_sample(p, &s, i + 1, (i + 1) * 10101010ull + i);
	}
	return p;
}

/* Every sample of @p matches what slot_profile() wrote; returns how many slots it saw. */
static unsigned int check_consistent(const struct profile *p)
{
	unsigned int bad = 0;
	static unsigned char seen[1 << 16];

	memset(seen, 0, sizeof(seen));
	for (size_t i = 0; i < profile__nr_samples(p); i++) {
		const struct profile_sample *s = profile__sample(p, i);
		const uint32_t *frames;
		unsigned int slot, idx;
		size_t n;
		char want[64];

		frames = profile__stack(p, s->stack, &n);
		if (n != 2 || sscanf(profile__str(p, profile__frame(p, frames[0])->name), "s%u_%u", &slot, &idx) != 2 ||
		    strcmp(profile__str(p, profile__frame(p, frames[1])->name), "root") != 0) {
			bad++;
			continue;
		}
		snprintf(want, sizeof(want), "p%u", idx % 3);
		if (slot != s->tid || s->count != idx + 1 || s->weight_ns != (idx + 1) * 10101010ull + idx ||
		    s->pid != 100 + idx % 3 ||
		    strcmp(profile__str(p, s->comm), want) != 0)
			bad++;
		seen[slot & 0xffff] = 1;
	}
	CHECK_INT(bad, 0);
	{
		unsigned int slots = 0;

		for (size_t i = 0; i < sizeof(seen); i++)
			slots += seen[i];
		return slots;
	}
}

static struct profile *read_all(const struct ring_query *q, struct ring_read_stats *st, int *ret)
{
	struct ring_reader *r = NULL;
	struct profile *out = NULL;

	*ret = ring_reader__open(path, &r);
	if (*ret < 0)
		return NULL;
	profile__new(&out);
	*ret = ring_reader__read(r, q, out, st);
	ring_reader__free(r);
	return out;
}

static void test_basic(void)
{
	struct ring_writer *w = NULL;
	struct profile *p = NULL, *out;
	struct ring_read_stats st;
	struct ring_query q = {};
	struct stat sb;
	int r;

	unlink(path);
	profile__new(&p);
	CHECK_INT(ring_writer__open(path, 3 * MIB, 99, &w), -EINVAL); /* not a power of two */
	CHECK_INT(ring_writer__open(path, MIB, 99, &w), 0);
	CHECK_INT(stat(path, &sb), 0);
	CHECK_INT(sb.st_mode & 0777, 0640);
	CHECK_INT(sb.st_size, RING_HEADER_SIZE + MIB);
	for (unsigned int slot = 1; slot <= 10; slot++)
		CHECK_INT(ring_writer__write_slot(w, slot_profile(p, slot, 5), slot * 1000000000ull,
						  1000000000ull, slot == 3 ? 7 : 0), 0);

	out = read_all(&q, &st, &r);
	CHECK_INT(r, 0);
	CHECK_INT(st.slots, 10);
	CHECK_INT(st.samples, 10 * 15);
	CHECK_INT(profile__total(out), 10 * 15);
	CHECK_INT(profile__total_weight(out), 10 * (15 * 10101010ull + 10));
	CHECK_INT(st.unresolved, 0);
	CHECK_INT(check_consistent(out), 10);
	CHECK_INT(profile__info(out)->lost_samples, 7);
	CHECK_INT(profile__info(out)->time_ns, 1000000000ull);
	CHECK_INT(profile__info(out)->duration_ns, 10000000000ull);
	CHECK_INT(profile__info(out)->period_ns, 10101010);
	profile__free(out);

	/* The span, from slot headers alone. */
	{
		struct ring_reader *rd = NULL;
		uint64_t oldest = 0, newest = 0;

		CHECK_INT(ring_reader__open(path, &rd), 0);
		CHECK_INT(ring_reader__span(rd, &oldest, &newest), 0);
		CHECK_INT(oldest, 1000000000ull);
		CHECK_INT(newest, 11000000000ull);
		ring_reader__free(rd);
	}

	/* Time and process filters. */
	q.since_ns = 4000000000ull;
	q.until_ns = 6000000000ull;
	out = read_all(&q, &st, &r);
	CHECK_INT(st.slots, 2);
	CHECK_INT(profile__total(out), 2 * 15);
	profile__free(out);
	q = (struct ring_query){ .pid = 101 };
	out = read_all(&q, &st, &r);
	CHECK_INT(profile__total(out), 10 * (2 + 5));
	profile__free(out);
	q = (struct ring_query){ .comm = "p2" };
	out = read_all(&q, &st, &r);
	CHECK_INT(profile__total(out), 10 * 3);
	profile__free(out);

	/* One writer at a time. */
	{
		struct ring_writer *w2 = NULL;

		CHECK_INT(ring_writer__open(path, 0, 99, &w2), -EBUSY);
	}
	ring_writer__free(w);

	/* Reopened (a daemon restart): the history stays, a new epoch follows it. */
	CHECK_INT(ring_writer__open(path, 2 * MIB, 99, &w), -EINVAL); /* not its size */
	CHECK_INT(ring_writer__open(path, 0, 99, &w), 0);
	profile__free(p);
	profile__new(&p); /* a new process: new ids */
	CHECK_INT(ring_writer__write_slot(w, slot_profile(p, 11, 4), 11000000000ull, 1000000000ull, 0), 0);
	q = (struct ring_query){};
	out = read_all(&q, &st, &r);
	CHECK_INT(r, 0);
	CHECK_INT(st.epochs, 2);
	CHECK_INT(st.slots, 11);
	CHECK_INT(profile__total(out), 10 * 15 + 10);
	CHECK_INT(check_consistent(out), 11);
	profile__free(out);
	ring_writer__free(w);
	profile__free(p);
}

static void test_wrap(void)
{
	struct ring_writer *w = NULL;
	struct profile *p = NULL, *out;
	struct ring_read_stats st;
	struct ring_query q = {};
	unsigned int slots = 3000, seen;
	int r;

	unlink(path);
	profile__new(&p);
	CHECK_INT(ring_writer__open(path, MIB, 99, &w), 0);
	/* Some samples recur (same stacks), most are new: the dictionary keeps growing. */
	for (unsigned int slot = 1; slot <= slots; slot++)
		if (ring_writer__write_slot(w, slot_profile(p, slot, 8), slot * 1000000000ull,
					    1000000000ull, 0) < 0)
			CHECK_TRUE(false);
	CHECK_TRUE(ring_writer__written(w) > 2 * MIB);
	out = read_all(&q, &st, &r);
	CHECK_INT(r, 0);
	seen = check_consistent(out);
	/* The oldest slots gave way; the newest are all there. */
	CHECK_TRUE(seen < slots && seen > 100);
	/* Only slots in the oldest quarter may miss a definition. */
	CHECK_TRUE(seen <= st.slots && seen >= st.slots * 3 / 4);
	q.since_ns = (uint64_t)(slots - 50) * 1000000000ull;
	profile__free(out);
	out = read_all(&q, &st, &r);
	CHECK_INT(st.slots, 51);
	CHECK_INT(st.unresolved, 0);
	CHECK_INT(profile__total(out), 51 * 36);
	profile__free(out);
	ring_writer__free(w);
	profile__free(p);
}

static void test_damaged(void)
{
	struct ring_writer *w = NULL;
	struct ring_reader *rd = NULL;
	struct profile *p = NULL, *out;
	struct ring_read_stats st;
	struct ring_query q = {};
	char link[300];
	int fd, r;

	unlink(path);
	profile__new(&p);
	CHECK_INT(ring_writer__open(path, MIB, 99, &w), 0);
	for (unsigned int slot = 1; slot <= 5; slot++)
		ring_writer__write_slot(w, slot_profile(p, slot, 5), slot, 1, 0);
	ring_writer__free(w);
	profile__free(p);

	/* A symlink is refused, by readers and writers. */
	snprintf(link, sizeof(link), "%s/link", dir);
	CHECK_INT(symlink(path, link), 0);
	CHECK_INT(ring_reader__open(link, &rd), -EBADMSG);
	CHECK_INT(ring_writer__open(link, 0, 99, &w), -ELOOP);
	unlink(link);

	/* A record in the middle damaged: an error, not a crash or a wrong profile. */
	fd = open(path, O_RDWR);
	CHECK_TRUE(fd >= 0);
	CHECK_INT(pwrite(fd, "\xff\xff\xff\xff", 4, RING_HEADER_SIZE + 256), 4);
	out = read_all(&q, &st, &r);
	CHECK_INT(r, -EBADMSG);
	profile__free(out);
	/* And the writer will not reopen it either... */
	CHECK_INT(pwrite(fd, "XXXX", 4, 0), 4);
	CHECK_INT(ring_writer__open(path, 0, 99, &w), -EBADMSG);
	CHECK_INT(ring_reader__open(path, &rd), -EBADMSG);
	/* ...nor a truncated one. */
	CHECK_INT(pwrite(fd, RING_MAGIC, 8, 0), 8);
	CHECK_INT(ftruncate(fd, RING_HEADER_SIZE + MIB / 2), 0);
	CHECK_INT(ring_reader__open(path, &rd), -EBADMSG);
	CHECK_INT(ftruncate(fd, 100), 0);
	CHECK_INT(ring_reader__open(path, &rd), -EBADMSG);
	close(fd);
	CHECK_INT(ring_reader__open("/nonexistent/ring", &rd), -ENOENT);
}

/* A writer in a child process as fast as it can; the parent reads all along. */
static void test_race(void)
{
	struct ring_writer *w = NULL;
	struct profile *p = NULL, *out;
	struct ring_read_stats st;
	struct ring_query q = {};
	uint64_t overruns = 0;
	unsigned int reads = 0;
	pid_t pid;
	int r, status;

	unlink(path);
	CHECK_INT(ring_writer__open(path, MIB, 99, &w), 0);
	pid = fork();
	if (pid == 0) {
		profile__new(&p);
		for (unsigned int slot = 1;; slot++)
			if (ring_writer__write_slot(w, slot_profile(p, slot % 60000 + 1, 8), slot, 1, 0) < 0)
				_exit(1);
	}
	ring_writer__free(w);
	for (int i = 0; i < 200; i++) {
		out = read_all(&q, &st, &r);
		if (r != 0) {
			CHECK_INT(r, 0);
			break;
		}
		check_consistent(out);
		overruns += st.overrun;
		reads++;
		profile__free(out);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	CHECK_INT(reads, 200);
	printf("ring: 200 reads racing a writer, %llu overruns noticed\n", (unsigned long long)overruns);
	/* After a SIGKILL the ring reads cleanly and reopens. */
	out = read_all(&q, &st, &r);
	CHECK_INT(r, 0);
	check_consistent(out);
	profile__free(out);
	CHECK_INT(ring_writer__open(path, 0, 99, &w), 0);
	ring_writer__free(w);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/ring", dir);
	test_basic();
	test_wrap();
	test_damaged();
	test_race();
	unlink(path);
	rmdir(dir);
	return check_finish("ring");
}
