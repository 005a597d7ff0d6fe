"""Is the question in the corpus's domain, and how well do the retrieved passages support an answer?

Refusal is decided by domain, not by one score: a question about a topic the corpus does not cover (local taxes,
means tests, school enrolment, trade licences, employment contracts, opening hours: `corpus/ambito.yaml`) or far
from everything the question bank says people ask is refused, saying what the corpus covers. A question in the
domain is answered, with a confidence `alta`, `media` or `bassa`; `bassa` shows "risposta incerta: verifica le
fonti". The domain model is a logistic score over a few features, its weights calibrated on the dev set only
(`python -m evals.calibrate`) and kept in `Settings`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import yaml

from .catalog import LexicalIndex
from .config import Settings
from .models import Hit
from .text import fold, tokens

Confidence = Literal["alta", "media", "bassa"]
SCOPE_FILE = "ambito.yaml"
FEATURES = ("evidence", "bank", "dense", "unknown", "glossary", "routed", "out_of_scope")


@dataclass(frozen=True)
class OutOfScope:
    """A topic the corpus does not cover, with the words that name it (patterns over folded text)."""

    topic: str
    patterns: tuple[re.Pattern[str], ...]

    def named_in(self, folded: str) -> bool:
        return any(p.search(folded) for p in self.patterns)


def load_scope(corpus_dir: Path) -> list[OutOfScope]:
    """The out-of-scope topics of `corpus/ambito.yaml` (none when the file is absent)."""
    path = corpus_dir / SCOPE_FILE
    if not path.is_file():
        return []
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return [
        OutOfScope(str(item["tema"]), tuple(re.compile(str(p)) for p in item.get("parole") or ()))
        for item in data.get("fuori_ambito") or ()
    ]


def evidence(question: str, hits: list[Hit], lexical: LexicalIndex, settings: Settings) -> float:
    """How well the top hits support an answer, in [0, 1].

    A mix of the best dense similarity (rescaled between two calibrated bounds) and the IDF-weighted share
    of the question's words that the top passages contain: a word the corpus never uses counts heavily.
    """
    if not hits:
        return 0.0
    if hits[0].routed:
        return 1.0
    wanted = set(tokens(question))
    if not wanted:
        return 0.0
    top = hits[:3]
    have: set[str] = set()
    for hit in top:
        have.update(tokens(hit.chunk.text))
    total = sum(lexical.idf(t) for t in wanted)
    coverage = sum(lexical.idf(t) for t in wanted & have) / total if total else 0.0
    dense = max(h.dense for h in top)
    low, high = settings.refusal_dense_low, settings.refusal_dense_high
    dense_part = min(1.0, max(0.0, (dense - low) / (high - low))) if high > low else 0.0
    share = settings.refusal_dense_share
    return share * dense_part + (1 - share) * coverage


def unknown_share(question: str, lexical: LexicalIndex) -> float:
    """IDF-weighted share of the question's words that no indexed passage uses (a place, a benefit, a contract)."""
    wanted = set(tokens(question))
    total = sum(lexical.idf(t) for t in wanted)
    return sum(lexical.idf(t) for t in wanted if t not in lexical.df) / total if total else 0.0


@dataclass(frozen=True)
class Assessment:
    """What the pipeline concludes about a question before composing the answer."""

    refuse: bool
    confidence: Confidence
    domain: float  # probability that the question is in the domain, in [0, 1]
    evidence: float
    topic: str | None = None  # the out-of-scope topic it names, if any
    features: tuple[tuple[str, float], ...] = ()


def domain_probability(values: dict[str, float], settings: Settings) -> float:
    """The logistic domain score: sigmoid(bias + sum(weight * feature))."""
    weights = settings.domain_weights
    z = weights.get("bias", 0.0) + sum(weights.get(name, 0.0) * values.get(name, 0.0) for name in FEATURES)
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


def assess(
    question: str,
    hits: list[Hit],
    lexical: LexicalIndex,
    settings: Settings,
    *,
    bank_similarity: float,
    bank_size: int,
    glossary_terms: int,
    scope: list[OutOfScope],
    own_document: bool = False,
) -> Assessment:
    """Refuse out of the domain; otherwise the confidence of the answer, from the evidence score.

    The domain model leans on the question bank; over a corpus without one (or a token one), or when the best
    passage comes from a user's own document that the bank cannot know, the evidence score alone decides,
    against `fallback_refusal`.
    """
    folded = fold(question)
    topic = next((s.topic for s in scope if s.named_in(folded)), None)
    score = evidence(question, hits, lexical, settings)
    values = {
        "evidence": score,
        "bank": bank_similarity,
        "dense": max((h.dense for h in hits[:3]), default=0.0),
        "unknown": unknown_share(question, lexical),
        "glossary": float(glossary_terms > 0),
        "routed": float(bool(hits and hits[0].routed)),
        "out_of_scope": float(topic is not None),
    }
    if bank_size >= settings.domain_min_bank and not own_document:
        domain = domain_probability(values, settings)
        weak = domain < settings.domain_threshold
    else:
        domain = score
        weak = score < settings.fallback_refusal or topic is not None
    # A question that names an article or a document of the corpus is in its domain, whatever the score.
    refuse = not hits or (weak and not hits[0].routed)
    if score >= settings.confidence_high:
        level: Confidence = "alta"
    elif score >= settings.confidence_medium:
        level = "media"
    else:
        level = "bassa"
    return Assessment(refuse, level, domain, score, topic, tuple(values.items()))


def fit_logistic(rows: list[list[float]], labels: list[int], l2: float = 0.01, steps: int = 4000) -> np.ndarray:
    """Weights (bias last) of a small L2-regularised logistic regression, by gradient descent (calibration)."""
    x = np.hstack([np.asarray(rows, dtype=float), np.ones((len(rows), 1))])
    y = np.asarray(labels, dtype=float)
    w = np.zeros(x.shape[1])
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        w -= 0.5 * (x.T @ (p - y) / len(y) + l2 * np.r_[w[:-1], 0.0])
    return w
