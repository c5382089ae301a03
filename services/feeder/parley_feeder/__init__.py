"""Plays audio files into a room as a speaker, through the same Redis stream the gateway writes."""
