"""A throw-away PostgreSQL 15 cluster of our own on 127.0.0.1 (the load stack's transcript store,
the outage and backup tests): user and database `parley` as the stack's postgres service creates
them, trust auth, data in a temp dir. Run as the `postgres` user when we are root (it refuses root)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

PG_BIN = Path("/usr/lib/postgresql/15/bin")
USER = DB = "parley"


def pg_ready() -> str | None:
    """Why a cluster of our own cannot run here, or None."""
    if not (PG_BIN / "initdb").exists():
        return "PostgreSQL 15 is not installed (apt-get install postgresql)"
    if os.geteuid() == 0 and not shutil.which("setpriv"):
        return "setpriv is needed to run Postgres as the postgres user"
    return None


def _as_postgres() -> list[str]:
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"] if os.geteuid() == 0 else []


@dataclass
class PgServer:
    port: int
    dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="parley-pg-")))

    @property
    def data(self) -> Path:
        return self.dir / "data"

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://{USER}@127.0.0.1:{self.port}/{DB}"

    @property
    def env(self) -> dict[str, str]:
        """libpq variables for pg_dump/pg_restore/psql against this cluster."""
        return {**os.environ, "PGHOST": "127.0.0.1", "PGPORT": str(self.port), "PGUSER": USER}

    def init(self) -> None:
        self.dir.chmod(0o711)
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        subprocess.run(
            [*_as_postgres(), str(PG_BIN / "initdb"), "-D", str(self.data), "-U", USER, "--auth=trust"],
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        if not self.data.exists():
            self.init()
        subprocess.run(
            [
                *_as_postgres(),
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.dir / "log"),
                "-w",
                "-o",
                f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1",
                "start",
            ],
            check=True,
            capture_output=True,
        )
        createdb = [*_as_postgres(), str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port)]
        subprocess.run([*createdb, "-U", USER, DB], capture_output=True)  # exists already: fine

    def stop(self, mode: str = "fast") -> None:
        """`fast`: what a restart or an orchestrator's SIGTERM does; `immediate`: a crash."""
        if (self.data / "postmaster.pid").exists():
            subprocess.run(
                [*_as_postgres(), str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"],
                capture_output=True,
            )

    def migrate(self) -> None:
        """`parley-migrate` (alembic upgrade head), as the stack's migrate job runs it."""
        subprocess.run(
            [str(Path(sys.executable).parent / "parley-migrate")],
            env={**os.environ, "PARLEY_DATABASE_URL": self.url},
            check=True,
            capture_output=True,
            timeout=120,
        )

    def psql(self, sql: str, db: str = DB) -> str:
        out = subprocess.run(
            [str(PG_BIN / "psql"), "-d", db, "-tAc", sql],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while subprocess.run([str(PG_BIN / "pg_isready"), "-q"], env=self.env).returncode:
            if time.monotonic() > deadline:
                raise RuntimeError(f"postgres on {self.port} not ready; see {self.dir}/log")
            time.sleep(0.1)

    def cleanup(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)
