// SPDX-License-Identifier: MIT
/*
 * An interactive flame graph in one self-contained SVG file: the stacks of all
 * samples merged into a tree, root at the bottom, each frame as wide as its
 * share of the samples. A small embedded script zooms into a clicked frame,
 * searches frame names and shows details of the frame under the mouse; the
 * picture reads the same without it.
 *
 * Siblings are merged by label and kind and sorted by label, so the same
 * profile always gives the same bytes. Frames narrower than SVG_MIN_WIDTH are
 * not drawn; when the rest would still be more than SVG_MAX_ELEMENTS elements
 * (or about SVG_MAX_BYTES), only the widest are. The children of a frame that
 * are not drawn become one "[N narrow frames]" block after their drawn
 * siblings, if that block is wide enough.
 *
 * With a base profile (export_options.base) the graph is differential, as
 * flamegraph.pl draws difffolded.pl's output: the tree and the widths are the
 * profile's, and each frame is coloured by how its share of all samples
 * changed since the base, red for more and blue for less. Call paths only the
 * base has cannot be drawn with a width; the subtitle says how much of the
 * base they hold and names the largest, and each frame's tooltip how much of
 * it sat in callees that are gone.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cleanup.h"
#include "export.h"
#include "intern.h"
#include "svgscript.h"

#define SVG_WIDTH 1200
#define SVG_XPAD 10
#define SVG_CHART_WIDTH (SVG_WIDTH - 2 * SVG_XPAD)
#define SVG_FRAME_HEIGHT 16
#define SVG_TOP 80    /* title, subtitle, controls and legend above the frames */
#define SVG_BOTTOM 32 /* the details line below them */
#define SVG_FONT_SIZE 12
/* Advance of one character of a 12px monospace font, rounded up so labels never overflow. */
#define SVG_CHAR_WIDTH 7.3
#define SVG_MIN_WIDTH 0.1 /* px */
#define SVG_MAX_ELEMENTS 25000
#define SVG_MAX_BYTES (6u << 20)
#define SVG_LABEL_MAX 512
/* A differential graph draws changes of this many points or more at full colour. */
#define SVG_DIFF_MIN_SCALE 5.0

struct svg_node {
	uint64_t count;
	uint64_t base;      /* samples of the base profile here, in a differential graph */
	uint32_t label;     /* id in svg_writer.labels */
	uint32_t parent;
	uint32_t first_kid; /* index into svg_writer.kids */
	uint32_t nr_kids;
	bool drawn;
};

/* A node is found by its parent and its label (which includes the kind). */
struct svg_node_key {
	uint32_t parent;
	uint32_t label;
};

struct svg_writer {
	const struct profile *p;
	FILE *out;
	struct intern *labels;  /* kind byte, then the label text */
	struct intern *keys;    /* struct svg_node_key; id + 1 is the node id */
	struct svg_node *nodes; /* [0] is the root, "all" */
	size_t nr_nodes, cap_nodes;
	uint32_t *kids;         /* children of each node, sorted, at first_kid */
	uint32_t *frame_labels; /* frame id -> label id, UINT32_MAX until first seen */
	uint64_t total;
	/* A differential graph: widths from p, colours from the change since base. */
	const struct profile *base;
	uint64_t base_total;
	uint64_t base_gone;     /* base samples in call paths p does not have */
	uint32_t gone_largest;  /* node heading the largest such path, 0 if none */
	double diff_scale;      /* change in share, in points, drawn at full colour */
	double scale;           /* px per sample */
	double min_count;       /* narrowest frame or block drawn, in samples */
	unsigned int max_depth; /* deepest level drawn; the root is level 0 */
	bool emit;              /* false while only counting what would be drawn */
};

/*
 * Length of the UTF-8 sequence at @s if XML 1.0 may carry it, else 0 (control
 * characters, bad or overlong sequences, surrogates, U+FFFE and U+FFFF).
 */
static size_t svg_char_len(const unsigned char *s)
{
	unsigned char c = s[0];

	if (c < 0x80)
		return c >= 0x20 && c != 0x7f;
	if (c >= 0xc2 && c <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0) ||
		    (c == 0xef && s[1] == 0xbf && s[2] >= 0xbe))
			return 0;
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
			return 0;
		if ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] >= 0x90))
			return 0;
		return 4;
	}
	return 0;
}

