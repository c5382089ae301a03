# Load, soak and capacity (issue 8). Included by the top-level Makefile (-include mk/*.mk).
#
#   make load    the scenarios (1 room x 6, 10 rooms x 5, faults under load, ingest-restart,
#                redis-failover, postgres-outage, the knee ramp for both final windows) on a stack
#                of its own on 127.0.0.1; ends with one JSON line (per scenario: lost_finals,
#                duplicate_finals, lost_audio_ms, recovery_s, ...). LOAD_ARGS="--scenarios 10x5
#                --scale 0.5" runs a part; see `python -m bench.load --help`.
#   make load-meeting  the same on the second audio set (bench/make_meeting_set.py, Piper TTS:
#                names, numbers, jargon) instead of LibriVox; LOAD_ARGS as above.
#   make soak    a 30-minute meeting (6 users, 2 speaking in turns): lost/duplicated finals,
#                disconnects, RSS growth, latency drift. Outside CI; a 3-minute one is tests/load.
# Results: bench/results/load.json (everything measured), logs in bench/results/load-logs/.

SOAK_MIN ?= 30

.PHONY: load load-meeting soak

load: setup mediasoup-build
	$(PY) -m bench.load $(LOAD_ARGS)

load-meeting: meeting-set mediasoup-build
	$(PY) -m bench.load --audio-dir $(MEETING_SET) --out bench/results/load-meeting.json $(LOAD_ARGS)

soak: setup mediasoup-build
	$(PY) -m bench.load --scenarios soak --soak-min $(SOAK_MIN) --out bench/results/soak.json $(LOAD_ARGS)
