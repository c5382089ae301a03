# Security (issue 13). Included by the top-level Makefile (-include mk/*.mk).
#
#   make attack   every attack of tests/security/ against the deployment `make run` started (run it
#                 first, in another terminal), while a second meeting speaks; one JSON line last.
#                 ATTACK_ARGS="--only invite" runs a part; `--gateway/--sfu` aim elsewhere
#                 (tests/security/run_attacks.py --help). The tests themselves run in `make pytest`.

.PHONY: attack

attack: setup
	$(PY) tests/security/run_attacks.py $(ATTACK_ARGS)