/* Characters in @s as svg_escape() writes them: each byte it cannot carry counts as one. */
static size_t svg_text_len(const char *s)
{
	size_t n = 0;

	for (const unsigned char *c = (const unsigned char *)s; *c; n++) {
		size_t len = svg_char_len(c);

		c += len ? len : 1;
	}
	return n;
}

/*
 * Write the first @max characters of @s as XML text or attribute value: markup
 * characters escaped, bytes XML cannot carry replaced by '?'.
 */
static void svg_escape(FILE *out, const char *s, size_t max)
{
	for (const unsigned char *c = (const unsigned char *)s; *c && max; max--) {
		size_t len = svg_char_len(c);

		if (!len) {
			fputc('?', out);
			c++;
			continue;
		}
		switch (*c) {
		case '<': fputs("&lt;", out); break;
		case '>': fputs("&gt;", out); break;
		case '&': fputs("&amp;", out); break;
		case '"': fputs("&quot;", out); break;
		case '\'': fputs("&#39;", out); break;
		default: fwrite(c, 1, len, out); break;
		}
		c += len;
	}
}

/* Write @s, cut to @max characters with ".." when longer. */
static void svg_escape_cut(FILE *out, const char *s, size_t max)
{
	if (max < 3 || svg_text_len(s) <= max) {
		svg_escape(out, s, max);
	} else {
		svg_escape(out, s, max - 2);
		fputs("..", out);
	}
}

/* A non-negative number with two decimals, whatever the locale says. */
static void svg_fixed(FILE *out, double v)
{
	unsigned long long c = v > 0 ? (unsigned long long)(v * 100 + 0.5) : 0;

	fprintf(out, "%llu.%02llu", c / 100, c % 100);
}

/* The fill of a frame: its kind picks the hue, a hash of its name the shade. */
static void svg_color(unsigned int kind, const char *name, unsigned int rgb[3])
{
	uint64_t h = hash_bytes(name, strlen(name));
	unsigned int a = h & 0xff, b = (h >> 8) & 0xff, c = (h >> 16) & 0xff;

	switch (kind) {
	case PROFILE_FRAME_NATIVE: /* red to red-orange, so kernel orange stands apart */
		rgb[0] = 205 + a % 50, rgb[1] = 45 + b % 80, rgb[2] = 30 + c % 40;
		break;
	case PROFILE_FRAME_KERNEL: /* orange to amber */
		rgb[0] = 240 + a % 15, rgb[1] = 155 + b % 30, rgb[2] = c % 25;
		break;
	case PROFILE_FRAME_PYTHON: /* blue to aqua */
		rgb[0] = 60 + a % 50, rgb[1] = 150 + b % 70, rgb[2] = 215 + c % 40;
		break;
	case PROFILE_FRAME_PROCESS:
		rgb[0] = rgb[1] = rgb[2] = 165 + a % 15;
		break;
	case PROFILE_FRAME_THREAD:
		rgb[0] = rgb[1] = rgb[2] = 185 + a % 15;
		break;
	default:
		rgb[0] = rgb[1] = rgb[2] = 218;
		break;
	}
}

/*
 * The label id of frame @frame of @p (kind byte + label text), interned on
 * first sight; @cache maps @p's frame ids to label ids.
 */
static int64_t svg_label(struct svg_writer *w, const struct profile *p, uint32_t *cache, uint32_t frame)
{
	const struct profile_frame *f = profile__frame(p, frame);
	char key[1 + SVG_LABEL_MAX];
	int64_t id;

	if (!f)
		return -EINVAL;
	if (cache[frame] != UINT32_MAX)
		return cache[frame];
	key[0] = (char)(f->kind < _PROFILE_FRAME_KIND_MAX ? f->kind : PROFILE_FRAME_SPECIAL);
	profile__frame_label(p, f, key + 1, sizeof(key) - 1);
	id = intern__add(w->labels, key, 1 + strlen(key + 1), NULL);
	if (id >= 0)
		cache[frame] = (uint32_t)id;
	return id;
}

