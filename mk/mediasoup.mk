# mediasoup-node: the SFU + signalling WebSocket, and mediasoup's worker built offline.
# Included by the top-level Makefile (include mk/*.mk); paths are relative to $(CURDIR).
#
#   make mediasoup-build   build (or take from the cache) the worker, npm ci, compile TypeScript
#   make mediasoup-test    lint (tsc --strict, shellcheck) + SFU tests (node --test) + mediasoup's own test suite
#                          + WebRTC end to end (aiortc client, in a network namespace; root)
#   make mediasoup-run     run the SFU in the foreground (settings from the environment)
#
# The worker is cached in $(PARLEY_CACHE)/mediasoup-worker/<version>-<hash>/ (outside the
# clone); see docs/mediasoup-build.md.

MEDIASOUP_DIR ?= $(CURDIR)/mediasoup-node
PARLEY_CACHE ?= $(HOME)/.cache/parley
MEDIASOUP_ENV = cd $(MEDIASOUP_DIR) && PARLEY_CACHE="$(PARLEY_CACHE)" scripts/with-env.sh

export PARLEY_CACHE

.PHONY: mediasoup-build mediasoup-test mediasoup-run mediasoup-worker-path mediasoup-clean

mediasoup-build:
	$(MEDIASOUP_ENV) npm run --silent build

mediasoup-test: mediasoup-build
	$(MEDIASOUP_DIR)/scripts/ensure-redis.sh
	$(MEDIASOUP_ENV) scripts/lint.sh
	$(MEDIASOUP_ENV) npm test
	$(MEDIASOUP_ENV) npm run --silent test:mediasoup
	$(MEDIASOUP_ENV) scripts/webrtc-e2e.sh

mediasoup-run: mediasoup-build
	$(MEDIASOUP_ENV) node dist/src/main.js

# Prints the cached worker's path (builds it first if needed).
mediasoup-worker-path:
	@cd $(MEDIASOUP_DIR) && scripts/build-worker.sh

# Removes this checkout's build output (not the worker cache, which other clones share).
mediasoup-clean:
	rm -rf $(MEDIASOUP_DIR)/dist $(MEDIASOUP_DIR)/node_modules
