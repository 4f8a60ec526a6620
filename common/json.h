/* SPDX-License-Identifier: MIT */
/*
 * JSON strings from untrusted text: names come from target processes and may
 * hold anything, so every writer of JSON escapes through here.
 */
#ifndef HEARTH_JSON_H
#define HEARTH_JSON_H

#include <stdio.h>

/*
 * Write the inside of a JSON string: quotes, backslashes and control
 * characters escaped, each byte that is not part of valid UTF-8 (overlong
 * forms, surrogates, past U+10FFFF) as U+FFFD.
 */
void json_escape(FILE *out, const char *str);

/* The same between double quotes. */
void json_string(FILE *out, const char *s);

#endif
