"""A bot participant: joins a Parley room through the SFU's signalling and WebRTC, plays a file as its microphone."""