/* The child of @parent labelled @label, added when new; returns its node id or -errno. */
static int64_t svg_child(struct svg_writer *w, uint32_t parent, uint32_t label)
{
	struct svg_node_key key = { .parent = parent, .label = label };
	int64_t id;
	int added;

	id = intern__add(w->keys, &key, sizeof(key), &added);
	if (id < 0)
		return id;
	if (added) {
		if (w->nr_nodes == w->cap_nodes) {
			size_t cap = w->cap_nodes * 2;
			struct svg_node *n = realloc(w->nodes, cap * sizeof(*n));

			if (!n)
				return -ENOMEM;
			w->nodes = n;
			w->cap_nodes = cap;
		}
		/* Keys get dense ids in order, so a new key's node is the next one. */
		w->nodes[w->nr_nodes++] = (struct svg_node){ .label = label, .parent = parent };
	}
	return id + 1;
}

/*
 * Merge the stacks of all samples of @p into the tree, root first, counting
 * them in each node's count, or its base count with @base. @cache is
 * @p's frame id -> label id map.
 */
static int svg_merge(struct svg_writer *w, const struct profile *p, uint32_t *cache, bool base)
{
	size_t nr = profile__nr_samples(p);

	for (size_t i = 0; i < nr; i++) {
		const struct profile_sample *s = profile__sample(p, i);
		const uint32_t *stack;
		uint32_t node = 0;
		size_t depth = 0;

		if (!s->count)
			continue;
		stack = profile__stack(p, s->stack, &depth);
		if (!stack && depth)
			return -EINVAL;
		*(base ? &w->nodes[0].base : &w->nodes[0].count) += s->count;
		for (size_t d = depth; d-- > 0;) {
			int64_t label = svg_label(w, p, cache, stack[d]), id;

			if (label < 0)
				return (int)label;
			id = svg_child(w, node, (uint32_t)label);
			if (id < 0)
				return (int)id;
			node = (uint32_t)id;
			*(base ? &w->nodes[node].base : &w->nodes[node].count) += s->count;
		}
	}
	return 0;
}

/* A frame id -> label id map for @p, all unseen. */
static uint32_t *svg_label_cache(const struct profile *p)
{
	size_t n = profile__nr_frames(p) ? profile__nr_frames(p) : 1;
	uint32_t *cache = malloc(n * sizeof(*cache));

	if (cache)
		memset(cache, 0xff, n * sizeof(*cache));
	return cache;
}

/* The tree of the profile and, in a differential graph, of the base profile too. */
static int svg_build(struct svg_writer *w)
{
	int r;

	w->frame_labels = svg_label_cache(w->p);
	w->cap_nodes = 256;
	w->nodes = calloc(w->cap_nodes, sizeof(*w->nodes));
	if (!w->frame_labels || !w->nodes)
		return -ENOMEM;
	w->nodes[0].parent = UINT32_MAX;
	w->nr_nodes = 1;
	if ((r = svg_merge(w, w->p, w->frame_labels, false)) < 0)
		return r;
	w->total = w->nodes[0].count;
	if (w->base) {
		_cleanup_free_ uint32_t *cache = svg_label_cache(w->base);

		if (!cache)
			return -ENOMEM;
		if ((r = svg_merge(w, w->base, cache, true)) < 0)
			return r;
		w->base_total = w->nodes[0].base;
	}
	return 0;
}

/* Siblings in label order; same text, then by kind. */
static int svg_kid_cmp(const void *a, const void *b, void *data)
{
	const struct svg_writer *w = data;
	const char *x = intern__get(w->labels, w->nodes[*(const uint32_t *)a].label, NULL);
	const char *y = intern__get(w->labels, w->nodes[*(const uint32_t *)b].label, NULL);
	int r = strcmp(x + 1, y + 1);

	return r ? r : (unsigned char)x[0] - (unsigned char)y[0];
}

