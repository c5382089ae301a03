# Deploy and monitoring checks (issue 7). Included by the top-level Makefile (-include mk/*.mk).
#
#   make deploy-check   docker stack config (base + GPU override), promtool check config/rules,
#                       promtool test rules, amtool check-config, Grafana dashboards type-checked
#                       against @grafana/schema (tsc --strict), and the stack/Dockerfile tests.
# The live check (every panel's PromQL on a Prometheus that scraped the running services,
# tests/deploy/test_dashboard_queries.py) runs with the rest of the suite in `make pytest`.

GRAFANA_TC := monitoring/grafana/typecheck

.PHONY: deploy-check
deploy-check: setup
	@if docker stack --help 2>/dev/null | grep -qE '^\s+config\s'; then \
		docker stack config -c stack/docker-stack.yml >/dev/null && \
		docker stack config -c stack/docker-stack.yml -c stack/docker-stack.gpu.yml >/dev/null && \
		echo "docker stack config: OK (base, base + GPU)"; \
	else echo "docker stack config: skipped, this docker CLI has no 'stack config' (23.0+); tests/deploy renders the stack itself"; fi
	promtool check config monitoring/prometheus/prometheus.yml
	promtool check rules monitoring/prometheus/rules/*.yml
	cd monitoring/prometheus/tests && promtool test rules *.test.yml
	amtool check-config monitoring/alertmanager/alertmanager.yml
	shellcheck stack/images/secrets-env.sh
	cd $(GRAFANA_TC) && { [ -d node_modules/@grafana/schema ] || npm ci --no-audit --no-fund --loglevel=error; } \
		&& node gen.mjs && npx --no-install tsc --strict --noEmit -p .
	$(VENV)/bin/pytest -q tests/deploy/test_stack.py

# The production form for real (issue 12; docs/deploy.md, "make swarm-check"): three Docker engines
# in network namespaces form a Swarm, `make images` is carried to them (docker save | load), the
# stack is deployed with stack/docker-stack.offline.yml, and a meeting runs through Caddy from an
# "internet" namespace while tasks, services, the Redis master and the AI node's engine are
# killed, updated, restarted. Last line: one JSON object. Skips (with the reason) where namespaces
# or dockerd cannot run (a chroot, no root).
.PHONY: swarm-check
swarm-check: setup
	@reason=$$($(PY) tests/deploy/swarm_check.py --why-skip); \
	if [ -n "$$reason" ]; then echo "swarm-check: skipped: $$reason"; exit 0; fi; \
	$(MAKE) --no-print-directory images && $(PY) tests/deploy/swarm_check.py $(SWARM_CHECK_ARGS)
