/* SPDX-License-Identifier: MIT */
/*
 * Where the fields a CPython stack walker and symbolizer read sit, per minor
 * version (2.7, 3.6-3.15, default non-debug, GIL builds).
 *
 * The values are measured with offsetof()/sizeof() against each version's
 * installed headers by scripts/gen-python-offsets, which writes the table in
 * pyoffsets-table.c; nothing here is typed in by hand. Each field names the
 * CPython struct member it measures and the header that declares it, with
 * paths relative to include/pythonX.Y/. The table holds for the architecture
 * it was generated on (the committed one: x86-64); built for another,
 * py_offsets_find() knows no version.
 *
 * Every field is a byte offset, a size in bytes, a bit number or an enum value;
 * PY_OFFSET_NONE means the field does not exist in that version.
 *
 * From 3.13 on a CPython describes its own layout: _PyRuntime starts with a
 * _Py_DebugOffsets table (cookie "xdebugpy", PY_VERSION_HEX, then offsetof()
 * and sizeof() values of the structs a debugger reads), made by the build
 * itself, so it holds for every patch release and for debug builds. Where in
 * that table each field's value is, is itself per minor (struct
 * py_debug_layout, generated from the same headers); the reader (pyfind.c)
 * takes every field the table has from the target. The table does not carry
 * enum values, tag bits, _co_firsttraceable or bit positions: those stay
 * per-minor constants here. From 3.14 on the fields the target carries are
 * PY_OFFSET_TARGET in py_offsets_find()'s entries: no value is committed
 * that a patch release can change.
 */
#ifndef HEARTH_PYOFFSETS_H
#define HEARTH_PYOFFSETS_H

#include <stddef.h>
#include <stdint.h>

#define PY_OFFSET_NONE ((int16_t)-1)
/* Only the target's own _Py_DebugOffsets tells (3.14+): see py_debug_layout. */
#define PY_OFFSET_TARGET ((int16_t)-2)

struct py_offsets {
	uint16_t major;
	uint16_t minor;

	/* PyObject, PyVarObject (object.h) */
	int16_t object_type;   /* ob_type */
	int16_t varobject_size; /* ob_size */
	int16_t type_name;      /* PyTypeObject.tp_name (object.h, cpython/object.h from 3.8) */

	/*
	 * _PyRuntimeState, the _PyRuntime symbol (3.7+; internal/pystate.h in 3.7,
	 * internal/pycore_pystate.h in 3.8, internal/pycore_runtime.h from 3.9).
	 * 2.7 and 3.6 have no runtime struct: their exported _PyThreadState_Current
	 * is the thread holding the GIL, and the interpreter list head is static.
	 */
	int16_t runtime_interpreters_head; /* interpreters.head */
	int16_t runtime_interpreters_main; /* interpreters.main */
	int16_t runtime_main_thread;       /* main_thread (3.8+), a pthread_t */
	int16_t runtime_tstate_current;    /* gilstate.tstate_current (3.7-3.11): GIL holder */
	int16_t runtime_gil;               /* ceval.gil, a struct _gil_runtime_state (3.7-3.11) */
	int16_t runtime_debug_offsets;     /* debug_offsets, _Py_DebugOffsets (3.13) */

	/*
	 * PyInterpreterState (pystate.h up to 3.7, internal/pycore_pystate.h in 3.8,
	 * internal/pycore_interp.h from 3.9)
	 */
	int16_t interp_next;        /* next */
	int16_t interp_tstate_head; /* tstate_head up to 3.10, threads.head from 3.11 */
	int16_t interp_gil;         /* ceval.gil, a pointer to struct _gil_runtime_state (3.12+) */

	/*
	 * struct _gil_runtime_state (3.7+; internal/gil.h in 3.7, internal/pycore_gil.h
	 * from 3.8), found at runtime_gil (3.7-3.11) or through interp_gil (3.12+)
	 */
	int16_t gil_last_holder; /* last_holder, a PyThreadState pointer */
	int16_t gil_locked;      /* locked, an int: 1 while some thread holds the GIL */

