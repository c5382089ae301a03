"""Fetching a model at its pinned revision, every byte checked, and verifying it later offline.

Where from: the hub (https://huggingface.co) or a mirror laid out like it (an HTTP server, or a
directory: `<mirror>/<repo>/resolve/<revision>/<path>`, and `<mirror>/api/models/<repo>/revision/main`
for `pin`). Each file is checked before anything is installed, against, in order: the lock file's
SHA-256, the preset's, or what the hub says (the SHA-256 of a large file, `X-Linked-Etag`; the git
blob SHA-1 of a small one, `ETag`); a file with none of these is refused. A model is downloaded
into a scratch folder, converted there if it must be (CTranslate2), and moved into place only when
all of it checked out: a refused or interrupted fetch leaves the models directory as it was.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from parley_models.lock import Lock, Locked
from parley_models.spec import COMMIT, Model

HUB = "https://huggingface.co"
CHUNK = 1 << 20
TIMEOUT_S = 60.0
_HEX40 = re.compile(r"^[0-9a-f]{40}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class FetchError(RuntimeError):
    """A model that could not be fetched, or did not check out: nothing was installed."""


@dataclass(frozen=True)
class Source:
    base: str  # a URL without the trailing slash (https://, http:// or file://)

    @classmethod
    def of(cls, mirror: str | None) -> Source:
        if mirror:
            if "://" not in mirror:
                return cls(Path(mirror).resolve().as_uri())
            return cls(mirror.rstrip("/"))
        if os.environ.get("HF_HUB_OFFLINE") == "1":
            raise FetchError("HF_HUB_OFFLINE=1: not reaching the hub; name a mirror with --mirror")
        return cls(HUB)

    def file_url(self, repo: str, revision: str, path: str) -> str:
        return f"{self.base}/{repo}/resolve/{revision}/{path}"

    def api_url(self, repo: str, revision: str) -> str:
        return f"{self.base}/api/models/{repo}/revision/{revision}"


@dataclass(frozen=True)
class Download:
    path: Path
    sha256: str
    headers: dict[str, str]

    def git_sha1(self) -> str:
        """Git's blob hash of the file (what the hub's ETag is for a file not in LFS)."""
        h = hashlib.sha1(f"blob {self.path.stat().st_size}\0".encode(), usedforsecurity=False)
        with self.path.open("rb") as f:
            while chunk := f.read(CHUNK):
                h.update(chunk)
        return h.hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def folder_digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): sha256_file(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def download(url: str, dest: Path) -> Download:
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp, dest.open("wb") as out:
            headers = {k.lower(): v for k, v in resp.headers.items()}
            sha256 = hashlib.sha256()
            while chunk := resp.read(CHUNK):
                out.write(chunk)
                sha256.update(chunk)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise FetchError(f"cannot download {url}: {exc}") from None
    return Download(dest, sha256.hexdigest(), headers)


def expected(model: Model, locked: Locked | None, path: str, got: Download) -> tuple[str, str, str]:
    """(kind of digest, expected value, actual value) for one downloaded file."""
    if locked is not None and path in locked.downloaded:
        return "sha256 (lock file)", locked.downloaded[path], got.sha256
    if path in model.sha256:
        return "sha256 (preset)", model.sha256[path], got.sha256
    linked = got.headers.get("x-linked-etag", "").strip('"').removeprefix("W/").strip('"')
    if _HEX64.match(linked):
        return "sha256 (hub)", linked, got.sha256
    etag = got.headers.get("etag", "").removeprefix("W/").strip('"')
    if _HEX40.match(etag):
        return "git blob sha1 (hub)", etag, got.git_sha1()
    raise FetchError(
        f"{model.repo} {path}: no checksum to check it against (none pinned, none served): refused"
    )


def resolve(src: Source, repo: str, ref: str = "main") -> tuple[str, list[str]]:
    """The commit `ref` names now, and the repository's files."""
    url = src.api_url(repo, ref)
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp:
            info = json.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise FetchError(f"cannot resolve {repo}@{ref} ({url}): {exc}") from None
    sha = str(info.get("sha", ""))
    if not COMMIT.match(sha):
        raise FetchError(f"{url} names no commit")
    return sha, [str(s.get("rfilename", "")) for s in info.get("siblings", [])]


