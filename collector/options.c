// SPDX-License-Identifier: MIT
#include "options.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "collector.h"
#include "parse.h"
#include "sampler.h"

int collector_args__parse(struct collector_args *a, const char *name, const char *value,
			  char ret_error[COLLECTOR_ERROR_MAX])
{
	if (!strcmp(name, "unwind")) {
		if (!strcmp(value, "auto"))
			a->unwind = COLLECTOR_UNWIND_AUTO;
		else if (!strcmp(value, "fp"))
			a->unwind = COLLECTOR_UNWIND_FP;
		else if (!strcmp(value, "dwarf"))
			a->unwind = COLLECTOR_UNWIND_DWARF;
		else {
			snprintf(ret_error, COLLECTOR_ERROR_MAX,
				 "invalid unwind mode '%s': give 'auto', 'fp' or 'dwarf'", value);
			return -EINVAL;
		}
		return 1;
	}
	if (!strcmp(name, "stack-size")) {
		uint64_t size;

		if (parse_size(value, &size) < 0 || size < 4096 || size > HEARTH_STACK_COPY_MAX) {
			snprintf(ret_error, COLLECTOR_ERROR_MAX, "invalid stack size '%s': give 4K to %dK", value,
				 HEARTH_STACK_COPY_MAX / 1024);
			return -EINVAL;
		}
		a->stack_size = size;
		return 1;
	}
	if (!strcmp(name, "native"))
		a->native = true;
	else if (!strcmp(name, "no-python"))
		a->no_python = true;
	else if (!strcmp(name, "gil"))
		a->gil = true;
	else
		return 0;
	return 1;
}

int collector_args__apply(const struct collector_args *a, struct collector_options *o,
			  char ret_error[COLLECTOR_ERROR_MAX])
{
	bool dwarf = a->native || a->unwind != COLLECTOR_UNWIND_FP;

	if (a->native && a->unwind == COLLECTOR_UNWIND_FP) {
		snprintf(ret_error, COLLECTOR_ERROR_MAX, "--native unwinds with DWARF: drop --unwind fp");
		return -EINVAL;
	}
	if (a->native && a->no_python) {
		snprintf(ret_error, COLLECTOR_ERROR_MAX, "--native merges Python stacks: drop --no-python");
		return -EINVAL;
	}
	if (a->gil && a->no_python) {
		snprintf(ret_error, COLLECTOR_ERROR_MAX, "--gil needs Python stacks: drop --no-python");
		return -EINVAL;
	}
	o->stack_bytes = dwarf ? (uint32_t)(a->stack_size ? a->stack_size : COLLECTOR_DEFAULT_STACK_SIZE) : 0;
	o->native = a->native;
	/* --native copies every process's stack: its frames go around the Python ones. */
	o->unwind_auto = a->unwind == COLLECTOR_UNWIND_AUTO && !a->native;
	o->python = !a->no_python;
	o->gil_only = a->gil;
	return 0;
}

/* Root, or CAP_BPF + CAP_PERFMON (CAP_SYS_ADMIN covers both on old kernels). */
static bool collector_has_privileges(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = {};
	uint64_t eff;

	if (geteuid() == 0)
		return true;
	if (syscall(SYS_capget, &hdr, data) < 0)
		return false;
	eff = (uint64_t)data[1].effective << 32 | data[0].effective;
	if (eff & (1ull << CAP_SYS_ADMIN))
		return true;
	return (eff & (1ull << 39 /* CAP_BPF */)) && (eff & (1ull << 38 /* CAP_PERFMON */));
}

int collector_check_access(char ret_error[COLLECTOR_ERROR_MAX])
{
	if (!collector_has_privileges()) {
		snprintf(ret_error, COLLECTOR_ERROR_MAX,
			 "permission denied: recording needs root, or CAP_BPF and CAP_PERFMON "
			 "(and CAP_SYS_PTRACE for other users' processes)");
		return -EPERM;
	}
	if (access("/sys/kernel/btf/vmlinux", R_OK) < 0) {
		snprintf(ret_error, COLLECTOR_ERROR_MAX,
			 "kernel BTF not found (/sys/kernel/btf/vmlinux): Hearth needs a kernel built with "
			 "CONFIG_DEBUG_INFO_BTF=y");
		return -ENOENT;
	}
	return 0;
}
