# Parley: `make run` starts everything locally; `make test` runs every check.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export PARLEY_REDIS_URL ?= redis://127.0.0.1:6379/0
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
SPEAKERS ?= 1
AUDIO_DIR ?= /usr/share/pocketsphinx/test/data/librivox
DURATION ?= 180

.PHONY: setup run migrate test lint typecheck pytest unit bench meeting-set bench-meeting lock clean contracts
setup:
	scripts/bootstrap.sh

run: setup migrate mediasoup-build frontend-build
	scripts/run-local.sh

# Postgres schema: `alembic upgrade head` (parley-migrate waits for the server and creates the database).
migrate: setup
	scripts/ensure-postgres.sh
	$(VENV)/bin/parley-migrate

lint: setup
	$(VENV)/bin/ruff check services testkit tests bench
	$(VENV)/bin/ruff format --check services testkit tests bench

typecheck: setup
	$(VENV)/bin/mypy

pytest: setup mediasoup-build frontend-build  # tests/media need the built SFU; the TURN relay test drives the UI
	scripts/ensure-redis.sh
	scripts/ensure-postgres.sh
	$(VENV)/bin/pytest -q --ignore=tests/browser  # tests/browser: make frontend-test

# The unit tier (tests/conftest.py): no Redis, no model, no build; seconds.
unit: setup
	$(VENV)/bin/pytest -q -m unit

test: lint typecheck pytest mediasoup-test frontend-test deploy-check swarm-check images-test

bench: setup
	scripts/ensure-redis.sh
	$(PY) bench/pipeline.py --speakers $(SPEAKERS) --audio-dir $(AUDIO_DIR) --duration $(DURATION) $(BENCH_ARGS)

# A second, meeting-style audio set (names, numbers, jargon), synthesised with Piper TTS.
MEETING_SET ?= bench/results/meeting-set
meeting-set: setup
	test -f $(MEETING_SET)/transcription || $(PY) bench/make_meeting_set.py $(MEETING_SET)

bench-meeting: meeting-set
	$(MAKE) bench AUDIO_DIR=$(MEETING_SET)

# The TypeScript types of the contracts (frontend/src/contracts.ts, mediasoup-node/src/contracts.ts),
# generated from the Python models after changing one; tests/unit/test_contracts.py fails until then.
contracts: setup
	$(PY) scripts/gen_contracts.py

# Re-pin requirements.lock after changing pyproject.toml.
lock:
	$(VENV)/bin/pip-compile -q --all-extras --strip-extras -o requirements.lock pyproject.toml

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

-include mk/*.mk
