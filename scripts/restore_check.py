"""`make restore-check`: back up, drop, restore — and the transcript is whole.

On a PostgreSQL cluster of its own (127.0.0.1, a free port, thrown away after): the schema
(parley-migrate), a meeting's transcript written the way the persister writes it (store_final:
finals and their translations, two rooms), then the stack's backup job once
(stack/config/pg-backup.sh, BACKUP_ONCE=1), DROP DATABASE, the stack's restore
(stack/config/pg-restore.sh latest.dump), and every transcript read back the way the API reads it
(in each language) must equal the one before. A truncated dump must be refused with the database
left as it was. Prints what it did; exit status 0 only if all of it held.

    .venv/bin/python scripts/restore_check.py [--finals 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]
from parley_common import keys  # noqa: E402
from parley_testkit.procs import free_port  # noqa: E402
from parley_common.schemas import Caption  # noqa: E402
from parley_gateway.db import captions as store  # noqa: E402
from parley_gateway.db.engine import Database  # noqa: E402

from bench.load.postgres import PG_BIN, PgServer, pg_ready  # noqa: E402

BACKUP_SH = ROOT / "stack" / "config" / "pg-backup.sh"
RESTORE_SH = ROOT / "stack" / "config" / "pg-restore.sh"
ROOMS = ("weekly", "retro")
LANGS = ("es", "ca")


def meeting(room: str, n: int) -> list[Caption]:
    out = []
    for utt in range(n):
        speaker = ("ana", "ben", "cleo")[utt % 3]
        text = f"{room}: line {utt}, said by {speaker}; numbers 3.14 and 'quotes' stay as they were."
        common = {
            "type": "final",
            "id": keys.caption_id(room, speaker, utt),
            "room": room,
            "speaker": speaker,
            "speaker_name": speaker.title(),
            "utt": utt,
            "source_lang": "en",
            "source_text": text,
            "start": utt * 4.0,
            "end": utt * 4.0 + 3.0,
        }
        out.append(Caption(**common, lang="en", text=text))
        out += [Caption(**common, lang=lang, text=f"[{lang}] {text}") for lang in LANGS]
    return out


async def write(db: Database, captions: list[Caption]) -> None:
    async with db.session() as session, session.begin():
        for c in captions:
            await store.store_final(session, c)


async def read_all(db: Database) -> dict[tuple[str, str | None], list[store.Line]]:
    out: dict[tuple[str, str | None], list[store.Line]] = {}
    async with db.session() as session:
        for room in ROOMS:
            room_id = await store.ensure_room(session, room)
            for lang in (None, *LANGS):
                out[(room, lang)] = await store.transcript(session, room_id, lang)
    return out


def run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, capture_output=True, text=True)


async def check(finals: int) -> list[str]:
    problems: list[str] = []
    pg = PgServer(free_port())
    backups = Path(tempfile.mkdtemp(prefix="parley-backups-"))
    env = {**pg.env, "PGDATABASE": "parley", "BACKUP_DIR": str(backups), "BACKUP_ONCE": "1"}
    env["PATH"] = f"{PG_BIN}:{env['PATH']}"
    try:
        pg.start()
        pg.migrate()
        db = Database(pg.url, pool_size=1)
        for room in ROOMS:
            await write(db, meeting(room, finals))
        before = await read_all(db)
        await db.close()
        lines = sum(len(v) for k, v in before.items() if k[1] is None)
        print(f"restore-check: {lines} finals in {len(ROOMS)} rooms, each also in {', '.join(LANGS)}")

        t = time.monotonic()
        done = run(["sh", str(BACKUP_SH)], env)
        dump = backups / "latest.dump"
        if done.returncode or not dump.exists():
            return [f"backup failed: {done.stdout}{done.stderr}"]
        print(
            f"restore-check: backup {dump.resolve().name}, {dump.stat().st_size} bytes, {time.monotonic() - t:.2f} s"
        )

        # A damaged backup is refused before anything is touched.
        broken = backups / "broken.dump"
        broken.write_bytes(dump.read_bytes()[: dump.stat().st_size // 2])
        if run(["sh", str(RESTORE_SH), str(broken)], env).returncode == 0:
            problems.append("a truncated dump was restored without an error")

        pg.psql("drop database parley with (force)", db="postgres")
        print("restore-check: database dropped")
        t = time.monotonic()
        done = run(["sh", str(RESTORE_SH), str(dump)], env)
        if done.returncode:
            return [*problems, f"restore failed: {done.stdout}{done.stderr}"]
        print(f"restore-check: restored in {time.monotonic() - t:.2f} s")

        db = Database(pg.url, pool_size=1)
        after = await read_all(db)
        await db.close()
        for key, lines_before in before.items():
            if after.get(key) != lines_before:
                problems.append(f"transcript {key} differs after the restore")
        head = pg.psql("select version_num from alembic_version")
        print(f"restore-check: schema at {head}; {len(before)} transcripts compared")
    finally:
        pg.cleanup()
        shutil.rmtree(backups, ignore_errors=True)
    return problems


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--finals", type=int, default=200, help="finals per room")
    args = p.parse_args()
    if reason := pg_ready():
        print(f"restore-check: cannot run: {reason}", file=sys.stderr)
        return 2
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    problems = asyncio.run(check(args.finals))
    for problem in problems:
        print(f"restore-check: FAILED: {problem}", file=sys.stderr)
    if not problems:
        print("restore-check: OK — backed up, dropped, restored; every transcript whole")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
