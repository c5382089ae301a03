#!/usr/bin/env bash
# Builds the local base images, with no registry pull (Docker Hub is out of reach here):
#   local/debian:bookworm-minbase  debootstrap --variant=minbase bookworm, `docker import`ed
#   local/debian:bookworm          + ca-certificates and this host's CAs (/usr/local/share/ca-certificates)
#   local/python:3.11-bookworm     + Debian's python3 (3.11) and venv    (PYTHON_IMAGE)
#   local/node:22-bookworm         + Node 22 and npm from the npm registry (NODE_IMAGE)
# The rootfs tarball is cached in $PARLEY_CACHE/images/, so a re-run skips debootstrap; the
# rest is the engine's layer cache. Idempotent. Needs root (debootstrap). PARLEY_IMAGES_REFRESH=1
# debootstraps again and builds every layer anew (Debian's updates since the cache was made).
# Env: DEBIAN_MIRROR (http://deb.debian.org/debian).
set -euo pipefail
# shellcheck source=scripts/images/lib.sh
. "$(dirname "$0")/lib.sh"
ensure_engine

MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
TARBALL="$IMAGES_CACHE/debian-bookworm-minbase.tar"

make_rootfs() {
	command -v debootstrap >/dev/null || {
		log "apt-get install debootstrap"
		apt-get update -qq >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 \
			--no-install-recommends debootstrap >&2
	}
	local root
	root=$(mktemp -d "$IMAGES_CACHE/rootfs.XXXXXX")
	log "debootstrap --variant=minbase bookworm ($MIRROR)"
	debootstrap --variant=minbase bookworm "$root" "$MIRROR" >"$IMAGES_CACHE/debootstrap.log" 2>&1 ||
		{ tail -20 "$IMAGES_CACHE/debootstrap.log" >&2; die "debootstrap failed"; }
	# As the official debian:bookworm-slim: updates and security suites, no docs/man/locales in
	# later installs, no package lists or .debs left in the layer.
	cat >"$root/etc/apt/sources.list" <<SRC
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb ${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security} bookworm-security main
SRC
	cat >"$root/etc/dpkg/dpkg.cfg.d/docker-slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
CFG
	find "$root/usr/share/doc" -mindepth 2 ! -name copyright -delete 2>/dev/null || true
	rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/var/cache/apt/archives/*.deb \
		"$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/* "$root"/var/log/*.log
	find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
	tar -C "$root" --numeric-owner -cf "$TARBALL.tmp" .
	rm -rf "$root"
	mv "$TARBALL.tmp" "$TARBALL"
	sha256sum "$TARBALL" | cut -d' ' -f1 >"$TARBALL.sha256"
}

mkdir -p "$IMAGES_CACHE"
# PARLEY_IMAGES_REFRESH=1: a new debootstrap too.
[ "${PARLEY_IMAGES_REFRESH:-0}" != 1 ] || rm -f "$TARBALL" "$TARBALL.sha256"
if [ ! -f "$TARBALL" ] || [ ! -f "$TARBALL.sha256" ]; then make_rootfs; fi
want=$(cat "$TARBALL.sha256")
have=$(docker image inspect -f '{{index .Config.Labels "org.parley.rootfs-sha256"}}' \
	local/debian:bookworm-minbase 2>/dev/null || true)
if [ "$have" != "$want" ]; then
	log "docker import $TARBALL -> local/debian:bookworm-minbase"
	docker import --change "LABEL org.parley.rootfs-sha256=$want" --change 'CMD ["bash"]' \
		--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		"$TARBALL" local/debian:bookworm-minbase >/dev/null
fi

# local/debian:bookworm: the context holds only the Dockerfile and the host's CAs.
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
mkdir "$ctx/certs"
cp /usr/local/share/ca-certificates/*.crt "$ctx/certs/" 2>/dev/null || true
cp "$REPO_ROOT/stack/local-images/debian/Dockerfile" "$ctx/"
logged_build debian -t local/debian:bookworm "$ctx"
logged_build python -t local/python:3.11-bookworm "$REPO_ROOT/stack/local-images/python"
logged_build node -t local/node:22-bookworm "$REPO_ROOT/stack/local-images/node"
