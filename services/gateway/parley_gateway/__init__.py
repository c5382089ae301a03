"""Parley gateway: the caption WebSocket, health and metrics (RTP in and the admin API come next)."""
