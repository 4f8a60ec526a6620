#!/usr/bin/env node
// SPDX-License-Identifier: MIT
//
// Checks a speedscope file against the schema speedscope itself ships, plus
// what the schema cannot say: every sample names real frames, each sample has
// a weight, and the frames a test expects are there.
//
//   validate-speedscope.js FILE [--expect-frame NAME ...] [--expect-profiles N]
//
// Prints one line and exits 0 when the file is good, 1 when it is not (or on
// bad usage, or when tests/js/setup.sh has not been run).
"use strict";

const fs = require("fs");
const path = require("path");

const PROG = "validate-speedscope";

function fail(msg) {
	console.log(`${PROG}: ${msg}`);
	process.exit(1);
}

function usage() {
	fail("usage: validate-speedscope.js FILE [--expect-frame NAME ...] [--expect-profiles N]");
}

function parseArgs(argv) {
	const args = { file: null, frames: [], profiles: null };

	for (let i = 0; i < argv.length; i++) {
		const a = argv[i];

		if (a === "--expect-frame" || a === "--expect-profiles") {
			if (i + 1 >= argv.length)
				usage();
			const v = argv[++i];
			if (a === "--expect-frame") {
				args.frames.push(v);
			} else {
				if (!/^\d+$/.test(v))
					usage();
				args.profiles = Number(v);
			}
		} else if (a.startsWith("--") || args.file !== null) {
			usage();
		} else {
			args.file = a;
		}
	}
	if (args.file === null)
		usage();
	return args;
}

// The schema inside the speedscope package; its place has moved between releases.
function findSchema() {
	let root;

	try {
		const pkg = require.resolve("speedscope/package.json", { paths: [__dirname] });
		root = path.dirname(pkg);
	} catch (e) {
		fail("the speedscope package is not installed; run tests/js/setup.sh");
	}
	for (const rel of ["dist/release/file-format-schema.json", "dist/file-format-schema.json",
			   "file-format-schema.json"]) {
		const p = path.join(root, rel);
		if (fs.existsSync(p))
			return p;
	}
	const stack = [root];
	while (stack.length) {
		const dir = stack.pop();
		for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
			const p = path.join(dir, e.name);
			if (e.isDirectory() && e.name !== "node_modules")
				stack.push(p);
			else if (e.name === "file-format-schema.json")
				return p;
		}
	}
	fail(`no file-format-schema.json in ${root}`);
}

// An Ajv that understands the draft the schema declares.
function makeAjv(schema) {
	const draft = schema.$schema || "";
	const opts = { allErrors: false, strict: false };
	let Ajv;

	if (draft.includes("draft-04") || draft.includes("draft-06"))
		fail(`schema uses ${draft}, which this Ajv does not read`);
	try {
		if (draft.includes("2020-12"))
			Ajv = require("ajv/dist/2020");
		else if (draft.includes("2019-09"))
			Ajv = require("ajv/dist/2019");
		else
			Ajv = require("ajv");
	} catch (e) {
		fail("ajv is not installed; run tests/js/setup.sh");
	}
	Ajv = Ajv.default || Ajv;
	return new Ajv(opts);
}

function describe(err) {
	const where = err.instancePath || "(top level)";
	return `${where} ${err.message}`;
}

// A profile matches one of two shapes (anyOf), and Ajv then reports the first
// branch's complaint; check it against the shape its "type" asks for instead.
function explain(ajv, doc, errors) {
	for (const err of errors) {
		const m = /^\/profiles\/(\d+)/.exec(err.instancePath);
		if (!m)
			continue;
		const pr = doc.profiles[Number(m[1])];
		const def = pr && pr.type === "evented" ? "FileFormat.EventedProfile" :
			    pr && pr.type === "sampled" ? "FileFormat.SampledProfile" : null;
		const check = def && ajv.getSchema(`speedscope#/definitions/${def}`);
		if (check && !check(pr))
			return `/profiles/${m[1]}` + describe(check.errors[0]).replace("(top level)", "");
	}
	return describe(errors[0]);
}

function main() {
	const args = parseArgs(process.argv.slice(2));
	const schemaPath = findSchema();
	const schema = JSON.parse(fs.readFileSync(schemaPath, "utf8"));
	let text, doc;

	try {
		text = fs.readFileSync(args.file);
	} catch (e) {
		fail(`cannot read ${args.file}: ${e.message}`);
	}
	// JSON must be UTF-8; a lenient decode would hide a bad byte behind U+FFFD.
	try {
		text = new TextDecoder("utf-8", { fatal: true }).decode(text);
	} catch (e) {
		fail(`${args.file}: not valid UTF-8`);
	}
	try {
		doc = JSON.parse(text);
	} catch (e) {
		fail(`${args.file}: not JSON: ${e.message}`);
	}

	const ajv = makeAjv(schema);
	ajv.addSchema(schema, "speedscope");
	const validate = ajv.getSchema("speedscope");
	if (!validate(doc)) {
		const why = explain(ajv, doc, validate.errors);
		fail(`${args.file}: does not match the speedscope schema: ${why}`);
	}

	const frames = doc.shared.frames;
	const profiles = doc.profiles;
	for (let i = 0; i < profiles.length; i++) {
		const pr = profiles[i];
		const where = `profile ${i} (${JSON.stringify(pr.name)})`;

		if (pr.type !== "sampled")
			fail(`${where}: type ${pr.type}, expected sampled`);
		if (pr.samples.length !== pr.weights.length)
			fail(`${where}: ${pr.samples.length} samples but ${pr.weights.length} weights`);
		let sum = 0;
		for (let j = 0; j < pr.samples.length; j++) {
			for (const idx of pr.samples[j]) {
				if (!Number.isInteger(idx) || idx < 0 || idx >= frames.length)
					fail(`${where}: sample ${j} names frame ${idx}, ` +
					     `but there are ${frames.length} frames`);
			}
			const w = pr.weights[j];
			if (!Number.isFinite(w) || w < 0)
				fail(`${where}: sample ${j} has weight ${w}`);
			sum += w;
		}
		if (pr.endValue < pr.startValue)
			fail(`${where}: endValue ${pr.endValue} before startValue ${pr.startValue}`);
		if (pr.endValue - pr.startValue < sum * (1 - 1e-9))
			fail(`${where}: weights add up to ${sum}, more than endValue - startValue`);
	}
	if (doc.activeProfileIndex !== undefined &&
	    (!Number.isInteger(doc.activeProfileIndex) || doc.activeProfileIndex < 0 ||
	     doc.activeProfileIndex >= profiles.length))
		fail(`activeProfileIndex ${doc.activeProfileIndex} with ${profiles.length} profiles`);
	if (args.profiles !== null && profiles.length !== args.profiles)
		fail(`${profiles.length} profiles, expected ${args.profiles}`);

	const names = new Set(frames.map((f) => f.name));
	for (const name of args.frames) {
		if (!names.has(name))
			fail(`no frame named ${JSON.stringify(name)} among ${frames.length} frames`);
	}
	// A frame expected by a test must also be used by a sample, not just listed.
	const used = new Set();
	for (const pr of profiles)
		for (const s of pr.samples)
			for (const idx of s)
				used.add(frames[idx].name);
	for (const name of args.frames) {
		if (!used.has(name))
			fail(`frame ${JSON.stringify(name)} is listed but no sample uses it`);
	}

	console.log(`${PROG}: ok (${profiles.length} profiles, ${frames.length} frames)`);
	process.exit(0);
}

main();
