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
