// SPDX-License-Identifier: MIT
#include "ring.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "cleanup.h"
#include "log.h"

/* Dictionary kinds, indexing the per-id tables of writer and reader. */
enum { DEF_STRING, DEF_MAPPING, DEF_FRAME, DEF_STACK, DEF_KINDS };

static const uint64_t def_limit[DEF_KINDS] = {
	[DEF_STRING] = PROFILE_MAX_STRINGS,
	[DEF_MAPPING] = PROFILE_MAX_FRAMES + 1,
	[DEF_FRAME] = PROFILE_MAX_FRAMES,
	[DEF_STACK] = PROFILE_MAX_STACKS,
};

static size_t align_up(size_t n)
{
	return (n + RING_ALIGN - 1) & ~(size_t)(RING_ALIGN - 1);
}

static bool size_ok(uint64_t size)
{
	return size >= RING_MIN_DATA_SIZE && size <= RING_MAX_DATA_SIZE && !(size & (size - 1));
}

/* Whether the header describes a ring of @file_size bytes we can read. */
static bool header_ok(const struct ring_file_header *h, uint64_t file_size)
{
	uint64_t head = __atomic_load_n(&h->head, __ATOMIC_ACQUIRE);
	uint64_t tail = __atomic_load_n(&h->tail, __ATOMIC_ACQUIRE);

	return !memcmp(h->magic, RING_MAGIC, sizeof(h->magic)) && h->version == RING_VERSION &&
	       h->header_size == RING_HEADER_SIZE && size_ok(h->data_size) &&
	       file_size == RING_HEADER_SIZE + h->data_size && tail <= head &&
	       head - tail <= h->data_size && !(head % RING_ALIGN) && !(tail % RING_ALIGN);
}

/* Whether @r, found at position @pos, looks like a record the writer wrote there. */
static bool record_ok(const struct ring_record *r, uint64_t pos, uint64_t data_size)
{
	uint32_t type = r->type & 0xffff;

	return (r->type & 0xffff0000u) == RING_RECORD_MARK && type >= RING_REC_PAD &&
	       type <= RING_REC_SLOT && r->size >= (type == RING_REC_PAD ? RING_ALIGN : sizeof(*r)) &&
	       !(r->size % RING_ALIGN) &&
	       (pos & (data_size - 1)) + r->size <= data_size && r->pos == pos;
}

/* ---- Writing ---- */

struct ring_writer {
	int fd;
	uint8_t *map;
	size_t map_size;
	struct ring_file_header *h;
	uint8_t *data;
	uint64_t size;
	uint64_t head, tail;
	uint64_t written;
	uint32_t rate_hz;
	uint32_t serial; /* of the slot being written */
	char *path;      /* as opened, to notice the file unlinked or replaced */
	dev_t dev;
	ino_t ino;
	/* Per id of this epoch: 1 + position of its last definition (0: never). */
	uint64_t *def_pos[DEF_KINDS];
	/* Per stack and frame id: the slot serial that last checked it. */
	uint32_t *checked[DEF_KINDS];
	size_t def_cap[DEF_KINDS];
};

/* Make every id below @id + 1 of @kind addressable. */
static int writer_grow(struct ring_writer *w, int kind, uint64_t id)
{
	size_t cap = w->def_cap[kind], n;
	uint64_t *pos;
	uint32_t *chk;

	if (id < cap)
		return 0;
	if (id >= def_limit[kind])
		return -E2BIG;
	n = cap ? cap : 1024;
	while (n <= id)
		n *= 2;
	pos = realloc(w->def_pos[kind], n * sizeof(*pos));
	if (!pos)
		return -ENOMEM;
	w->def_pos[kind] = pos;
	chk = realloc(w->checked[kind], n * sizeof(*chk));
	if (!chk)
		return -ENOMEM;
	w->checked[kind] = chk;
	memset(pos + cap, 0, (n - cap) * sizeof(*pos));
	memset(chk + cap, 0, (n - cap) * sizeof(*chk));
	w->def_cap[kind] = n;
	return 0;
}

