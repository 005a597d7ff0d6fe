"""Pure metric functions for retrieval and refusal (no I/O)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
G = TypeVar("G")

Matcher = Callable[[T, G], bool]


def first_positions(ranked: Sequence[T], gold: Sequence[G], match: Matcher) -> list[int | None]:
    """For each gold item, the 0-based rank of the first hit that matches it (None if absent)."""
    out: list[int | None] = []
    for item in gold:
        out.append(next((i for i, hit in enumerate(ranked) if match(hit, item)), None))
    return out


def recall_at(positions: list[int | None], k: int) -> float:
    """1 if at least one gold passage is in the top k (a question is answered by any of its golds)."""
    return 1.0 if any(p is not None and p < k for p in positions) else 0.0


def mrr_at(positions: list[int | None], k: int) -> float:
    best = min((p for p in positions if p is not None and p < k), default=None)
    return 0.0 if best is None else 1.0 / (best + 1)


def ndcg_at(positions: list[int | None], k: int) -> float:
    """Binary-relevance nDCG: each gold passage counts once, at its first matching rank."""
    dcg = sum(1.0 / math.log2(p + 2) for p in positions if p is not None and p < k)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(positions), k)))
    return dcg / ideal if ideal else 0.0


def refusal_scores(expected: Sequence[bool], refused: Sequence[bool]) -> tuple[float, float]:
    """Precision and recall of refusals (positive class = the question should be refused)."""
    tp = sum(1 for e, r in zip(expected, refused, strict=True) if e and r)
    fp = sum(1 for e, r in zip(expected, refused, strict=True) if not e and r)
    fn = sum(1 for e, r in zip(expected, refused, strict=True) if e and not r)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0-100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def best_threshold(scores: Sequence[float], should_refuse: Sequence[bool]) -> tuple[float, float]:
    """The score threshold (refuse below it) that maximises refusal F1; returns (threshold, f1)."""
    best = (0.0, -1.0)
    for threshold in sorted(set(scores)) + [max(scores, default=0.0) + 1e-9]:
        refused = [s < threshold for s in scores]
        p, r = refusal_scores(should_refuse, refused)
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        if f1 > best[1]:
            best = (threshold, f1)
    return best
