/* SPDX-License-Identifier: MIT */
/*
 * An interning table: each distinct byte string gets a dense id (0, 1, 2...),
 * the same bytes always the same id. Strings, frames, stacks and sample keys
 * of the profile are all interned through it.
 */
#ifndef HEARTH_INTERN_H
#define HEARTH_INTERN_H

#include <stddef.h>
#include <stdint.h>

struct intern;

/* Create an empty table holding at most @max_entries keys (0 = no limit but memory). */
int intern__new(size_t max_entries, struct intern **ret);

/* Free the table; accepts NULL and returns NULL. */
struct intern *intern__free(struct intern *t);

/*
 * Find or add @len bytes at @key. Returns the id (>= 0), -E2BIG when the table is
 * full, -ENOMEM. *ret_added, when given, tells whether the key was new.
 */
int64_t intern__add(struct intern *t, const void *key, size_t len, int *ret_added);

/* Find without adding: the id, or -ENOENT. */
int64_t intern__find(const struct intern *t, const void *key, size_t len);

/*
 * The bytes of id @id and their length. The pointer stays valid until the next
 * intern__add() on the table. Returns NULL for an id out of range.
 */
const void *intern__get(const struct intern *t, uint32_t id, size_t *ret_len);

/* How many keys the table holds. */
size_t intern__count(const struct intern *t);

/* Bytes of memory the table uses. */
size_t intern__memory(const struct intern *t);

/* A 64-bit hash of a byte string (also used by callers for their own tables). */
uint64_t hash_bytes(const void *data, size_t len);

#endif
