/* SPDX-License-Identifier: MIT */
/*
 * The shared-memory ring: a fixed-size memory-mapped file that one writer
 * (hearthd) appends aggregated profile data to, overwriting the oldest, and
 * any number of readers map read-only and read without ever blocking it.
 * The byte layout is documented in docs/ring.md; this header mirrors it.
 *
 * The data area is a circular log of records at 16-byte aligned logical
 * positions (a position counts every byte ever written; the place in the
 * file is position % data_size, and a record never wraps: a PAD record fills
 * the end instead). Dictionary records (STRING, MAPPING, FRAME, STACK)
 * define ids that SLOT records (one time slot of aggregated samples)
 * reference; an EPOCH record starts a new id space (a writer restarting or
 * starting its dictionary over). The writer defines whatever a slot uses
 * before the slot, and defines again anything last defined more than a
 * quarter of the ring ago, so only slots in the oldest quarter can miss a
 * definition (readers count those).
 *
 * Lock-free reading: the writer first moves `tail` past what it is about to
 * overwrite, then writes, then moves `head`. A reader copies a record, then
 * checks that `tail` has not passed it (else the copy may be torn and is
 * dropped), that the record names its own position (else it is stale or
 * the file is damaged), and that its checksum holds (else it is damaged).
 */
#ifndef HEARTH_RING_H
#define HEARTH_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "profile.h"

#define RING_MAGIC "HEARTHR1"
#define RING_VERSION 3
#define RING_HEADER_SIZE 4096
#define RING_ALIGN 16
#define RING_MIN_DATA_SIZE (1ull << 20)
#define RING_MAX_DATA_SIZE (1ull << 36)
#define RING_DEFAULT_DATA_SIZE (64ull << 20)
#define RING_DEFAULT_PATH "/dev/shm/hearth.ring"
/* Marks the high half of every record's type word. */
#define RING_RECORD_MARK 0x48520000u

/* At offset 0 of the file; little-endian, as everything in it. */
struct ring_file_header {
	char magic[8];        /* RING_MAGIC, no NUL */
	uint32_t version;     /* RING_VERSION */
	uint32_t header_size; /* RING_HEADER_SIZE: the data area starts here */
	uint64_t data_size;   /* a power of two */
	uint64_t created_ns;  /* CLOCK_REALTIME when the file was made */
	/* Updated by the writer as it goes; 8-byte aligned, read atomically. */
	uint64_t head;         /* position after the last complete record */
	uint64_t tail;         /* position of the oldest record not being overwritten */
	uint64_t epoch;        /* the current epoch: writer opens and dictionary restarts */
	uint64_t heartbeat_ns; /* CLOCK_REALTIME of the writer's last slot */
	uint32_t writer_pid;   /* the writer's pid, 0 once it closed the ring */
	uint32_t _pad;
};

enum ring_record_type {
	RING_REC_PAD = 1,
	RING_REC_EPOCH = 2,
	RING_REC_STRING = 3,
	RING_REC_MAPPING = 4,
	RING_REC_FRAME = 5,
	RING_REC_STACK = 6,
	RING_REC_SLOT = 7,
};

/* A PAD record has only the first 16 bytes: type, size and pos. */
struct ring_record {
	uint32_t type; /* RING_RECORD_MARK | enum ring_record_type */
	uint32_t size; /* bytes, this header included; a multiple of RING_ALIGN */
	uint64_t pos;  /* the record's own position */
	uint32_t crc;  /* zlib crc32 of the size - 24 bytes after this header */
	uint32_t _pad;
};

struct ring_epoch {
	uint64_t epoch;
	uint64_t time_ns; /* CLOCK_REALTIME */
	uint32_t rate_hz;
	uint32_t pid;     /* the writer's */
};

struct ring_string {
	uint32_t id;
	uint32_t len; /* bytes that follow, no NUL */
};

struct ring_mapping {
	uint32_t id; /* >= 1 */
	uint32_t file;
	uint32_t build_id;
	uint32_t _pad;
	uint64_t start;
	uint64_t limit;
	uint64_t offset;
};

struct ring_frame {
	uint32_t id;
	uint32_t _pad;
	struct profile_frame frame; /* string and mapping ids of this epoch */
};

struct ring_stack {
	uint32_t id;
	uint32_t n; /* frame ids that follow, leaf first */
};

