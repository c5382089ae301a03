"""Parley speech-to-text service: end-of-speech segmentation (VAD) and Whisper transcription."""
