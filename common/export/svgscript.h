/* SPDX-License-Identifier: MIT */
/* The style sheet and scripts svg.c embeds in every flame graph (svgscript.c). */
#ifndef HEARTH_SVGSCRIPT_H
#define HEARTH_SVGSCRIPT_H

/* A <style> element: colours of text, hover, dimmed and hidden frames, controls. */
extern const char svg_style[];

/* A <script> element: zoom on click, search, details of the frame under the mouse. */
extern const char svg_script[];

/* A <script> element for differential graphs: the hovered frame's change in the details line. */
extern const char svg_diff_script[];

#endif
