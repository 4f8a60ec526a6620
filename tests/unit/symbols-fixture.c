// SPDX-License-Identifier: MIT
/*
 * A program with known function names, for the ELF symbolization tests: meson
 * builds it, a stripped copy with a .gnu_debuglink to a separate debug file,
 * and a stripped copy with nothing; and for the PLT tests, built for CET
 * (.plt.sec) and with -fno-plt. It prints its functions' addresses and calls
 * getpid() and an IFUNC of its own through the PLT.
 */
#include <stdio.h>
#include <unistd.h>

__attribute__((noinline)) int hearth_fixture_alpha(int x)
{
	return x * 3 + 1;
}

__attribute__((noinline)) static int hearth_fixture_local(int x)
{
	return hearth_fixture_alpha(x) ^ 5;
}

__attribute__((noinline)) static int hearth_fixture_beta_impl(int x)
{
	return x - 1;
}

static int (*hearth_fixture_beta_resolve(void))(int)
{
	return hearth_fixture_beta_impl;
}

/* Its PLT entry's GOT slot has an R_X86_64_IRELATIVE relocation, not a symbol. */
int hearth_fixture_beta(int x) __attribute__((ifunc("hearth_fixture_beta_resolve")));

int main(int argc, char **argv)
{
	(void)argv;
	printf("%p %p %d %d %d\n", (void *)hearth_fixture_alpha, (void *)hearth_fixture_local,
	       hearth_fixture_local(argc), hearth_fixture_beta(argc), (int)getpid());
	return 0;
}
