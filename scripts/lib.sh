# SPDX-License-Identifier: MIT
# Shared by scripts/demo, scripts/test and bench/run: install what is missing
# from Debian's packages, then configure and build into build/.

HEARTH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# What building Hearth needs.
HEARTH_BUILD_PACKAGES="gcc libc6-dev binutils make meson ninja-build pkg-config clang \
	libbpf-dev libelf-dev libdw-dev zlib1g-dev libprotobuf-c-dev protobuf-c-compiler libunwind-dev bpftool"
# What the tests add: Python for the test drivers, go tool pprof, Node for the
# speedscope schema, Chromium for the SVG, util-linux for setpriv and unshare,
# Docker for a real container.
HEARTH_TEST_PACKAGES="python3 golang-go chromium util-linux mount docker.io"
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

# Today's CPythons (3.13 patch releases, 3.14, 3.15) come from Debian unstable.
# They need a newer libc than Debian 12's, so they live in a root of their own,
# made once with debootstrap and kept outside the checkout for every later run.
# Tests run them as `chroot ROOT /usr/bin/python3.X`: a second distribution in
# another mount root, as a container is to Hearth.
HEARTH_CACHE=${HEARTH_CACHE:-/var/cache/hearth}
HEARTH_SID_ROOT=${HEARTH_SID_ROOT:-$HEARTH_CACHE/sid-root}
HEARTH_SID_MINORS="3.13 3.14 3.15"

