# Postgres backups (issue 15). Included by the top-level Makefile (-include mk/*.mk).
#
#   make restore-check   on a Postgres cluster of its own: a transcript, the stack's backup job once
#                        (stack/config/pg-backup.sh), DROP DATABASE, the stack's restore
#                        (stack/config/pg-restore.sh), and every transcript must be whole again;
#                        a truncated dump must be refused. See docs/deploy.md, "Backups".

.PHONY: restore-check

restore-check: setup
	$(PY) scripts/restore_check.py
