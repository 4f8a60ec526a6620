// SPDX-License-Identifier: MIT
#include <errno.h>

#include "check.h"
#include "fixture.h"
#include "intern.h"
#include "profile.h"

static void test_intern(void)
{
	struct intern *t = NULL;
	int added = -1;
	size_t len;

	CHECK_INT(intern__new(3, &t), 0);
	CHECK_INT(intern__add(t, "a", 1, &added), 0);
	CHECK_INT(added, 1);
	CHECK_INT(intern__add(t, "bb", 2, &added), 1);
	CHECK_INT(intern__add(t, "a", 1, &added), 0);
	CHECK_INT(added, 0);
	CHECK_INT(intern__add(t, "", 0, NULL), 2);
	/* The cap holds: a fourth key is refused, known keys still found. */
	CHECK_INT(intern__add(t, "c", 1, NULL), -E2BIG);
	CHECK_INT(intern__add(t, "bb", 2, NULL), 1);
	CHECK_INT(intern__find(t, "c", 1), -ENOENT);
	CHECK_STR(intern__get(t, 1, &len), "bb");
	CHECK_INT(len, 2);
	CHECK_TRUE(intern__get(t, 3, NULL) == NULL);
	intern__free(t);

	/* Growth keeps every id stable across rehashes. */
	CHECK_INT(intern__new(0, &t), 0);
	for (int i = 0; i < 100000; i++)
		if (intern__add(t, &i, sizeof(i), NULL) != i)
			CHECK_TRUE(!"id not dense");
	for (int i = 0; i < 100000; i += 997)
		CHECK_INT(intern__find(t, &i, sizeof(i)), i);
	CHECK_INT(intern__count(t), 100000);
	intern__free(t);
}

static void test_profile(void)
{
	struct profile *p = fixture_profile();
	const struct profile_sample *s;
	const uint32_t *stack;
	size_t n;
	char buf[64];
	struct profile_sample again;

	CHECK_INT(profile__total(p), 95);
	CHECK_INT(profile__total_weight(p), 95 * FIXTURE_SAMPLE_NS);
	CHECK_INT(profile__nr_samples(p), 5);
	CHECK_INT(profile__nr_mappings(p), 3);
	CHECK_STR(profile__str(p, 0), "");
	s = profile__sample(p, 0);
	CHECK_INT(s->count, 50);
	CHECK_INT(s->weight_ns, 50 * FIXTURE_SAMPLE_NS);
	CHECK_INT(s->pid, 100);
	CHECK_STR(profile__str(p, s->comm), "burn");
	stack = profile__stack(p, s->stack, &n);
	CHECK_INT(n, 3);
	CHECK_STR(profile__str(p, profile__frame(p, stack[0])->name), "spin");
	CHECK_STR(profile__str(p, profile__frame(p, stack[2])->name), "main");

	/* The same key aggregates instead of adding a row. */
	again = *s;
	CHECK_INT(profile__add_sample(p, &again, 7, 70), 0);
	CHECK_INT(profile__nr_samples(p), 5);
	CHECK_INT(profile__sample(p, 0)->count, 57);
	CHECK_INT(profile__sample(p, 0)->weight_ns, 50 * FIXTURE_SAMPLE_NS + 70);
	CHECK_INT(profile__total(p), 102);
	CHECK_INT(profile__total_weight(p), 95 * FIXTURE_SAMPLE_NS + 70);

	/* A second identical frame interns to the same id. */
	CHECK_INT(profile__add_frame(p, profile__frame(p, stack[0])), stack[0]);
	CHECK_STR(profile__frame_label(p, profile__frame(p, stack[0]), buf, sizeof(buf)), "spin");
	{
		struct profile_frame py = {
			.kind = PROFILE_FRAME_PYTHON,
			.name = (uint32_t)profile__intern(p, "Foo.bar"),
			.file = (uint32_t)profile__intern(p, "app.py"),
			.line = 12,
		};
		CHECK_STR(profile__frame_label(p, &py, buf, sizeof(buf)), "Foo.bar (app.py:12)");
	}
	CHECK_STR(profile_frame_kind_to_string(PROFILE_FRAME_KERNEL), "kernel");
	CHECK_INT(profile__add_stack(p, stack, PROFILE_MAX_DEPTH + 1), -E2BIG);
	profile__free(p);
	CHECK_TRUE(profile__free(NULL) == NULL);
}

int main(void)
{
	test_intern();
	test_profile();
	return check_finish("test-profile");
}
