"""parley-persister: stores every final caption and translation in Postgres, exactly once per id.

Reads `persist:captions` (and the SFU's `sfu:events`, for participant sessions) through the
consumer group `persist`; each batch is upserted in one transaction and acknowledged only after
the commit. A redelivered or claimed entry upserts the same row again, so nothing is stored
twice; a replica that dies leaves its entries pending and another claims them.
"""

from parley_gateway.persister.service import GROUP, Persister, PersisterSettings, main

__all__ = ["GROUP", "Persister", "PersisterSettings", "main"]
