"""Parley translation service: each caption into every language a listener in its room asked for."""
