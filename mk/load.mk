# Load, soak and capacity (issue 8). Included by the top-level Makefile (-include mk/*.mk).
#
#   make load    the scenarios (1 room x 6, 10 rooms x 5, faults under load, the knee ramp for both
#                final windows) on a stack of its own on 127.0.0.1; ends with one JSON line.
#                LOAD_ARGS="--scenarios 10x5 --scale 0.5" runs a part; see `python -m bench.load --help`.
#   make soak    a 30-minute meeting (6 users, 2 speaking in turns): lost/duplicated finals,
#                disconnects, RSS growth, latency drift. Outside CI; a 3-minute one is tests/load.
# Results: bench/results/load.json (everything measured), logs in bench/results/load-logs/.

SOAK_MIN ?= 30

.PHONY: load soak

load: setup mediasoup-build
	$(PY) -m bench.load $(LOAD_ARGS)

soak: setup mediasoup-build
	$(PY) -m bench.load --scenarios soak --soak-min $(SOAK_MIN) --out bench/results/soak.json $(LOAD_ARGS)
