"""Load, soak and capacity of a Parley deployment (issue 8): `python -m bench.load --help`."""