/* Give each node its sorted list of children. */
static int svg_link(struct svg_writer *w)
{
	uint32_t off = 0;

	w->kids = malloc(w->nr_nodes * sizeof(*w->kids));
	if (!w->kids)
		return -ENOMEM;
	for (size_t i = 1; i < w->nr_nodes; i++)
		w->nodes[w->nodes[i].parent].nr_kids++;
	for (size_t i = 0; i < w->nr_nodes; i++) {
		w->nodes[i].first_kid = off;
		off += w->nodes[i].nr_kids;
		w->nodes[i].nr_kids = 0;
	}
	for (size_t i = 1; i < w->nr_nodes; i++) {
		struct svg_node *parent = &w->nodes[w->nodes[i].parent];

		w->kids[parent->first_kid + parent->nr_kids++] = (uint32_t)i;
	}
	for (size_t i = 0; i < w->nr_nodes; i++)
		if (w->nodes[i].nr_kids > 1)
			qsort_r(w->kids + w->nodes[i].first_kid, w->nodes[i].nr_kids,
				sizeof(*w->kids), svg_kid_cmp, w);
	return 0;
}

/* @n as a percentage of @total; 0 of nothing. */
static double svg_percent(uint64_t n, uint64_t total)
{
	return total ? 100.0 * (double)n / (double)total : 0.0;
}

/* The change of a frame's share from the base profile to this one, in percentage points. */
static double svg_delta(const struct svg_writer *w, uint64_t count, uint64_t base)
{
	return svg_percent(count, w->total) - svg_percent(base, w->base_total);
}

/* A change in points with its sign and two decimals ("+6.50", "-0.25", "0.00"). */
static void svg_signed(FILE *out, double v)
{
	double a = v < 0 ? -v : v;

	if (a >= 0.005)
		fputc(v < 0 ? '-' : '+', out);
	svg_fixed(out, a);
}

/*
 * The fill of a frame in a differential graph: red where its share grew, blue
 * where it shrank, from near white for no change to full colour at
 * diff_scale points.
 */
static void svg_diff_color(const struct svg_writer *w, double delta, unsigned int rgb[3])
{
	double v = (delta < 0 ? -delta : delta) / w->diff_scale;
	unsigned int fade = 250 - (unsigned int)(205 * (v < 1 ? v : 1) + 0.5);

	rgb[0] = delta < 0 ? fade : 250;
	rgb[1] = fade;
	rgb[2] = delta < 0 ? 250 : fade;
}

/*
 * The tooltip of a frame in a differential graph: both shares, the change and
 * the samples; @gone is what the base had in callees this profile lacks.
 */
static void svg_diff_title(struct svg_writer *w, const char *name, uint64_t count, uint64_t base,
			   uint64_t gone)
{
	FILE *out = w->out;

	svg_escape(out, name, SIZE_MAX);
	fputs(": ", out);
	svg_fixed(out, svg_percent(base, w->base_total));
	fputs("% -> ", out);
	svg_fixed(out, svg_percent(count, w->total));
	fputs("% (", out);
	svg_signed(out, svg_delta(w, count, base));
	fprintf(out, " points; %llu -> %llu samples)", (unsigned long long)base, (unsigned long long)count);
	if (gone) {
		fputs("; callees only in BASE: ", out);
		svg_fixed(out, svg_percent(gone, w->base_total));
		fputs("% of BASE", out);
	}
}

/*
 * One frame: a group with the tooltip, the box and the label when it fits.
 * @base and @gone count only in a differential graph (see svg_diff_title()).
 */
