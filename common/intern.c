// SPDX-License-Identifier: MIT
#include "intern.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct intern_entry {
	size_t offset;
	uint32_t len;
	uint32_t hash; /* low bits of the key's hash, to skip most compares */
};

struct intern {
	size_t max_entries;
	/* Keys, back to back; 8-byte aligned so stacks and frames can be read in place. */
	unsigned char *data;
	size_t data_len, data_cap;
	struct intern_entry *entries;
	size_t nr_entries, entries_cap;
	/* Open addressing, linear probing: slot holds id + 1, 0 is empty. */
	uint32_t *slots;
	size_t nr_slots;
};

static inline uint64_t rotl(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

uint64_t hash_bytes(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = 0x9e3779b97f4a7c15ull ^ (len * 0xff51afd7ed558ccdull);

	while (len >= 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		h = rotl(h ^ (v * 0x87c37b91114253d5ull), 31) * 0x4cf5ad432745937full;
		p += 8;
		len -= 8;
	}
	if (len) {
		uint64_t v = 0;

		memcpy(&v, p, len);
		h = rotl(h ^ (v * 0x87c37b91114253d5ull), 31) * 0x4cf5ad432745937full;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

int intern__new(size_t max_entries, struct intern **ret)
{
	struct intern *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->max_entries = max_entries;
	t->nr_slots = 1024;
	t->slots = calloc(t->nr_slots, sizeof(*t->slots));
	if (!t->slots) {
		free(t);
		return -ENOMEM;
	}
	*ret = t;
	return 0;
}

struct intern *intern__free(struct intern *t)
{
	if (!t)
		return NULL;
	free(t->data);
	free(t->entries);
	free(t->slots);
	free(t);
	return NULL;
}

static int64_t intern_lookup(const struct intern *t, const void *key, size_t len, uint64_t h,
			     size_t *ret_slot)
{
	size_t mask = t->nr_slots - 1;
	size_t i = h & mask;

	for (;;) {
		uint32_t s = t->slots[i];
		const struct intern_entry *e;

		if (!s) {
			*ret_slot = i;
			return -ENOENT;
		}
		e = &t->entries[s - 1];
		if (e->hash == (uint32_t)h && e->len == len && !memcmp(t->data + e->offset, key, len))
			return s - 1;
		i = (i + 1) & mask;
	}
}

static int intern_grow_slots(struct intern *t)
{
	size_t n = t->nr_slots * 2, mask = n - 1;
	uint32_t *slots = calloc(n, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t id = 0; id < t->nr_entries; id++) {
		const struct intern_entry *e = &t->entries[id];
		size_t i = hash_bytes(t->data + e->offset, e->len) & mask;

		while (slots[i])
			i = (i + 1) & mask;
		slots[i] = id + 1;
	}
	free(t->slots);
	t->slots = slots;
	t->nr_slots = n;
	return 0;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	size_t n = *cap ? *cap : 64;
	void *q;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	q = realloc(*p, n * elem);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}

int64_t intern__add(struct intern *t, const void *key, size_t len, int *ret_added)
{
	uint64_t h = hash_bytes(key, len);
	size_t slot, off, aligned;
	int64_t id;
	int r;

	if (ret_added)
		*ret_added = 0;
	id = intern_lookup(t, key, len, h, &slot);
	if (id >= 0)
		return id;
	if (len > UINT32_MAX || t->nr_entries >= UINT32_MAX - 1)
		return -E2BIG;
	if (t->max_entries && t->nr_entries >= t->max_entries)
		return -E2BIG;

	aligned = (t->data_len + 7) & ~(size_t)7;
	r = grow((void **)&t->data, &t->data_cap, aligned + len + 1, 1);
	if (r < 0)
		return r;
	r = grow((void **)&t->entries, &t->entries_cap, t->nr_entries + 1, sizeof(*t->entries));
	if (r < 0)
		return r;
	off = aligned;
	if (len)
		memcpy(t->data + off, key, len);
	t->data[off + len] = '\0'; /* so string keys can be read as C strings */
	t->data_len = off + len + 1;
	t->entries[t->nr_entries] = (struct intern_entry){ .offset = off, .len = len, .hash = (uint32_t)h };
	id = t->nr_entries++;
	t->slots[slot] = id + 1;
	if (t->nr_entries * 4 >= t->nr_slots * 3) {
		r = intern_grow_slots(t);
		if (r < 0) {
			/* Keep the table consistent: forget the key we could not index. */
			t->slots[slot] = 0;
			t->nr_entries--;
			return r;
		}
	}
	if (ret_added)
		*ret_added = 1;
	return id;
}

int64_t intern__find(const struct intern *t, const void *key, size_t len)
{
	size_t slot;

	return intern_lookup(t, key, len, hash_bytes(key, len), &slot);
}

const void *intern__get(const struct intern *t, uint32_t id, size_t *ret_len)
{
	if (id >= t->nr_entries)
		return NULL;
	if (ret_len)
		*ret_len = t->entries[id].len;
	return t->data + t->entries[id].offset;
}

size_t intern__count(const struct intern *t)
{
	return t->nr_entries;
}

size_t intern__memory(const struct intern *t)
{
	return sizeof(*t) + t->data_cap + t->entries_cap * sizeof(*t->entries) +
	       t->nr_slots * sizeof(*t->slots);
}
