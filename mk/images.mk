# Container images (issue 12). Included by the top-level Makefile (-include mk/*.mk).
#
#   make images          the engine (scripts/images/docker-host.sh), local bases (debootstrap ->
#                        docker import -> Python 3.11 and Node 22 bases), local/parley/{gateway,stt,
#                        translate,sfu}:dev and the third-party stand-ins, no registry pull, each
#                        smoke-tested; last line: one JSON object of sizes (also artifacts/images.json)
#   make images-before   the Python images with every service's extras (as before the per-service
#                        split), for the size comparison in docs/deploy.md
#   make images-save     every image into one tarball (IMAGES_TAR) to carry to an air-gapped site
#   make images-test     make images, then tests/deploy/test_images.py (on those images)
# Layers and build caches live in the engine's data-root under $(PARLEY_CACHE)/docker-host.

IMAGES_TAR ?= artifacts/parley-images.tar
PARLEY_IMAGE_NAMES = gateway stt translate sfu
STANDIN_TAGS = local/redis:bookworm local/postgres:bookworm local/caddy:2.9.1 local/haproxy:bookworm \
	local/coturn:bookworm local/prometheus:bookworm local/alertmanager:bookworm

.PHONY: images images-before images-save images-test

# After mediasoup-build: the SFU image takes the host's cached worker (else it compiles one, ~18 min).
images: mediasoup-build
	scripts/images/all.sh

images-before:
	for n in gateway stt translate; do \
		PARLEY_IMAGE_SUFFIX=-all-extras BUILD_EXTRA_ARGS="--build-arg EXTRAS=stt,translate,gateway" \
			scripts/images/build.sh $$n || exit 1; done
	scripts/images/sizes.sh

images-save:
	eval "$$(scripts/images/docker-host.sh)" && mkdir -p $(dir $(IMAGES_TAR)) && \
		docker save -o $(IMAGES_TAR) $(foreach n,$(PARLEY_IMAGE_NAMES),$${PARLEY_REGISTRY:-local}/parley/$(n):$${PARLEY_VERSION:-dev}) $(STANDIN_TAGS)
	@ls -l $(IMAGES_TAR)

# In `make test` after swarm-check; skips (with the reason) where swarm-check does: no engine can run.
images-test: setup
	@reason=$$($(PY) tests/deploy/swarm_check.py --why-skip); \
	if [ -n "$$reason" ]; then echo "images-test: skipped: $$reason"; exit 0; fi; \
	$(MAKE) --no-print-directory images && $(VENV)/bin/pytest -q tests/deploy/test_images.py
