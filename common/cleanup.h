/* SPDX-License-Identifier: MIT */
/*
 * Scope-based ownership helpers, after systemd's: a local declared with
 * _cleanup_free_ is freed when it leaves scope unless TAKE_PTR() moved it out.
 */
#ifndef HEARTH_CLEANUP_H
#define HEARTH_CLEANUP_H

#include <errno.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)

/* Return the pointer and leave NULL behind, so the cleanup handler does nothing. */
#define TAKE_PTR(p)                          \
	({                                   \
		__typeof__(p) _ptr_ = (p);   \
		(p) = NULL;                  \
		_ptr_;                       \
	})

/* Same for file descriptors: return the fd and leave -1 behind. */
#define TAKE_FD(fd)                   \
	({                            \
		int _fd_ = (fd);      \
		(fd) = -1;            \
		_fd_;                 \
	})

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Free and return NULL, for "p = mfree(p);". */
static inline void *mfree(void *p)
{
	free(p);
	return NULL;
}

static inline void freep(void *p)
{
	free(*(void **)p);
}

/* Close an fd and keep errno as it was: cleanup must not clobber the error being returned. */
static inline int safe_close(int fd)
{
	if (fd >= 0) {
		int saved = errno;

		close(fd);
		errno = saved;
	}
	return -1;
}

static inline void closep(int *fd)
{
	safe_close(*fd);
}

static inline void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

static inline void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

#endif
