// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "export.h"
#include "fixture.h"

static char *export_to_string(const struct profile *p)
{
	struct export_options o = { .program_version = "test" };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	CHECK_INT(exporter_folded.write(p, &o, f), 0);
	fclose(f);
	return buf;
}

int main(void)
{
	struct profile *p = fixture_profile();
	char *text = export_to_string(p);
	struct profile_sample s = { .pid = 1, .tid = 1 };
	struct profile_frame f = { .kind = PROFILE_FRAME_NATIVE };
	uint32_t frame;

	/* Sorted, merged by text: the two "main" roots of pids 100 and 200 stay separate lines. */
	CHECK_STR(text, "main;idle 20\n"
			"main;libx.so+0x1234 5\n"
			"main;work;spin 50\n"
			"main;work;spin;asm_sysvec_apic_timer_interrupt 10\n"
			"start_thread;worker_loop 10\n");
	free(text);

	/* A ';' or newline in a name must not split the line or the stack. */
	f.name = (uint32_t)profile__intern(p, "operator;weird\nname");
	frame = (uint32_t)profile__add_frame(p, &f);
	s.stack = (uint32_t)profile__add_stack(p, &frame, 1);
	CHECK_INT(profile__add_sample(p, &s, 3, 30000000), 0);
	/* The same stack text from another pid merges into one line. */
	s.pid = 2;
	CHECK_INT(profile__add_sample(p, &s, 4, 40000000), 0);
	text = export_to_string(p);
	CHECK_TRUE(strstr(text, "\noperator:weird name 7\n") != NULL);
	free(text);
	profile__free(p);

	/* An empty profile writes nothing, successfully. */
	CHECK_INT(profile__new(&p), 0);
	text = export_to_string(p);
	CHECK_STR(text, "");
	free(text);
	profile__free(p);
	return check_finish("test-folded");
}
