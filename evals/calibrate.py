"""Calibrate the refusal score on the dev set: grid search of its parameters for the best refusal F1.

The score mixes the best dense similarity (rescaled between `low` and `high`) and the IDF-weighted share of
the question's words found in the top passages. Prints the best parameters and their dev precision/recall;
`make eval` then reports the held-out test set with the committed defaults.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

from assistant.answer import Assistant
from assistant.config import load_settings
from assistant.glossary import is_definitional
from assistant.text import tokens
from evals import metrics
from evals.harness import DATASETS, load_items


def features(assistant: Assistant, question: str) -> tuple[float, float, bool]:
    """(best dense similarity of the top 3, IDF-weighted coverage, bypass) for one question."""
    retriever = assistant.retriever
    hits = retriever.search(question, 8)
    bypass = bool(hits and hits[0].routed) or bool(assistant.glossary.detect(question) and is_definitional(question))
    wanted = set(tokens(question))
    have: set[str] = set()
    for hit in hits[:3]:
        have.update(tokens(hit.chunk.text))
    total = sum(retriever.lexical.idf(t) for t in wanted)
    coverage = sum(retriever.lexical.idf(t) for t in wanted & have) / total if total else 0.0
    dense = max((h.dense for h in hits[:3]), default=0.0)
    return dense, coverage, bypass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default=str(DATASETS / "retrieval_dev.jsonl"))
    args = parser.parse_args(argv)
    assistant = Assistant.load(load_settings())
    items = load_items(Path(args.dataset))
    rows = [(features(assistant, i.question), i.expect_refusal) for i in items]
    should = [r for _, r in rows]
    best: tuple[float, ...] = (-1.0,)
    for low, high, share in itertools.product(
        (0.74, 0.76, 0.78, 0.80, 0.82), (0.84, 0.86, 0.88, 0.90, 0.92), (0.0, 0.25, 0.4, 0.5, 0.6, 0.75, 1.0)
    ):
        if high <= low:
            continue
        scores = []
        for (dense, coverage, bypass), _ in rows:
            dense_part = min(1.0, max(0.0, (dense - low) / (high - low)))
            scores.append(1.0 if bypass else share * dense_part + (1 - share) * coverage)
        threshold, f1 = metrics.best_threshold(scores, should)
        precision, recall = metrics.refusal_scores(should, [s < threshold for s in scores])
        if f1 > best[0]:
            best = (f1, low, high, share, threshold, precision, recall)
    f1, low, high, share, threshold, precision, recall = best
    print(
        f"refusal_dense_low={low} refusal_dense_high={high} refusal_dense_share={share} "
        f"refusal_threshold={threshold:.4f}  (dev: F1 {f1:.3f}, precision {precision:.3f}, recall {recall:.3f})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
