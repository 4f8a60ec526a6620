# SPDX-License-Identifier: MIT
# Shared by scripts/demo, scripts/test and bench/run: install what is missing
# from Debian's packages, then configure and build into build/.

HEARTH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# What building Hearth needs.
HEARTH_BUILD_PACKAGES="gcc libc6-dev binutils make meson ninja-build pkg-config clang \
	libbpf-dev libelf-dev zlib1g-dev libprotobuf-c-dev protobuf-c-compiler libunwind-dev bpftool"
# What the tests add: Python for the test drivers, go tool pprof, Node for the
# speedscope schema, Chromium for the SVG, util-linux for setpriv and unshare.
HEARTH_TEST_PACKAGES="python3 golang-go chromium util-linux mount"
# What the benchmark compares against.
HEARTH_BENCH_PACKAGES="python3 linux-perf austin"

say() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { say "$*"; exit 1; }

# Install each named Debian package that is not installed yet.
ensure_packages() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || die "missing packages (${missing[*]}); run as root or install them"
	say "installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get update -qq || die "apt-get update failed"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" \
		>/dev/null || die "apt-get install ${missing[*]} failed"
}

# Node and npm: a machine may carry its own; Debian's only when there is none.
ensure_node() {
	command -v node >/dev/null && command -v npm >/dev/null && return 0
	ensure_packages nodejs npm
}

# Configure (once) and build into build/.
build_hearth() {
	cd "$HEARTH_ROOT" || exit 1
	if [ ! -f build/build.ninja ]; then
		meson setup build >/dev/null || die "meson setup failed (see build/meson-logs/meson-log.txt)"
	fi
	ninja -C build >/dev/null || { ninja -C build; die "build failed"; }
}