static void svg_frame(struct svg_writer *w, const char *name, unsigned int kind, unsigned int depth,
		      uint64_t start, uint64_t count, uint64_t base, uint64_t gone)
{
	double x = SVG_XPAD + (double)start * w->scale, width = (double)count * w->scale;
	double room = (width - 6) / SVG_CHAR_WIDTH;
	FILE *out = w->out;
	unsigned int y, rgb[3];

	if (!w->emit) {
		if (depth > w->max_depth)
			w->max_depth = depth;
		return;
	}
	y = SVG_TOP + (w->max_depth - depth) * SVG_FRAME_HEIGHT;
	if (w->base)
		svg_diff_color(w, svg_delta(w, count, base), rgb);
	else
		svg_color(kind, name, rgb);
	fputs("<g class=\"frame\" data-name=\"", out);
	svg_escape(out, name, SIZE_MAX);
	fprintf(out, "\" data-kind=\"%s\" data-samples=\"%llu\" data-x=\"%llu\" data-depth=\"%u\"",
		profile_frame_kind_to_string(kind), (unsigned long long)count,
		(unsigned long long)start, depth);
	if (w->base) {
		fprintf(out, " data-base=\"%llu\"><title>", (unsigned long long)base);
		svg_diff_title(w, name, count, base, gone);
	} else {
		fputs("><title>", out);
		svg_escape(out, name, SIZE_MAX);
		fprintf(out, " (%llu sample%s, ", (unsigned long long)count, count == 1 ? "" : "s");
		svg_fixed(out, 100.0 * (double)count / (double)w->total);
		fputs("%)", out);
	}
	fputs("</title><rect x=\"", out);
	svg_fixed(out, x);
	fprintf(out, "\" y=\"%u\" width=\"", y);
	svg_fixed(out, width);
	fprintf(out, "\" height=\"%u\" fill=\"rgb(%u,%u,%u)\"/>", SVG_FRAME_HEIGHT - 1, rgb[0],
		rgb[1], rgb[2]);
	if (room >= 3) {
		fputs("<text x=\"", out);
		svg_fixed(out, x + 3);
		fprintf(out, "\" y=\"%u\">", y + SVG_FRAME_HEIGHT - 4);
		svg_escape_cut(out, name, (size_t)room);
		fputs("</text>", out);
	}
	fputs("</g>\n", out);
}

/*
 * Draw node @id at @depth from sample offset @start, then its children:
 * the wide ones in label order, then the narrow ones as one block. The
 * recursion is bounded by PROFILE_MAX_DEPTH.
 */
static void svg_walk(struct svg_writer *w, uint32_t id, unsigned int depth, uint64_t start)
{
	const struct svg_node *n = &w->nodes[id];
	uint64_t x = start, narrow = 0, narrow_base = 0, gone = 0;
	uint32_t nr_narrow = 0;

	/* Children only the base profile has are not drawn; the tooltip counts them. */
	for (uint32_t i = 0; i < n->nr_kids; i++)
		if (!w->nodes[w->kids[n->first_kid + i]].count)
			gone += w->nodes[w->kids[n->first_kid + i]].base;
	if (id == 0) {
		svg_frame(w, "all", PROFILE_FRAME_SPECIAL, depth, start, n->count, n->base, gone);
	} else {
		const char *key = intern__get(w->labels, n->label, NULL);

		svg_frame(w, key + 1, (unsigned char)key[0], depth, start, n->count, n->base, gone);
	}
	for (uint32_t i = 0; i < n->nr_kids; i++) {
		uint32_t kid = w->kids[n->first_kid + i];
		uint64_t count = w->nodes[kid].count;

		if (!count)
			continue;
		if (!w->nodes[kid].drawn) {
			narrow += count;
			narrow_base += w->nodes[kid].base;
			nr_narrow++;
			continue;
		}
		svg_walk(w, kid, depth + 1, x);
		x += count;
	}
	if (nr_narrow && (double)narrow >= w->min_count) {
		char name[64];

		snprintf(name, sizeof(name), "[%u narrow frames]", nr_narrow);
		svg_frame(w, name, PROFILE_FRAME_SPECIAL, depth + 1, x, narrow, narrow_base, 0);
	}
}

/* Worst-case elements and bytes drawing node @id costs, counting a block of undrawn children. */
static void svg_cost(const struct svg_writer *w, uint32_t id, size_t *elements, size_t *bytes)
{
	size_t len = 0, kids = w->nodes[id].nr_kids ? 1 : 0;

	intern__get(w->labels, w->nodes[id].label, &len);
	*elements = 1 + kids;
	*bytes = 280 + 3 * len + 320 * kids + (w->base ? 160 + 3 * len : 0);
}

/* Wider first; among equals, the older node, so a parent always comes before its child. */
static int svg_width_cmp(const void *a, const void *b, void *data)
{
	const struct svg_writer *w = data;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	uint64_t cx = w->nodes[x].count, cy = w->nodes[y].count;

	if (cx != cy)
		return cx > cy ? -1 : 1;
	return x < y ? -1 : x > y;
}

