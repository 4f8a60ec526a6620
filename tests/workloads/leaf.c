// SPDX-License-Identifier: MIT
/*
 * A shared library built the way distributions build libc: without frame
 * pointers. Its one function is a leaf that never sets up a frame, so a
 * frame-pointer walk from inside it skips its caller.
 */
#include <stdint.h>

uint64_t leaf_spin(uint64_t n, uint64_t seed);

uint64_t leaf_spin(uint64_t n, uint64_t seed)
{
	uint64_t x = seed;

	for (uint64_t i = 0; i < n; i++)
		x = x * 6364136223846793005ull + 1442695040888963407ull;
	return x;
}
