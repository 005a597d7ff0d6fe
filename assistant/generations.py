"""Index generations: one consistent set of local index files is current at any time.

An ingest writes the catalogue, the BM25 files, the question bank's files and its state into a new directory
under `index/generations/`, then makes it current by replacing the one-line pointer file `index/CURRENT` (an
atomic rename). Vectors live in the shared store under content-addressed keys (`chunk id#text digest`), so the
vectors a generation needs are never overwritten by the next one; stale ones are deleted only after the switch.
A reader loads everything from one generation directory, so a crash at any point leaves the old generation or
the new one, never a mix.

Readers hold a shared lock while they load; pruning old generations takes it exclusively.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)

CURRENT_FILE = "CURRENT"
GENERATIONS_DIR = "generations"
# The question bank's local files (bank.py) and what the first layout wrote straight into the index directory
# (removed after the first switch to generations).
BANK_ENTRIES = ("bank.json", "bank-bm25")
LEGACY_ENTRIES = ("catalog.json", "bm25", "state.json", *BANK_ENTRIES)
# Fault injection for the crash tests: with LC_INGEST_PAUSE_AT=<point>, ingest announces the point on standard
# error and waits there (to be killed). Unset in normal use.
PAUSE_ENV = "LC_INGEST_PAUSE_AT"
PAUSE_MARK = "LC-INGEST-PAUSED"


def vector_key(chunk_id: str, text: str) -> str:
    """The store key of a chunk's vector: its id and a digest of the embedded text (so versions never collide)."""
    return f"{chunk_id}#{hashlib.sha256(text.encode('utf-8')).hexdigest()[:16]}"


def current(index_dir: Path) -> Path:
    """The directory of the current generation (the index directory itself for an index of the first layout)."""
    pointer = index_dir / CURRENT_FILE
    if pointer.is_file():
        name = pointer.read_text(encoding="utf-8").strip()
        if name and (index_dir / GENERATIONS_DIR / name).is_dir():
            return index_dir / GENERATIONS_DIR / name
        log.error("index pointer %s names a missing generation %r", pointer, name)
    return index_dir


def begin(index_dir: Path) -> Path:
    """A new, empty generation directory (not current until `commit`)."""
    root = index_dir / GENERATIONS_DIR
    root.mkdir(parents=True, exist_ok=True)
    name = f"g{time.time_ns()}-{os.getpid()}"
    path = root / name
    path.mkdir()
    return path


def carry_over(source: Path, target: Path, names: tuple[str, ...]) -> None:
    """Copy files or folders a new generation keeps unchanged from the current one."""
    for name in names:
        src = source / name
        if src.is_dir():
            shutil.copytree(src, target / name, dirs_exist_ok=True)
        elif src.is_file():
            shutil.copy2(src, target / name)


def commit(index_dir: Path, generation: Path) -> None:
    """Make `generation` current: its files are flushed to disk, then the pointer is replaced atomically."""
    _fsync_tree(generation)
    pointer = index_dir / CURRENT_FILE
    tmp = index_dir / f".{CURRENT_FILE}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(generation.name + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, pointer)
    _fsync_dir(index_dir)
    log.info("index generation %s is current", generation.name)


def reset(index_dir: Path) -> None:
    """No generation is current any more (before a rebuild drops the vectors): readers see no index, not half of one."""
    (index_dir / CURRENT_FILE).unlink(missing_ok=True)
    with reading(index_dir, exclusive=True):
        _remove_legacy(index_dir)
    _fsync_dir(index_dir)


def prune(index_dir: Path, keep: int = 2) -> None:
    """Delete generations other than the current one and the newest `keep - 1` before it, and legacy files."""
    root = index_dir / GENERATIONS_DIR
    live = current(index_dir)
    if live == index_dir or not root.is_dir():
        return
    with reading(index_dir, exclusive=True):
        older = sorted((p for p in root.iterdir() if p.is_dir() and p != live), key=_age, reverse=True)
        for path in older[max(0, keep - 1) :]:
            shutil.rmtree(path, ignore_errors=True)
        _remove_legacy(index_dir)


def _remove_legacy(index_dir: Path) -> None:
    """The files the first layout wrote straight into the index directory (the caller holds the exclusive lock)."""
    for name in LEGACY_ENTRIES:
        legacy = index_dir / name
        if legacy.is_dir():
            shutil.rmtree(legacy, ignore_errors=True)
        else:
            legacy.unlink(missing_ok=True)


@contextmanager
def reading(index_dir: Path, exclusive: bool = False) -> Iterator[None]:
    """Shared while a reader loads a generation's files; exclusive while old generations are deleted."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".readers.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def checkpoint(point: str) -> None:
    """A named point of an ingest, where the crash tests kill it (see PAUSE_ENV)."""
    if os.environ.get(PAUSE_ENV) != point:
        return
    print(f"{PAUSE_MARK} {point}", file=sys.stderr, flush=True)
    while True:  # pragma: no cover - the test kills the process here
        time.sleep(60)


def _age(path: Path) -> int:
    name = path.name.lstrip("g").split("-")[0]
    return int(name) if name.isdigit() else 0


def _fsync_tree(path: Path) -> None:
    for folder, _, files in os.walk(path):
        for name in files:
            with open(os.path.join(folder, name), "rb") as handle:
                os.fsync(handle.fileno())
        _fsync_dir(Path(folder))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