/*
 * The change drawn at full colour: the largest of any drawn frame, but at
 * least SVG_DIFF_MIN_SCALE points, so noise between two alike windows stays pale.
 */
static void svg_diff_fit(struct svg_writer *w)
{
	w->diff_scale = SVG_DIFF_MIN_SCALE;
	for (size_t i = 0; i < w->nr_nodes; i++) {
		double d = svg_delta(w, w->nodes[i].count, w->nodes[i].base);

		if (w->nodes[i].drawn && (d < 0 ? -d : d) > w->diff_scale)
			w->diff_scale = d < 0 ? -d : d;
	}
}

/*
 * What of the base profile a differential graph cannot draw: the samples
 * under nodes the profile does not have (heads of call paths only the base
 * has), and the largest such node.
 */
static void svg_diff_gone(struct svg_writer *w)
{
	for (size_t i = 1; i < w->nr_nodes; i++) {
		const struct svg_node *n = &w->nodes[i];

		if (n->count || !n->base || (n->parent && !w->nodes[n->parent].count))
			continue;
		w->base_gone += n->base;
		if (!w->gone_largest || n->base > w->nodes[w->gone_largest].base)
			w->gone_largest = (uint32_t)i;
	}
}

/*
 * Choose the nodes to draw: all at least SVG_MIN_WIDTH wide or, when those
 * would be too many, the widest that fit the caps. A parent is never narrower
 * than its child, so either set holds every ancestor of what it holds.
 */
static int svg_fit(struct svg_writer *w)
{
	_cleanup_free_ uint32_t *order = NULL;
	size_t n = 0, elements = 0, bytes = 0, e, b;

	w->scale = (double)SVG_CHART_WIDTH / (double)w->total;
	w->min_count = SVG_MIN_WIDTH / w->scale;
	order = malloc(w->nr_nodes * sizeof(*order));
	if (!order)
		return -ENOMEM;
	for (uint32_t i = 0; i < w->nr_nodes; i++) {
		if (i && (double)w->nodes[i].count < w->min_count)
			continue;
		order[n++] = i;
		svg_cost(w, i, &e, &b);
		elements += e;
		bytes += b;
	}
	if (elements > SVG_MAX_ELEMENTS || bytes > SVG_MAX_BYTES)
		qsort_r(order, n, sizeof(*order), svg_width_cmp, w);
	elements = bytes = 0;
	for (size_t i = 0; i < n; i++) {
		svg_cost(w, order[i], &e, &b);
		if (i && (elements + e > SVG_MAX_ELEMENTS || bytes + b > SVG_MAX_BYTES))
			break;
		elements += e;
		bytes += b;
		w->nodes[order[i]].drawn = true;
	}
	if (w->base)
		svg_diff_fit(w);
	w->max_depth = 0;
	svg_walk(w, 0, 0, 0);
	return 0;
}


/* "NAME: N samples, S s from DATE UTC": one window of a differential graph. */
static void svg_window(FILE *out, const char *name, const struct profile_info *info, uint64_t total)
{
	fprintf(out, "%s: %llu sample%s", name, (unsigned long long)total, total == 1 ? "" : "s");
	if (info->duration_ns) {
		fputs(", ", out);
		svg_fixed(out, (double)info->duration_ns / 1e9);
		fputs(" s", out);
	}
	if (info->time_ns) {
		time_t t = (time_t)(info->time_ns / 1000000000ull);
		struct tm tm;
		char date[32];

		if (gmtime_r(&t, &tm) && strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm))
			fprintf(out, " from %s UTC", date);
	}
}

/*
 * The subtitle of a differential graph: both windows, and how much of the
 * base the picture cannot show because the profile lacks those call paths.
 */
static void svg_diff_subtitle(struct svg_writer *w)
{
	FILE *out = w->out;

	svg_window(out, "BASE", profile__info_const(w->base), w->base_total);
	fputs("; ", out);
	svg_window(out, "NEW", profile__info_const(w->p), w->total);
	if (w->base_gone) {
		const char *key = intern__get(w->labels, w->nodes[w->gone_largest].label, NULL);

		fputs("; ", out);
		svg_fixed(out, svg_percent(w->base_gone, w->base_total));
		fputs("% of BASE in call paths absent from NEW (largest: ", out);
		svg_escape_cut(out, key + 1, 30);
		fputs(", ", out);
		svg_fixed(out, svg_percent(w->nodes[w->gone_largest].base, w->base_total));
		fputs("%)", out);
	}
}


