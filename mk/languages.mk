# Languages (issue 17; docs/languages.md). Included by the top-level Makefile (-include mk/*.mk).
#
#   make bench-translate   every offline language path, scored: the offer checked engine by engine,
#                          apertium en->es/ca/gl (chrF, ms per sentence), Vietnamese speech through
#                          Whisper (transcript WER, speech translation chrF, shown / withheld by the
#                          decoder-evidence gate). Ends with one JSON line. BENCH_TRANSLATE_ARGS="--model ..."

.PHONY: bench-translate

bench-translate: setup
	$(PY) -m bench.translate $(BENCH_TRANSLATE_ARGS)
