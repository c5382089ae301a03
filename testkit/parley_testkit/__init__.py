"""Tools for tests, benchmarks and demos, never in an image: start the services as local processes
(procs), listen to a caption socket the way a listener's screen does (caption_client), score
transcripts (wer). The shipping code is services/; this package may import it, never the reverse."""