/* Title and subtitle: what was profiled, for how long, how often, how many samples. */
static void svg_header(struct svg_writer *w, unsigned int height)
{
	const struct profile_info *info = profile__info_const(w->p);
	const char *target = info->target && *info->target ? info->target : NULL;
	FILE *out = w->out;

	fprintf(out,
		"<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%u\" height=\"%u\" "
		"viewBox=\"0 0 %u %u\" class=\"hearth-flamegraph\" data-total=\"%llu\" "
		"data-xpad=\"%u\" data-chart-width=\"%u\" data-char-width=\"",
		SVG_WIDTH, height, SVG_WIDTH, height, (unsigned long long)w->total, SVG_XPAD,
		SVG_CHART_WIDTH);
	svg_fixed(out, SVG_CHAR_WIDTH);
	fprintf(out, "\" font-family=\"monospace\" font-size=\"%u\">\n", SVG_FONT_SIZE);
	fputs(svg_style, out);
	fprintf(out, "<rect width=\"%u\" height=\"%u\" fill=\"#f8f8f4\"/>\n", SVG_WIDTH, height);
	fprintf(out, "<text class=\"title\" x=\"%u\" y=\"24\" text-anchor=\"middle\">%s",
		SVG_WIDTH / 2, w->base ? "Differential flame graph" : "Flame graph");
	if (target) {
		fputs(": ", out);
		svg_escape_cut(out, target, 100);
	}
	fprintf(out, "</text>\n<text class=\"subtitle\" x=\"%u\" y=\"44\" text-anchor=\"middle\">",
		SVG_WIDTH / 2);
	if (w->base) {
		svg_diff_subtitle(w);
		fputs("</text>\n", out);
		return;
	}
	if (target) {
		fputs("Profiled ", out);
		svg_escape_cut(out, target, 60);
	}
	if (info->duration_ns) {
		fputs(target ? " for " : "Profiled for ", out);
		svg_fixed(out, (double)info->duration_ns / 1e9);
		fputs(" s", out);
	}
	if (info->rate_hz)
		fprintf(out, " at %u Hz", info->rate_hz);
	fprintf(out, "%s%llu sample%s", target || info->duration_ns || info->rate_hz ? ": " : "",
		(unsigned long long)w->total, w->total == 1 ? "" : "s");
	if (info->lost_samples)
		fprintf(out, " (%llu lost)", (unsigned long long)info->lost_samples);
	if (info->time_ns) {
		time_t t = (time_t)(info->time_ns / 1000000000ull);
		struct tm tm;
		char date[32];

		if (gmtime_r(&t, &tm) && strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm))
			fprintf(out, ", started %s UTC", date);
	}
	fputs("</text>\n", out);
}

/* The legend of a differential graph, from @x: what the colours and widths mean. */
static void svg_diff_legend(struct svg_writer *w, unsigned int x)
{
	static const struct {
		double sign;
		const char *name;
	} legend[] = { { 1, "grew" }, { -1, "shrank" }, { 0, "same" } };
	FILE *out = w->out;
	unsigned int rgb[3];

	for (size_t i = 0; i < ARRAY_SIZE(legend); i++) {
		svg_diff_color(w, legend[i].sign * w->diff_scale, rgb);
		fprintf(out, "<rect x=\"%u\" y=\"56\" width=\"12\" height=\"12\" fill=\"rgb(%u,%u,%u)\" "
			"stroke=\"#999\" stroke-width=\"0.5\"/><text x=\"%u\" y=\"66\">%s</text>", x, rgb[0],
			rgb[1], rgb[2], x + 16, legend[i].name);
		x += 16 + (unsigned int)(strlen(legend[i].name) * SVG_CHAR_WIDTH) + 20;
	}
	fprintf(out, "<text x=\"%u\" y=\"66\">share of all samples; full colour at ", x);
	svg_fixed(out, w->diff_scale);
	fputs(" points; widths from NEW</text></g>\n", out);
}

