"""Curated answers: trainer-written, versioned, approved answers served first in the chat.

- `record`: the `CuratedAnswer` record, normalisation, validation, fingerprints of the cited text;
- `db`: the engine factory (SQLite file or PostgreSQL) shared with `feedback`;
- `store`: schema, migrations and the versioned `CuratedStore`;
- `match`: `CuratedMatcher`, which serves approved answers in the chat, and `check_curated`;
- `io`: JSON import/export between installations, Markdown and DOCX handouts;
- `feedback`: thumbs up/down on answers, the trainers' queue.
"""

from __future__ import annotations

from .record import ConflictError, CuratedAnswer, CuratedError, NotFoundError, Revision
from .store import CuratedStore

__all__ = ["ConflictError", "CuratedAnswer", "CuratedError", "CuratedStore", "NotFoundError", "Revision"]
