# Languages (issue 17; docs/languages.md). Included by the top-level Makefile (-include mk/*.mk).
#
#   make bench-translate   every offline language path, scored: the offer checked engine by engine,
#                          apertium en->es/ca/gl (chrF, ms per sentence), Vietnamese speech through
#                          Whisper (transcript WER, speech translation chrF, shown / withheld by the
#                          decoder-evidence gate). Ends with one JSON line. BENCH_TRANSLATE_ARGS="--model ..."

.PHONY: bench-translate

bench-translate: setup
	$(PY) -m bench.translate $(BENCH_TRANSLATE_ARGS)

# The design's models, where a network exists (docs/deploy.md, "Models"): make models PRESET=vi-en
# (MODELS_ARGS="--dir DIR", "... pin" for a model not pinned here; `parley-models list` shows them).
PRESET ?= vi-en
.PHONY: models
models: setup
	HF_HUB_OFFLINE=0 $(VENV)/bin/parley-models $(MODELS_ARGS) fetch $(PRESET)
