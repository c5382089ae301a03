"""Parley gateway: the caption WebSocket, the admin API, health and metrics (RTP ingest is parley_ingest)."""
