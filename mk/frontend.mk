# frontend/: the browser meeting UI (TypeScript + mediasoup-client, bundled with esbuild).
# Included by the top-level Makefile (-include mk/*.mk).
#
#   make frontend-build   npm ci + bundle into frontend/dist/ (the gateway serves it at / and /rooms/{slug})
#   make frontend-test    tsc --noEmit (strict) + the Playwright tests in real Chromium (tests/browser/; root)

FRONTEND_DIR ?= $(CURDIR)/frontend

.PHONY: frontend-build frontend-test frontend-clean

$(FRONTEND_DIR)/node_modules/.package-lock.json: $(FRONTEND_DIR)/package-lock.json
	cd $(FRONTEND_DIR) && npm ci --no-audit --no-fund

frontend-build: $(FRONTEND_DIR)/node_modules/.package-lock.json
	cd $(FRONTEND_DIR) && npm run --silent build

frontend-test: setup frontend-build mediasoup-build
	cd $(FRONTEND_DIR) && npm run --silent typecheck
	scripts/ensure-postgres.sh
	$(VENV)/bin/pytest -q tests/browser

frontend-clean:
	rm -rf $(FRONTEND_DIR)/dist $(FRONTEND_DIR)/node_modules
