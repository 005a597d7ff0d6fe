"""Thumbs up/down on answers, stored with the question, answer, citations and settings (SQLAlchemy).

Feedback never changes retrieval: trainers read the negative queue and turn items into curated drafts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Integer, String, Text, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from ..config import Settings
from ..models import Answer
from .db import make_engine


class _Base(DeclarativeBase):
    pass


class FeedbackRow(_Base):
    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    positive: Mapped[bool] = mapped_column(Boolean)
    comment: Mapped[str] = mapped_column(Text, default="")
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(20))
    refused: Mapped[bool] = mapped_column(Boolean)
    citations: Mapped[Any] = mapped_column(JSON)
    audience: Mapped[str] = mapped_column(String(20))
    settings: Mapped[Any] = mapped_column(JSON)
    curated_id: Mapped[str | None] = mapped_column(String(120), nullable=True)
    handled: Mapped[bool] = mapped_column(Boolean, default=False)


@dataclass(frozen=True)
class Feedback:
    id: int
    created_at: datetime
    positive: bool
    comment: str
    question: str
    answer: str
    source: str
    citations: list[dict[str, Any]]
    audience: str
    handled: bool


class FeedbackStore:
    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.engine = engine or make_engine(settings.sqlalchemy_url)
        _Base.metadata.create_all(self.engine)
        self._settings = {
            "embedder": settings.embedder,
            "store": settings.store,
            "top_k": settings.top_k,
            "domain_threshold": settings.domain_threshold,
        }

    def record(self, answer: Answer, audience: str, positive: bool, comment: str = "") -> int:
        row = FeedbackRow(
            created_at=datetime.now(UTC),
            positive=positive,
            comment=comment.strip()[:2000],
            question=answer.query,
            answer=answer.answer,
            source=answer.source,
            refused=answer.refused,
            citations=[c.to_dict() for c in answer.citations],
            audience=audience,
            settings=json.loads(json.dumps(self._settings)),
            curated_id=answer.curated_id,
            handled=False,
        )
        with Session(self.engine) as session, session.begin():
            session.add(row)
            session.flush()
            return int(row.id)

    def negative_queue(self, include_handled: bool = False) -> list[Feedback]:
        with Session(self.engine) as session:
            query = select(FeedbackRow).where(FeedbackRow.positive.is_(False)).order_by(FeedbackRow.id.desc())
            if not include_handled:
                query = query.where(FeedbackRow.handled.is_(False))
            return [self._public(r) for r in session.scalars(query)]

    def get(self, feedback_id: int) -> Feedback | None:
        with Session(self.engine) as session:
            row = session.get(FeedbackRow, feedback_id)
            return self._public(row) if row else None

    def add_comment(self, feedback_id: int, comment: str) -> None:
        with Session(self.engine) as session, session.begin():
            row = session.get(FeedbackRow, feedback_id)
            if row is not None:
                row.comment = comment.strip()[:2000]

    def mark_handled(self, feedback_id: int) -> None:
        with Session(self.engine) as session, session.begin():
            row = session.get(FeedbackRow, feedback_id)
            if row is not None:
                row.handled = True

    def count(self) -> int:
        with Session(self.engine) as session:
            return len(session.scalars(select(FeedbackRow.id)).all())

    @staticmethod
    def _public(row: FeedbackRow) -> Feedback:
        return Feedback(
            row.id,
            row.created_at,
            row.positive,
            row.comment,
            row.question,
            row.answer,
            row.source,
            list(row.citations or []),
            row.audience,
            row.handled,
        )