/* Move the tail past whatever the next @size bytes at the head overwrite. */
static void writer_make_room(struct ring_writer *w, size_t size)
{
	uint64_t end = w->head + size;

	if (end - w->tail <= w->size)
		return;
	while (end - w->tail > w->size) {
		const struct ring_record *r = (const void *)(w->data + (w->tail & (w->size - 1)));

		if (w->tail >= w->head || !record_ok(r, w->tail, w->size)) {
			/* Our own old data does not hold together: drop it all. */
			w->tail = w->head;
			break;
		}
		w->tail += r->size;
	}
	/* Readers must see the new tail before any byte of the old records changes. */
	__atomic_store_n(&w->h->tail, w->tail, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* Append a record of @type with a payload in two parts; its position in *@ret_pos. */
static int writer_append(struct ring_writer *w, uint32_t type, const void *a, size_t alen,
			 const void *b, size_t blen, uint64_t *ret_pos)
{
	size_t size = align_up(sizeof(struct ring_record) + alen + blen);
	uint64_t phys = w->head & (w->size - 1);
	struct ring_record *r;

	if (size > w->size / 8)
		return -E2BIG;
	if (phys + size > w->size) {
		size_t pad = w->size - phys;

		writer_make_room(w, pad);
		r = (void *)(w->data + phys);
		r->type = RING_RECORD_MARK | RING_REC_PAD;
		r->size = (uint32_t)pad;
		r->pos = w->head; /* a pad has only these 16 bytes of header: it may be all there is */
		w->head += pad;
		w->written += pad;
		__atomic_store_n(&w->h->head, w->head, __ATOMIC_RELEASE);
		phys = 0;
	}
	writer_make_room(w, size);
	r = (void *)(w->data + phys);
	r->type = RING_RECORD_MARK | type;
	r->size = (uint32_t)size;
	r->pos = w->head;
	if (alen)
		memcpy((uint8_t *)(r + 1), a, alen);
	if (blen)
		memcpy((uint8_t *)(r + 1) + alen, b, blen);
	memset((uint8_t *)(r + 1) + alen + blen, 0, size - sizeof(*r) - alen - blen);
	r->crc = (uint32_t)crc32(0, (const Bytef *)(r + 1), (uInt)(size - sizeof(*r)));
	r->_pad = 0;
	if (ret_pos)
		*ret_pos = w->head;
	w->head += size;
	w->written += size;
	__atomic_store_n(&w->h->head, w->head, __ATOMIC_RELEASE);
	return 0;
}

/* Whether id @id of @kind must be defined (again) before the slot being written. */
static int writer_needs(struct ring_writer *w, int kind, uint64_t id, bool *ret)
{
	int r = writer_grow(w, kind, id);
	uint64_t p;

	if (r < 0)
		return r;
	p = w->def_pos[kind][id];
	/* Never defined, or defined in what is now the oldest three quarters. */
	*ret = !p || p - 1 + w->size / 4 < w->head;
	return 0;
}

static int writer_def(struct ring_writer *w, int kind, uint64_t id, uint32_t type, const void *a,
		      size_t alen, const void *b, size_t blen)
{
	uint64_t pos;
	int r = writer_append(w, type, a, alen, b, blen, &pos);

	if (r < 0)
		return r;
	w->def_pos[kind][id] = pos + 1;
	return 0;
}

static int writer_string(struct ring_writer *w, const struct profile *p, uint32_t id)
{
	struct ring_string s = { .id = id };
	const char *text;
	bool need;
	int r;

	if ((r = writer_needs(w, DEF_STRING, id, &need)) < 0 || !need)
		return r;
	text = profile__str(p, id);
	s.len = (uint32_t)strlen(text);
	return writer_def(w, DEF_STRING, id, RING_REC_STRING, &s, sizeof(s), text, s.len);
}

static int writer_mapping(struct ring_writer *w, const struct profile *p, uint32_t id)
{
	const struct profile_mapping *m = profile__mapping(p, id);
	struct ring_mapping rm = { .id = id };
	bool need;
	int r;

	if (!id || !m)
		return 0;
	if ((r = writer_string(w, p, m->file)) < 0 || (r = writer_string(w, p, m->build_id)) < 0)
		return r;
	if ((r = writer_needs(w, DEF_MAPPING, id, &need)) < 0 || !need)
		return r;
	rm.file = m->file;
	rm.build_id = m->build_id;
	rm.start = m->start;
	rm.limit = m->limit;
	rm.offset = m->offset;
	return writer_def(w, DEF_MAPPING, id, RING_REC_MAPPING, &rm, sizeof(rm), NULL, 0);
}

static int writer_frame(struct ring_writer *w, const struct profile *p, uint32_t id)
{
	const struct profile_frame *f = profile__frame(p, id);
	struct ring_frame rf = { .id = id };
	bool need;
	int r;

	if (!f)
		return -EINVAL;
	if ((r = writer_grow(w, DEF_FRAME, id)) < 0)
		return r;
	if (w->checked[DEF_FRAME][id] == w->serial)
		return 0;
	w->checked[DEF_FRAME][id] = w->serial;
	if ((r = writer_string(w, p, f->name)) < 0 || (r = writer_string(w, p, f->file)) < 0 ||
	    (r = writer_mapping(w, p, f->mapping)) < 0)
		return r;
	if ((r = writer_needs(w, DEF_FRAME, id, &need)) < 0 || !need)
		return r;
	rf.frame = *f;
	return writer_def(w, DEF_FRAME, id, RING_REC_FRAME, &rf, sizeof(rf), NULL, 0);
}

static int writer_stack(struct ring_writer *w, const struct profile *p, uint32_t id)
{
	struct ring_stack rs = { .id = id };
	const uint32_t *frames;
	size_t n;
	bool need;
	int r;

	if ((r = writer_grow(w, DEF_STACK, id)) < 0)
		return r;
	if (w->checked[DEF_STACK][id] == w->serial)
		return 0;
	w->checked[DEF_STACK][id] = w->serial;
	frames = profile__stack(p, id, &n);
	for (size_t i = 0; i < n; i++)
		if ((r = writer_frame(w, p, frames[i])) < 0)
			return r;
	if ((r = writer_needs(w, DEF_STACK, id, &need)) < 0 || !need)
		return r;
	rs.n = (uint32_t)n;
	return writer_def(w, DEF_STACK, id, RING_REC_STACK, &rs, sizeof(rs), frames, n * sizeof(*frames));
}

int ring_writer__new_epoch(struct ring_writer *w)
{
	struct ring_epoch e = { .time_ns = time_realtime_ns(), .rate_hz = w->rate_hz, .pid = (uint32_t)getpid() };

	for (int k = 0; k < DEF_KINDS; k++)
		if (w->def_pos[k])
			memset(w->def_pos[k], 0, w->def_cap[k] * sizeof(*w->def_pos[k]));
	e.epoch = w->h->epoch + 1;
	__atomic_store_n(&w->h->epoch, e.epoch, __ATOMIC_RELEASE);
	return writer_append(w, RING_REC_EPOCH, &e, sizeof(e), NULL, 0, NULL);
}

int ring_writer__write_slot(struct ring_writer *w, const struct profile *p, uint64_t start_ns,
			    uint64_t duration_ns, uint64_t lost)
{
	/* Entries per SLOT record, so a record stays within an eighth of the ring. */
	size_t max = (w->size / 8 - sizeof(struct ring_record) - sizeof(struct ring_slot)) /
		     sizeof(struct profile_sample);
	size_t n = profile__nr_samples(p);
	const struct profile_info *info = profile__info_const(p);
	int r;

	if (++w->serial == 0)
		w->serial = 1;
	for (size_t i = 0; i < n; i++) {
		const struct profile_sample *s = profile__sample(p, i);

		if ((r = writer_stack(w, p, s->stack)) < 0 || (r = writer_string(w, p, s->comm)) < 0 ||
		    (r = writer_string(w, p, s->thread_name)) < 0 || (r = writer_string(w, p, s->container)) < 0)
			return r;
	}
	/* An empty slot still marks time: readers see when nothing ran. */
	for (size_t done = 0; done < n || done == 0; done += max) {
		size_t k = n - done < max ? n - done : max;
		struct ring_slot rs = {
			.start_ns = start_ns,
			.duration_ns = duration_ns,
			.period_ns = info->period_ns,
			.lost = done ? 0 : lost,
			.nr = (uint32_t)k,
			.rate_hz = info->rate_hz,
		};

		r = writer_append(w, RING_REC_SLOT, &rs, sizeof(rs), k ? profile__sample(p, done) : NULL,
				  k * sizeof(struct profile_sample), NULL);
		if (r < 0)
			return r;
		if (n == 0)
			break;
	}
	__atomic_store_n(&w->h->heartbeat_ns, time_realtime_ns(), __ATOMIC_RELEASE);
	return 0;
}

int ring_writer__check(const struct ring_writer *w)
{
	struct stat st;

	/* By name first: a file renamed over the ring leaves ours with no link too. */
	if (stat(w->path, &st) < 0)
		return errno == ENOENT ? -ENOENT : -errno;
	if (st.st_dev != w->dev || st.st_ino != w->ino)
		return -ESTALE;
	if (fstat(w->fd, &st) < 0)
		return -errno;
	return st.st_nlink == 0 ? -ENOENT : 0;
}

uint64_t ring_writer__written(const struct ring_writer *w)
{
	return w->written;
}

int ring_writer__open(const char *path, uint64_t data_size, uint32_t rate_hz,
		      struct ring_writer **ret)
{
	_cleanup_(ring_writer__freep) struct ring_writer *w = calloc(1, sizeof(*w));
	struct stat st;
	bool fresh;
	void *map;
	int r;

	if (!w)
		return -ENOMEM;
	w->fd = -1;
	if (data_size && !size_ok(data_size))
		return -EINVAL;
	w->fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (w->fd < 0)
		return -errno;
	if (flock(w->fd, LOCK_EX | LOCK_NB) < 0)
		return errno == EWOULDBLOCK ? -EBUSY : -errno;
	if (fstat(w->fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EBADMSG;
	fresh = st.st_size == 0;
	if (fresh) {
		if (!data_size)
			data_size = RING_DEFAULT_DATA_SIZE;
		if (fchmod(w->fd, 0640) < 0 || ftruncate(w->fd, (off_t)(RING_HEADER_SIZE + data_size)) < 0)
			return -errno;
		/*
		 * Reserve every block now: a store into a MAP_SHARED page of a
		 * file system that has run out of space faults with SIGBUS, where
		 * a write would have returned an error. A ring that cannot have
		 * its blocks is not left behind half made.
		 */
		r = posix_fallocate(w->fd, 0, (off_t)(RING_HEADER_SIZE + data_size));
		if (r != 0) {
			unlink(path);
			return -r;
		}
	} else if ((uint64_t)st.st_size <= RING_HEADER_SIZE) {
		return -EBADMSG;
	}
	w->map_size = fresh ? RING_HEADER_SIZE + data_size : (size_t)st.st_size;
	map = mmap(NULL, w->map_size, PROT_READ | PROT_WRITE, MAP_SHARED, w->fd, 0);
	if (map == MAP_FAILED) {
		w->map = NULL;
		return -errno;
	}
	w->map = map;
	w->h = map;
	w->data = w->map + RING_HEADER_SIZE;
	if (fresh) {
		memcpy(w->h->magic, RING_MAGIC, sizeof(w->h->magic));
		w->h->version = RING_VERSION;
		w->h->header_size = RING_HEADER_SIZE;
		w->h->data_size = data_size;
		w->h->created_ns = time_realtime_ns();
	} else {
		if (!header_ok(w->h, (uint64_t)st.st_size))
			return -EBADMSG;
		if (data_size && data_size != w->h->data_size)
			return -EINVAL;
	}
	w->path = strdup(path);
	if (!w->path)
		return -ENOMEM;
	w->dev = st.st_dev;
	w->ino = st.st_ino;
	w->size = w->h->data_size;
	w->head = w->h->head;
	w->tail = w->h->tail;
	w->rate_hz = rate_hz;
	w->h->writer_pid = (uint32_t)getpid();
	r = ring_writer__new_epoch(w);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(w);
	return 0;
}

struct ring_writer *ring_writer__free(struct ring_writer *w)
{
	if (!w)
		return NULL;
	if (w->map) {
		w->h->writer_pid = 0;
		msync(w->map, w->map_size, MS_ASYNC);
		munmap(w->map, w->map_size);
	}
	safe_close(w->fd);
	free(w->path);
	for (int k = 0; k < DEF_KINDS; k++) {
		free(w->def_pos[k]);
		free(w->checked[k]);
	}
	free(w);
	return NULL;
}

/* ---- Reading ---- */

struct ring_reader {
	int fd;
	const uint8_t *map;
	size_t map_size;
	const struct ring_file_header *h;
	const uint8_t *data;
	uint64_t size;
	uint8_t *buf; /* a record copied out of the ring */
	size_t buf_cap;
	/* Per id of the current epoch: 1 + the id in the output profile (0: unknown). */
	uint32_t *tr[DEF_KINDS];
	size_t tr_cap[DEF_KINDS];
};

int ring_reader__open(const char *path, struct ring_reader **ret)
{
	_cleanup_(ring_reader__freep) struct ring_reader *r = calloc(1, sizeof(*r));
	struct stat st;
	void *map;

	if (!r)
		return -ENOMEM;
	r->fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (r->fd < 0)
		return errno == ELOOP ? -EBADMSG : -errno;
	if (fstat(r->fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size <= RING_HEADER_SIZE)
		return -EBADMSG;
	r->map_size = (size_t)st.st_size;
	map = mmap(NULL, r->map_size, PROT_READ, MAP_SHARED, r->fd, 0);
	if (map == MAP_FAILED)
		return -errno;
	r->map = map;
	r->h = map;
	if (!header_ok(r->h, (uint64_t)st.st_size))
		return -EBADMSG;
	r->size = r->h->data_size;
	r->data = r->map + RING_HEADER_SIZE;
	*ret = TAKE_PTR(r);
	return 0;
}

struct ring_reader *ring_reader__free(struct ring_reader *r)
{
	if (!r)
		return NULL;
	if (r->map)
		munmap((void *)r->map, r->map_size);
	safe_close(r->fd);
	free(r->buf);
	for (int k = 0; k < DEF_KINDS; k++)
		free(r->tr[k]);
	free(r);
	return NULL;
}

void ring_reader__header(const struct ring_reader *r, struct ring_file_header *ret)
{
	memcpy(ret, r->h, sizeof(*ret));
	ret->head = __atomic_load_n(&r->h->head, __ATOMIC_ACQUIRE);
	ret->tail = __atomic_load_n(&r->h->tail, __ATOMIC_ACQUIRE);
}

static void reader_forget(struct ring_reader *r)
{
	for (int k = 0; k < DEF_KINDS; k++)
		if (r->tr[k])
			memset(r->tr[k], 0, r->tr_cap[k] * sizeof(*r->tr[k]));
}

static int reader_set(struct ring_reader *r, int kind, uint64_t id, int64_t out)
{
	if (out < 0)
		return (int)out;
	if (id >= def_limit[kind])
		return -EBADMSG;
	if (id >= r->tr_cap[kind]) {
		size_t cap = r->tr_cap[kind], n = cap ? cap : 1024;
		uint32_t *t;

		while (n <= id)
			n *= 2;
		t = realloc(r->tr[kind], n * sizeof(*t));
		if (!t)
			return -ENOMEM;
		memset(t + cap, 0, (n - cap) * sizeof(*t));
		r->tr[kind] = t;
		r->tr_cap[kind] = n;
	}
	r->tr[kind][id] = (uint32_t)out + 1;
	return 0;
}

/* The output id of @id, or false when this epoch has not defined it (in view). */
static bool reader_get(const struct ring_reader *r, int kind, uint64_t id, uint32_t *ret)
{
	if (id >= r->tr_cap[kind] || !r->tr[kind][id])
		return false;
	*ret = r->tr[kind][id] - 1;
	return true;
}

struct read_state {
	const struct ring_query *q;
	struct profile *out;
	struct ring_read_stats *st;
	uint64_t lost;
	uint64_t period_ns;
	uint32_t rate_hz;
	uint32_t comm; /* the query's comm in @out, when it has one */
	bool comm_known;
};

static int reader_slot(struct ring_reader *r, struct read_state *rs, const uint8_t *p, size_t len)
{
	struct ring_slot slot;
	const struct ring_query *q = rs->q;

	if (len < sizeof(slot))
		return -EBADMSG;
	memcpy(&slot, p, sizeof(slot));
	if ((uint64_t)slot.nr * sizeof(struct profile_sample) > len - sizeof(slot))
		return -EBADMSG;
	if ((q->since_ns && slot.start_ns < q->since_ns) || (q->until_ns && slot.start_ns >= q->until_ns))
		return 0;
	rs->st->slots++;
	if (!rs->st->first_ns || slot.start_ns < rs->st->first_ns)
		rs->st->first_ns = slot.start_ns;
	if (slot.start_ns + slot.duration_ns > rs->st->last_ns)
		rs->st->last_ns = slot.start_ns + slot.duration_ns;
	rs->lost += slot.lost;
	if (slot.period_ns)
		rs->period_ns = slot.period_ns;
	if (slot.rate_hz)
		rs->rate_hz = slot.rate_hz;
	for (uint32_t i = 0; i < slot.nr; i++) {
		struct profile_sample s;
		int e;

		memcpy(&s, p + sizeof(slot) + i * sizeof(s), sizeof(s));
		if (q->pid && s.pid != (uint32_t)q->pid)
			continue;
		if (!reader_get(r, DEF_STACK, s.stack, &s.stack) || !reader_get(r, DEF_STRING, s.comm, &s.comm) ||
		    !reader_get(r, DEF_STRING, s.thread_name, &s.thread_name) ||
		    !reader_get(r, DEF_STRING, s.container, &s.container)) {
			rs->st->unresolved += s.count;
			continue;
		}
		if (q->comm && strcmp(profile__str(rs->out, s.comm), q->comm) != 0)
			continue;
		if (q->container && strncmp(profile__str(rs->out, s.container), q->container,
					    strlen(q->container)) != 0)
			continue;
		e = profile__add_sample(rs->out, &s, s.count, s.weight_ns);
		if (e < 0)
			return e;
		rs->st->samples += s.count;
	}
	return 0;
}

/* Take one record (a private copy) into the output. */
static int reader_record(struct ring_reader *r, struct read_state *rs, uint32_t type,
			 const uint8_t *p, size_t len)
{
	switch (type) {
	case RING_REC_PAD:
		return 0;
	case RING_REC_EPOCH:
		reader_forget(r);
		rs->st->epochs++;
		return 0;
	case RING_REC_STRING: {
		struct ring_string s;

		if (len < sizeof(s))
			return -EBADMSG;
		memcpy(&s, p, sizeof(s));
		if (s.len > len - sizeof(s))
			return -EBADMSG;
		return reader_set(r, DEF_STRING, s.id,
				  profile__intern_len(rs->out, (const char *)p + sizeof(s), s.len));
	}
	case RING_REC_MAPPING: {
		struct ring_mapping m;
		struct profile_mapping pm = {};

		if (len < sizeof(m))
			return -EBADMSG;
		memcpy(&m, p, sizeof(m));
		if (!m.id || !reader_get(r, DEF_STRING, m.file, &pm.file) ||
		    !reader_get(r, DEF_STRING, m.build_id, &pm.build_id))
			return 0;
		pm.start = m.start;
		pm.limit = m.limit;
		pm.offset = m.offset;
		return reader_set(r, DEF_MAPPING, m.id, profile__add_mapping(rs->out, &pm));
	}
	case RING_REC_FRAME: {
		struct ring_frame f;

		if (len < sizeof(f))
			return -EBADMSG;
		memcpy(&f, p, sizeof(f));
		if (f.frame.kind >= _PROFILE_FRAME_KIND_MAX)
			return -EBADMSG;
		if (!reader_get(r, DEF_STRING, f.frame.name, &f.frame.name) ||
		    !reader_get(r, DEF_STRING, f.frame.file, &f.frame.file) ||
		    (f.frame.mapping && !reader_get(r, DEF_MAPPING, f.frame.mapping, &f.frame.mapping)))
			return 0;
		f.frame.unknown = !!f.frame.unknown;
		return reader_set(r, DEF_FRAME, f.id, profile__add_frame(rs->out, &f.frame));
	}
	case RING_REC_STACK: {
		uint32_t frames[PROFILE_MAX_DEPTH];
		struct ring_stack s;

		if (len < sizeof(s))
			return -EBADMSG;
		memcpy(&s, p, sizeof(s));
		if (s.n > PROFILE_MAX_DEPTH || (uint64_t)s.n * sizeof(uint32_t) > len - sizeof(s))
			return -EBADMSG;
		memcpy(frames, p + sizeof(s), s.n * sizeof(uint32_t));
		for (uint32_t i = 0; i < s.n; i++)
			if (!reader_get(r, DEF_FRAME, frames[i], &frames[i]))
				return 0;
		return reader_set(r, DEF_STACK, s.id, profile__add_stack(rs->out, frames, s.n));
	}
	case RING_REC_SLOT:
		return reader_slot(r, rs, p, len);
	}
	return -EBADMSG;
}

/* Where a scan of the ring starts and ends: the tail and head as they are now. */
static int scan_begin(const struct ring_reader *r, uint64_t *ret_pos, uint64_t *ret_head)
{
	uint64_t head = __atomic_load_n(&r->h->head, __ATOMIC_ACQUIRE);
	uint64_t pos = __atomic_load_n(&r->h->tail, __ATOMIC_ACQUIRE);

	if (pos > head || head - pos > r->size || pos % RING_ALIGN || head % RING_ALIGN)
		return -EBADMSG;
	*ret_pos = pos;
	*ret_head = head;
	return 0;
}

enum { SCAN_END = 0, SCAN_RECORD = 1, SCAN_OVERRUN = 2 };

/* Times a read lapped by the writer goes on to the new head. */
#define RING_READ_MAX_LAPS 4

/*
 * The next record at or after *@pos, pads skipped: its header in *@rec and
 * its first @want bytes (header included) copied into r->buf, which is then
 * checked against the tail. Returns SCAN_RECORD, SCAN_END at @head,
 * SCAN_OVERRUN when the writer overwrote what was being copied (*@pos then
 * jumps to the new tail; the caller forgets what an unseen EPOCH would
 * void), -EBADMSG for a record that does not check out, or -ENOMEM.
 */
static int scan_next(struct ring_reader *r, uint64_t *pos, uint64_t head, size_t want,
		     struct ring_record *rec)
{
	while (*pos < head) {
		const uint8_t *at = r->data + (*pos & (r->size - 1));
		uint64_t tail;

		/* The first 16 bytes: all a pad at the very end of the area has. */
		memset(rec, 0, sizeof(*rec));
		memcpy(rec, at, RING_ALIGN);
		if (record_ok(rec, *pos, r->size) && (rec->type & 0xffff) != RING_REC_PAD) {
			size_t n = rec->size < want ? rec->size : want;

			if (n > r->buf_cap) {
				uint8_t *b = realloc(r->buf, n);

				if (!b)
					return -ENOMEM;
				r->buf = b;
				r->buf_cap = n;
			}
			memcpy(r->buf, at, n);
			memcpy(rec, r->buf, sizeof(*rec));
		}
		/* Did the writer overwrite it while we looked? Then the copy may be torn. */
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		tail = __atomic_load_n(&r->h->tail, __ATOMIC_ACQUIRE);
		if (tail > *pos) {
			*pos = tail;
			return SCAN_OVERRUN;
		}
		if (!record_ok(rec, *pos, r->size))
			return -EBADMSG;
		*pos += rec->size;
		if ((rec->type & 0xffff) != RING_REC_PAD)
			return SCAN_RECORD;
	}
	return SCAN_END;
}

int ring_reader__span(struct ring_reader *r, uint64_t *ret_oldest_ns, uint64_t *ret_newest_ns)
{
	uint64_t pos, head, oldest = 0, newest = 0;
	struct ring_record rec;
	struct ring_slot slot;
	int e;

	if ((e = scan_begin(r, &pos, &head)) < 0)
		return e;
	while ((e = scan_next(r, &pos, head, sizeof(rec) + sizeof(slot), &rec)) > 0) {
		if (e == SCAN_OVERRUN) {
			oldest = 0;
			continue;
		}
		if ((rec.type & 0xffff) != RING_REC_SLOT || rec.size < sizeof(rec) + sizeof(slot))
			continue;
		memcpy(&slot, r->buf + sizeof(rec), sizeof(slot));
		if (slot.start_ns) {
			if (!oldest)
				oldest = slot.start_ns;
			newest = slot.start_ns + slot.duration_ns;
		}
	}
	if (e < 0)
		return e;
	*ret_oldest_ns = oldest;
	*ret_newest_ns = newest;
	return 0;
}

int ring_reader__read(struct ring_reader *r, const struct ring_query *q, struct profile *out,
		      struct ring_read_stats *ret_stats)
{
	struct ring_read_stats st = {};
	struct read_state rs = { .q = q, .out = out, .st = &st };
	struct profile_info *info;
	struct ring_record rec;
	uint64_t head, pos;
	int e, laps = 0;

	if ((e = scan_begin(r, &pos, &head)) < 0)
		return e;
	reader_forget(r);
	while ((e = scan_next(r, &pos, head, SIZE_MAX, &rec)) > 0) {
		if (e == SCAN_OVERRUN) {
			st.overrun++;
			reader_forget(r); /* an EPOCH may have gone by unseen */
			/*
			 * Lapped: everything up to the head seen at the start is
			 * gone. Read on to the head of now, a few times at most (a
			 * reader slower than the writer would chase it for ever).
			 */
			if (pos >= head && laps++ < RING_READ_MAX_LAPS)
				head = __atomic_load_n(&r->h->head, __ATOMIC_ACQUIRE);
			continue;
		}
		if (crc32(0, r->buf + sizeof(rec), (uInt)(rec.size - sizeof(rec))) != rec.crc)
			return -EBADMSG;
		e = reader_record(r, &rs, rec.type & 0xffff, r->buf + sizeof(rec), rec.size - sizeof(rec));
		if (e < 0)
			return e;
	}
	if (e < 0)
		return e;
	info = profile__info(out);
	info->time_ns = st.first_ns;
	info->duration_ns = st.last_ns > st.first_ns ? st.last_ns - st.first_ns : 0;
	info->period_ns = rs.period_ns;
	info->rate_hz = rs.rate_hz;
	info->lost_samples = rs.lost;
	if (ret_stats)
		*ret_stats = st;
	return 0;
}
