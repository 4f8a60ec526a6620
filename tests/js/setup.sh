#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install the Node packages the speedscope check needs (speedscope's schema and
# Ajv), exactly as package-lock.json pins them. Does nothing when node_modules
# is already newer than the lock file, so it is safe to run before every test.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

if [ -d node_modules ] && [ -f node_modules/.package-lock.json ] &&
	[ ! package-lock.json -nt node_modules/.package-lock.json ]; then
	exit 0
fi
if ! command -v npm >/dev/null; then
	echo "tests/js/setup.sh: npm not found; install Node.js and npm (Debian: apt-get install nodejs npm)" >&2
	exit 1
fi
if ! npm ci --no-audit --no-fund >&2; then
	echo "tests/js/setup.sh: npm ci failed in $PWD" >&2
	exit 1
fi
# npm ci keeps the lock file's time; mark the install as done now.
touch node_modules/.package-lock.json
