"""parley-models: the design's models one command away (presets, pinned, checksummed, verified offline)."""