# The archive apt uses here (the first URI of its own sources).
apt_archive_uri() {
	local uri
	uri=$(awk '/^URIs:/ && $2 !~ /security/ { print $2; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null)
	[ -n "$uri" ] || uri=$(awk '$1 == "deb" && $3 !~ /security/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null)
	echo "${uri:-http://deb.debian.org/debian}"
}

# Make $HEARTH_SID_ROOT unless it is there: debootstrap --variant=minbase of
# suite sid, then the interpreters of HEARTH_SID_MINORS the archive offers,
# their -dev headers and -dbg builds, and gcc for the test extension. The
# root's VERSIONS file lists "3.X <version of python3.X>" lines. When it
# cannot be made, $HEARTH_SID_ROOT.failed says why and this returns 1; the
# next run tries again.
ensure_sid_root() {
	local root=$HEARTH_SID_ROOT tmp=$HEARTH_SID_ROOT.new failed=$HEARTH_SID_ROOT.failed
	local uri pkgs minor start log

	[ -f "$root/VERSIONS" ] && return 0
	[ "$(id -u)" -eq 0 ] || { say "the Debian unstable root needs root to make"; return 1; }
	mkdir -p "$HEARTH_CACHE"
	exec 9>"$root.lock"
	flock 9
	[ -f "$root/VERSIONS" ] && { exec 9>&-; return 0; }
	ensure_packages debootstrap
	uri=$(apt_archive_uri)
	log=$HEARTH_CACHE/sid-root.log
	start=$(date +%s)
	rm -rf "$tmp"
	say "making the Debian unstable root $root from $uri (a few minutes, once)"
	if ! debootstrap --variant=minbase sid "$tmp" "$uri" >"$log" 2>&1; then
		echo "debootstrap of sid from $uri failed: $(tail -n 1 "$log")" >"$failed"
		say "$(cat "$failed")"
		exec 9>&-
		return 1
	fi
	cp /etc/resolv.conf "$tmp/etc/resolv.conf" 2>/dev/null || true
	# The host's own apt settings (a mirror's proxy, an archive snapshot whose
	# Release file has expired) hold for the same archive inside.
	cp /etc/apt/apt.conf.d/* "$tmp/etc/apt/apt.conf.d/" 2>/dev/null || true
	pkgs="gcc libc6-dev"
	if ! unshare -m sh -c "mount -t proc proc '$tmp/proc' && chroot '$tmp' apt-get update -qq" >>"$log" 2>&1; then
		echo "apt-get update in the sid root failed: $(tail -n 1 "$log")" >"$failed"
		say "$(cat "$failed")"
		exec 9>&-
		return 1
	fi
	# What the archive offers today.
	for minor in $HEARTH_SID_MINORS; do
		chroot "$tmp" apt-cache show "python$minor" >/dev/null 2>&1 &&
			pkgs="$pkgs python$minor libpython$minor-dev python$minor-dbg"
	done
	if ! unshare -m sh -c "mount -t proc proc '$tmp/proc' && DEBIAN_FRONTEND=noninteractive chroot '$tmp' apt-get install -y -qq --no-install-recommends $pkgs" >>"$log" 2>&1; then
		echo "installing $pkgs in the sid root failed: $(tail -n 1 "$log")" >"$failed"
		say "$(cat "$failed")"
		exec 9>&-
		return 1
	fi
	chroot "$tmp" apt-get clean >/dev/null 2>&1 || true
	: >"$tmp/VERSIONS.new"
	for minor in $HEARTH_SID_MINORS; do
		[ -x "$tmp/usr/bin/python$minor" ] &&
			echo "$minor $(chroot "$tmp" dpkg-query -W -f='${Version}' "python$minor")" >>"$tmp/VERSIONS.new"
	done
	mv "$tmp/VERSIONS.new" "$tmp/VERSIONS"
	rm -rf "$root" "$failed"
	mv "$tmp" "$root"
	say "made $root in $(($(date +%s) - start)) s: $(tr '\n' ' ' <"$root/VERSIONS")"
	exec 9>&-
}

# A Docker engine for the container tests. PID 1 is no init that starts one
# here, so start dockerd (its data kept in the cache) unless one answers.
HEARTH_DOCKER=/usr/bin/docker
ensure_dockerd() {
	"$HEARTH_DOCKER" info >/dev/null 2>&1 && return 0
	[ -x /usr/sbin/dockerd ] || { say "no dockerd (Debian's docker.io)"; return 1; }
	mkdir -p "$HEARTH_CACHE/docker"
	say "starting dockerd (its log: $HEARTH_CACHE/dockerd.log)"
	setsid /usr/sbin/dockerd --data-root "$HEARTH_CACHE/docker" -p /run/hearth-dockerd.pid \
		>"$HEARTH_CACHE/dockerd.log" 2>&1 </dev/null &
	for _ in $(seq 120); do
		"$HEARTH_DOCKER" info >/dev/null 2>&1 && return 0
		sleep 0.5
	done
	say "dockerd did not come up: $(tail -n 1 "$HEARTH_CACHE/dockerd.log")"
	return 1
}

# The Debian unstable root as a Docker image (no registry is reachable: docker
# import of the root), tagged by what the root holds; prints the tag.
sid_image_tag() {
	echo "hearth-sid:$(md5sum <"$HEARTH_SID_ROOT/VERSIONS" | cut -c1-12)"
}

ensure_sid_image() {
	local tag
	[ -f "$HEARTH_SID_ROOT/VERSIONS" ] || return 1
	tag=$(sid_image_tag)
	"$HEARTH_DOCKER" image inspect "$tag" >/dev/null 2>&1 && return 0
	say "importing $HEARTH_SID_ROOT as the Docker image $tag"
	tar -C "$HEARTH_SID_ROOT" --exclude=./proc --exclude=./sys --exclude=./dev -c . |
		"$HEARTH_DOCKER" import - "$tag" >/dev/null
}

# Debian unstable's austin 3.7, for bench/run's side-by-side rows: its package
# wants python3 < 3.14, so it is unpacked into the root rather than installed.
ensure_sid_austin() {
	[ -x "$HEARTH_SID_ROOT/opt/austin/usr/bin/austin" ] && return 0
	[ -f "$HEARTH_SID_ROOT/VERSIONS" ] || return 1
	chroot "$HEARTH_SID_ROOT" sh -c 'cd /tmp && rm -f austin_*.deb && apt-get download -qq austin &&
		dpkg -x austin_*.deb /opt/austin && rm -f austin_*.deb' >/dev/null 2>&1 ||
		{ say "cannot unpack Debian unstable's austin into the root"; return 1; }
}
