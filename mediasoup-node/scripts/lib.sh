# shellcheck shell=bash
# Shared helpers for mediasoup-node/scripts/*.sh (sourced, not run).
# Logs go to stderr; scripts print only their result on stdout.

PARLEY_CACHE=${PARLEY_CACHE:-$HOME/.cache/parley}
NODE22_VERSION=${NODE22_VERSION:-22.23.3}

log() { printf '[%s] %s\n' "$(basename "$0" .sh)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
		die "need root to run: $*"; fi
}

# ensure_debs PKG...: installs the Debian packages that are not installed yet.
ensure_debs() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "apt-get install ${missing[*]}"
	as_root apt-get update -qq >&2
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >&2
}

# node22_bin_dir: prints a directory whose `node` is Node >= 22 (installing Node 22 from the
# npm package `node` into the cache when the machine has no such Node).
node22_bin_dir() {
	local sys dir="$PARLEY_CACHE/node-$NODE22_VERSION"
	if command -v node >/dev/null; then
		sys=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
		if [ "$sys" -ge 22 ]; then dirname "$(command -v node)"; return 0; fi
	fi
	if [ ! -x "$dir/node_modules/node/bin/node" ]; then
		command -v npm >/dev/null || ensure_debs nodejs npm ca-certificates
		log "installing Node $NODE22_VERSION from the npm registry into $dir"
		mkdir -p "$dir"
		npm install --prefix "$dir" --no-save --no-audit --no-fund --loglevel=error \
			"node@$NODE22_VERSION" >&2
		"$dir/node_modules/node/bin/node" --version >/dev/null || die "Node $NODE22_VERSION did not install"
	fi
	# npm's own shims live next to node in node_modules/.bin; put node's bin first.
	echo "$dir/node_modules/node/bin"
}
