"""make bench-translate: the offline language paths scored against reference translations."""