	/* PyThreadState (pystate.h up to 3.7, cpython/pystate.h from 3.8) */
	int16_t tstate_next;             /* next */
	int16_t tstate_interp;           /* interp */
	int16_t tstate_frame;            /* frame, a PyFrameObject pointer (up to 3.10) */
	int16_t tstate_cframe;           /* cframe, a _PyCFrame pointer (3.11-3.12) */
	int16_t tstate_current_frame;    /* current_frame, a _PyInterpreterFrame pointer (3.13) */
	int16_t tstate_thread_id;        /* thread_id, the pthread_t (a long in 2.7) */
	int16_t tstate_native_thread_id; /* native_thread_id, the kernel tid (3.11+) */
	int16_t tstate_holds_gil;        /* _status, a 32-bit word holding holds_gil (3.13); holds_gil (3.15) */
	int16_t tstate_holds_gil_bit;    /* bit of holds_gil in that little-endian word */
	int16_t tstate_gil_requested;    /* gil_requested, an int: waiting for the GIL (3.15) */
	int16_t tstate_base_frame;       /* base_frame: the sentinel at the bottom of the stack (3.15) */
	int16_t tstate_size;             /* sizeof(PyThreadState) */

	/* _PyCFrame (cpython/pystate.h, 3.11-3.12) */
	int16_t cframe_current_frame; /* current_frame, a _PyInterpreterFrame pointer */

	/*
	 * PyFrameObject (frameobject.h, cpython/frameobject.h in 3.9-3.10), the
	 * frames tstate_frame links, up to 3.10. f_lasti counts bytes up to 3.9 and
	 * code units in 3.10; f_lineno is only kept up to date while tracing.
	 */
	int16_t frame_back;   /* f_back */
	int16_t frame_code;   /* f_code */
	int16_t frame_lasti;  /* f_lasti, an int */
	int16_t frame_lineno; /* f_lineno, an int */
	int16_t frame_size;   /* sizeof(PyFrameObject) */

	/*
	 * _PyInterpreterFrame (internal/pycore_frame.h, 3.11+). The instruction
	 * pointer is a _Py_CODEUNIT pointer into the code object's
	 * co_code_adaptive; prev_instr (3.11-3.12) points at the unit before the
	 * next instruction, instr_ptr (3.13) at the current one.
	 */
	int16_t iframe_code;         /* f_code (3.11-3.12), f_executable (3.13; may not be code) */
	int16_t iframe_previous;     /* previous */
	int16_t iframe_instr;        /* prev_instr (3.11-3.12), instr_ptr (3.13) */
	int16_t iframe_owner;        /* owner, a char holding an enum _frameowner */
	int16_t iframe_owner_generator; /* FRAME_OWNED_BY_GENERATOR: never incomplete (3.11+) */
	int16_t iframe_owner_shim;   /* owners from this on are the interpreter's own frames, skipped:
				      * FRAME_OWNED_BY_CSTACK (3.12-3.13), FRAME_OWNED_BY_INTERPRETER (3.14+) */
	int16_t iframe_stackref_bits;   /* Py_TAG_BITS of f_executable, a _PyStackRef (3.14+) */
	int16_t iframe_stackref_refcnt; /* Py_TAG_REFCNT: the one tag besides 0 on an object pointer */
	int16_t iframe_is_entry;     /* is_entry, a bool: the outermost frame of an activation (3.11) */
	int16_t iframe_size;         /* offsetof(localsplus): the fixed part */

	/* PyCodeObject (code.h, cpython/code.h from 3.9) */
	int16_t code_filename;       /* co_filename (a str in 2.7, unicode since) */
	int16_t code_name;           /* co_name */
	int16_t code_qualname;       /* co_qualname (3.11+) */
	int16_t code_firstlineno;    /* co_firstlineno, an int */
	int16_t code_lnotab;         /* co_lnotab, bytes (up to 3.9) */
	int16_t code_linetable;      /* co_linetable, bytes (3.10+; the format changes in 3.11) */
	int16_t code_code;           /* co_code, bytes (up to 3.10) */
	int16_t code_code_adaptive;  /* co_code_adaptive, the inline code units (3.11+) */
	int16_t code_firsttraceable; /* _co_firsttraceable, an int (3.11+) */
	int16_t code_size;           /* sizeof(PyCodeObject) */
	int16_t codeunit_size;       /* sizeof(_Py_CODEUNIT) (3.6+) */

