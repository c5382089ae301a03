"""Authentication: join tokens (JWT), admin credentials (API keys, login), rate limits."""