struct ring_slot {
	uint64_t start_ns;    /* CLOCK_REALTIME */
	uint64_t duration_ns;
	uint64_t period_ns;   /* the mean interval between samples (each sample carries its weight) */
	uint64_t lost;        /* samples the sampler dropped during the slot */
	uint32_t nr;          /* struct profile_sample entries that follow */
	uint32_t rate_hz;
};

struct ring_writer;

/*
 * Open (or create, mode 0640, never through a symlink) the ring at @path for
 * writing. @data_size 0 takes an existing file's size, or the default for a
 * new one. An existing ring keeps its history: a new epoch starts after it.
 * Returns 0, -EBUSY (another writer holds it), -EBADMSG (not a ring, damaged,
 * or another version), -EINVAL (@data_size not a power of two in range, or
 * not the existing file's), -ENOSPC (no room on its file system for a new
 * ring's blocks, reserved now; the file is not left behind), or another -errno.
 */
int ring_writer__open(const char *path, uint64_t data_size, uint32_t rate_hz,
		      struct ring_writer **ret);
struct ring_writer *ring_writer__free(struct ring_writer *w);
static inline void ring_writer__freep(struct ring_writer **w)
{
	ring_writer__free(*w);
}

/*
 * Append one time slot: the samples of @p (their stacks, frames, mappings and
 * strings defined first where needed). Ids are @p's: the same @p must be
 * used for every slot of an epoch. Returns 0 or -errno (-E2BIG: a record
 * larger than an eighth of the ring).
 */
int ring_writer__write_slot(struct ring_writer *w, const struct profile *p, uint64_t start_ns,
			    uint64_t duration_ns, uint64_t lost);

/* Start a new epoch: the caller is about to start its dictionary over. */
int ring_writer__new_epoch(struct ring_writer *w);

/* Bytes written so far (positions advanced), for rates. */
uint64_t ring_writer__written(const struct ring_writer *w);

/*
 * Is the file the ring was opened from still the ring? -ENOENT when it was
 * unlinked, -ESTALE when another file took its name (readers would read
 * that one), 0 when all is well. The writer keeps writing its own mapping
 * either way; what is written there is no longer anyone's to read.
 */
int ring_writer__check(const struct ring_writer *w);

/* Which samples a reader keeps. */
struct ring_query {
	uint64_t since_ns; /* CLOCK_REALTIME; slots starting before are skipped (0: all) */
	uint64_t until_ns; /* slots starting at or after are skipped (0: no limit) */
	pid_t pid;         /* 0: every process */
	const char *comm;  /* NULL: every process name */
	const char *container; /* NULL: everywhere; else a container id or a prefix of one */
};

struct ring_read_stats {
	uint64_t slots;      /* slots read (in the query's time range) */
	uint64_t samples;    /* samples kept */
	uint64_t unresolved; /* slot entries dropped: a definition was already overwritten */
	uint64_t overrun;    /* records the writer overwrote while we read them */
	uint64_t epochs;     /* epochs seen */
	uint64_t first_ns;   /* start of the first slot read, 0 if none */
	uint64_t last_ns;    /* end of the last slot read */
};

struct ring_reader;

/*
 * Map the ring at @path read-only and check its header and geometry.
 * Returns 0, -ENOENT, -EACCES, -EBADMSG (not a ring, another version,
 * inconsistent geometry or truncated), or another -errno.
 */
int ring_reader__open(const char *path, struct ring_reader **ret);
struct ring_reader *ring_reader__free(struct ring_reader *r);
static inline void ring_reader__freep(struct ring_reader **r)
{
	ring_reader__free(*r);
}

/* A copy of the header as it is now. */
void ring_reader__header(const struct ring_reader *r, struct ring_file_header *ret);

/*
 * When the oldest slot still in the ring starts and the newest ends
 * (CLOCK_REALTIME; 0 and 0 when it holds none), reading only slot headers.
 * Returns 0 or -EBADMSG.
 */
int ring_reader__span(struct ring_reader *r, uint64_t *ret_oldest_ns, uint64_t *ret_newest_ns);

/*
 * Read everything in the ring now (from the oldest record to the head as it
 * was when the call started) that @q selects into @out, whose ids are its
 * own. Fills @out's info (time, duration, period, rate, lost). Returns 0,
 * -EBADMSG when a record that the writer has not overwritten does not check
 * out (a damaged file), -E2BIG when @out is full, or -ENOMEM.
 */
int ring_reader__read(struct ring_reader *r, const struct ring_query *q, struct profile *out,
		      struct ring_read_stats *ret_stats);

#endif
