// SPDX-License-Identifier: MIT
/*
 * A program with known function names, for the ELF symbolization tests: meson
 * builds it, a stripped copy with a .gnu_debuglink to a separate debug file,
 * and a stripped copy with nothing. It prints its functions' addresses.
 */
#include <stdio.h>

__attribute__((noinline)) int hearth_fixture_alpha(int x)
{
	return x * 3 + 1;
}

__attribute__((noinline)) static int hearth_fixture_local(int x)
{
	return hearth_fixture_alpha(x) ^ 5;
}

int main(int argc, char **argv)
{
	(void)argv;
	printf("%p %p %d\n", (void *)hearth_fixture_alpha, (void *)hearth_fixture_local,
	       hearth_fixture_local(argc));
	return 0;
}