	/*
	 * PyASCIIObject, PyCompactUnicodeObject, PyUnicodeObject
	 * (unicodeobject.h up to 3.7, cpython/unicodeobject.h from 3.8; 3.x only).
	 * Bits count from the least significant of the little-endian 32-bit word
	 * at unicode_state; kind is 3 bits wide (1, 2 or 4 bytes a character).
	 * Compact ASCII text starts at unicode_ascii_data, other compact text at
	 * unicode_compact_data, other strings at the pointer at unicode_data_any.
	 */
	int16_t unicode_length;       /* length, in code points */
	int16_t unicode_state;        /* state */
	int16_t unicode_kind_shift;   /* state.kind */
	int16_t unicode_compact_bit;  /* state.compact */
	int16_t unicode_ascii_bit;    /* state.ascii */
	int16_t unicode_ascii_data;   /* sizeof(PyASCIIObject) */
	int16_t unicode_compact_data; /* sizeof(PyCompactUnicodeObject) */
	int16_t unicode_data_any;     /* PyUnicodeObject data.any */

	/* PyBytesObject (bytesobject.h, cpython/bytesobject.h from 3.9), PyStringObject in 2.7 */
	int16_t bytes_size; /* ob_size */
	int16_t bytes_sval; /* ob_sval, the bytes */
};

/*
 * The offsets of CPython MAJOR.MINOR, or NULL when the table has no such
 * version (or was generated for another architecture). The result points into
 * a static table: nothing to free. From 3.14 on, the fields the target's
 * _Py_DebugOffsets carries are PY_OFFSET_TARGET: pyfind() fills them.
 */
const struct py_offsets *py_offsets_find(unsigned int major, unsigned int minor);

/* The int16_t fields of struct py_offsets, as an array, and their names. */
#define PY_OFFSETS_FIRST object_type
#define PY_OFFSETS_NR ((sizeof(struct py_offsets) - offsetof(struct py_offsets, PY_OFFSETS_FIRST)) / sizeof(int16_t))
extern const char *const py_offsets_names[];

static inline int16_t *py_offsets_array(struct py_offsets *o)
{
	return &o->PY_OFFSETS_FIRST;
}

static inline const int16_t *py_offsets_carray(const struct py_offsets *o)
{
	return &o->PY_OFFSETS_FIRST;
}

/*
 * The layout of _Py_DebugOffsets itself in CPython MAJOR.MINOR (3.13+):
 * where each of its values is, as byte offsets from its start, all
 * uint64_t. @at has, for each field of struct py_offsets, where its value is
 * (PY_OFFSET_NONE: not there); gil_last_holder and gil_locked are offsets
 * into PyInterpreterState of its own GIL, taken relative to @gil_base's.
 * The *_size members hold the sizes of the structs their fields lie in.
 */
struct py_debug_layout {
	uint16_t major;
	uint16_t minor;
	uint32_t prerelease; /* 0: any final release; else the only PY_VERSION_HEX it describes */
	int16_t size;          /* sizeof(_Py_DebugOffsets) */
	int16_t version;       /* PY_VERSION_HEX */
	int16_t free_threaded; /* nonzero in free-threaded (no-GIL) builds */
	int16_t gil_base;      /* interpreter_state.gil_runtime_state */
	int16_t runtime_size;  /* sizeof(_PyRuntimeState) */
	int16_t interp_size;   /* sizeof(PyInterpreterState) */
	int16_t tstate_size;   /* sizeof(PyThreadState) */
	int16_t iframe_size;   /* sizeof(_PyInterpreterFrame) */
	int16_t code_size;     /* sizeof(PyCodeObject) */
	int16_t object_size;   /* sizeof(PyObject) */
	int16_t type_size;     /* sizeof(PyTypeObject) */
	int16_t bytes_size;    /* sizeof(PyBytesObject) */
	int16_t unicode_size;  /* sizeof(PyUnicodeObject) */
	struct py_offsets at;
};

/* The layout for MAJOR.MINOR, or NULL; the newest known (for versions after it). */
const struct py_debug_layout *py_debug_layout_find(unsigned int major, unsigned int minor);
const struct py_debug_layout *py_debug_layout_newest(void);

#endif