def convert(src: Path, out: Path, model: Model) -> None:
    """A transformers checkpoint into a CTranslate2 model (what ct2-transformers-converter does)."""
    try:
        from ctranslate2.converters import TransformersConverter

        converter = TransformersConverter(str(src), copy_files=[str(src / f) for f in model.copy_files])
        converter.convert(str(out), quantization=model.quantization)
    except ImportError as exc:
        raise FetchError(
            f"converting {model.repo} to CTranslate2 needs transformers and torch ({exc}): install them "
            "(pip install torch transformers), or fetch on a machine that has them and copy the models "
            "folder and its lock file (docs/deploy.md, 'Models')"
        ) from None


def install(work: Path, target: Path) -> None:
    """Replace `target` with `work` (both in the models directory, so renames, not copies)."""
    old = target.with_name(f".old-{target.name}-{os.getpid()}")
    if target.exists():
        os.replace(target, old)
    os.replace(work, target)
    shutil.rmtree(old, ignore_errors=True)


def problems(model: Model, models_dir: Path, lock: Lock) -> list[str]:
    """What is wrong with the model's folder, with no network: [] when it matches the lock file."""
    locked = lock.models.get(model.name)
    folder = models_dir / model.name
    if locked is None:
        return [f"{model.name}: not fetched (no entry in {lock.path})"]
    out = []
    if model.revision is not None and locked.revision != model.revision:
        out.append(f"{model.name}: fetched at {locked.revision[:12]}, the preset pins {model.revision[:12]}")
    if locked.repo != model.repo:
        out.append(f"{model.name}: fetched from {locked.repo}, the preset names {model.repo}")
    if not folder.is_dir():
        return [*out, f"{model.name}: {folder} is missing"]
    actual = folder_digests(folder)
    for path, digest in sorted(locked.files.items()):
        if path not in actual:
            out.append(f"{model.name}: {path} is missing")
        elif actual[path] != digest:
            out.append(f"{model.name}: {path} does not match its checksum (changed or damaged)")
    out += [f"{model.name}: {p} is not part of the model" for p in sorted(set(actual) - set(locked.files))]
    return out


def fetch_model(model: Model, src: Source, models_dir: Path, lock: Lock, *, resolve_unpinned: bool) -> str:
    """Fetch (or keep, if it already checks out) one model; returns what was done."""
    locked = lock.models.get(model.name)
    if locked is not None and model.revision not in (None, locked.revision):
        locked = None  # the preset moved its pin: the lock's checksums are for another revision
    if locked is not None and not problems(model, models_dir, lock):
        return f"{model.name}: present and verified ({locked.revision[:12]})"
    revision = model.revision or (locked.revision if locked else None)
    if revision is None:
        if not resolve_unpinned:
            raise FetchError(
                f"{model.name}: {model.repo} is not pinned to a revision here; run `parley-models pin` "
                "where a network exists (it records the commit and the checksums in the lock file)"
            )
        revision, listing = resolve(src, model.repo)
        missing = sorted(set(model.files) - set(listing))
        if missing:
            raise FetchError(f"{model.repo}@{revision[:12]} has no {', '.join(missing)}")
    models_dir.mkdir(parents=True, exist_ok=True)
    work = models_dir / f".fetch-{model.name}-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    try:
        downloaded: dict[str, str] = {}
        for path in model.files:
            got = download(src.file_url(model.repo, revision, path), work / "download" / path)
            kind, want, actual = expected(model, locked, path, got)
            if actual != want:
                raise FetchError(
                    f"{model.repo}@{revision[:12]} {path}: {kind} is {actual}, expected {want}: "
                    "refused, nothing installed"
                )
            downloaded[path] = got.sha256
        result = work / "download"
        if model.convert == "ct2":
            result = work / "converted"
            convert(work / "download", result, model)
        files = folder_digests(result)
        install(result, models_dir / model.name)
        lock.models[model.name] = Locked(model.repo, revision, downloaded, files)
        lock.write()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return f"{model.name}: fetched {model.repo}@{revision[:12]} ({len(files)} files, checked)"