/* The controls, the legend of frame kinds and the two status lines. */
static void svg_controls(struct svg_writer *w, unsigned int height)
{
	static const struct {
		unsigned int kind;
		const char *name;
	} legend[] = {
		{ PROFILE_FRAME_NATIVE, "native" },   { PROFILE_FRAME_KERNEL, "kernel" },
		{ PROFILE_FRAME_PYTHON, "python" },   { PROFILE_FRAME_PROCESS, "process" },
		{ PROFILE_FRAME_THREAD, "thread" },   { PROFILE_FRAME_SPECIAL, "special" },
	};
	unsigned int x = 355, rgb[3];
	FILE *out = w->out;

	fprintf(out,
		"<text class=\"hearth-control hearth-reset hearth-off\" x=\"%u\" y=\"66\">Reset Zoom</text>\n"
		"<text class=\"hearth-control hearth-search\" x=\"%u\" y=\"66\" "
		"text-anchor=\"end\">Search</text>\n"
		"<text class=\"hearth-matched\" x=\"%u\" y=\"%u\" text-anchor=\"end\"></text>\n"
		"<text class=\"hearth-details\" x=\"%u\" y=\"%u\"> </text>\n<g class=\"hearth-legend\">",
		SVG_XPAD, SVG_WIDTH - SVG_XPAD, SVG_WIDTH - SVG_XPAD, height - 10, SVG_XPAD,
		height - 10);
	if (w->base) {
		svg_diff_legend(w, x);
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(legend); i++) {
		svg_color(legend[i].kind, "", rgb);
		fprintf(out, "<rect x=\"%u\" y=\"56\" width=\"12\" height=\"12\" fill=\"rgb(%u,%u,%u)\"/>"
			"<text x=\"%u\" y=\"66\">%s</text>", x, rgb[0], rgb[1], rgb[2], x + 16,
			legend[i].name);
		x += 16 + (unsigned int)(strlen(legend[i].name) * SVG_CHAR_WIDTH) + 20;
	}
	fputs("</g>\n", out);
}

static int svg_write(const struct profile *p, const struct export_options *o, FILE *out)
{
	struct svg_writer w = { .p = p, .out = out };
	unsigned int height;
	int r;

	w.base = o ? o->base : NULL;
	if ((r = intern__new(0, &w.labels)) < 0 || (r = intern__new(0, &w.keys)) < 0 ||
	    (r = svg_build(&w)) < 0)
		goto out;
	if (w.base)
		svg_diff_gone(&w);
	if (!w.total) {
		height = 140;
		svg_header(&w, height);
		fprintf(out, "<text x=\"%u\" y=\"96\" text-anchor=\"middle\" font-size=\"16\">"
			"no samples%s</text>\n</svg>\n", SVG_WIDTH / 2, w.base ? " in NEW" : "");
		r = ferror(out) ? -EIO : 0;
		goto out;
	}
	if ((r = svg_link(&w)) < 0)
		goto out;
	if ((r = svg_fit(&w)) < 0)
		goto out;
	height = SVG_TOP + (w.max_depth + 1) * SVG_FRAME_HEIGHT + SVG_BOTTOM;
	svg_header(&w, height);
	svg_controls(&w, height);
	fputs("<g class=\"hearth-frames\">\n", out);
	w.emit = true;
	svg_walk(&w, 0, 0, 0);
	fputs("</g>\n", out);
	fputs(svg_script, out);
	if (w.base)
		fputs(svg_diff_script, out);
	fputs("</svg>\n", out);
	r = ferror(out) ? -EIO : 0;
out:
	intern__free(w.labels);
	intern__free(w.keys);
	free(w.nodes);
	free(w.kids);
	free(w.frame_labels);
	return r;
}

static const char *const svg_extensions[] = { ".svg", NULL };

const struct exporter exporter_svg = {
	.name = "svg",
	.description = "interactive flame graph: click to zoom, search, hover for details",
	.extensions = svg_extensions,
	.diff = true,
	.write = svg_write,
};
