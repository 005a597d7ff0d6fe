"""Calibrate the domain model and the confidence levels on the dev set only (the test set stays held out).

For every dev question the pipeline's own features are computed (`assistant.evidence.assess`); a logistic
regression separates answerable questions (in the domain) from unanswerable ones; the threshold is the highest
that refuses at most `--max-refused` of the answerable dev questions. Prints the settings to commit in
`assistant/config.py` (`domain_weights`, `domain_threshold`) and the dev figures they reach.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from assistant.answer import Assistant, clean_question
from assistant.config import load_settings
from assistant.evidence import FEATURES, fit_logistic
from assistant.glossary import is_definitional
from evals.harness import DATASETS, load_items


def features(assistant: Assistant, question: str) -> dict[str, float] | None:
    """The domain features of a question as `Assistant.ask` computes them; None when it never refuses it."""
    text = clean_question(question, assistant.settings.max_question_chars).text
    terms = assistant.glossary.detect(text)
    if terms and is_definitional(text):
        return None  # a definition question is answered from the glossary, never refused
    found = assistant.retriever.retrieve(text, max(assistant.settings.top_k, 8))
    verdict = assistant.assess(text, found.hits, found.bank_similarity, len(terms))
    return dict(verdict.features)


def fit(rows: list[dict[str, float]], in_domain: list[int]) -> dict[str, float]:
    """Logistic weights in the features' own units (standardised for the fit, then scaled back)."""
    x = np.array([[r[name] for name in FEATURES] for r in rows], dtype=float)
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    w = fit_logistic(((x - mean) / scale).tolist(), in_domain)
    weights = {name: float(w[i] / scale[i]) for i, name in enumerate(FEATURES)}
    weights["bias"] = float(w[-1] - sum(w[i] * mean[i] / scale[i] for i in range(len(FEATURES))))
    return weights


def probability(row: dict[str, float], weights: dict[str, float]) -> float:
    z = weights["bias"] + sum(weights[name] * row[name] for name in FEATURES)
    return float(1.0 / (1.0 + np.exp(-z)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Calibra il modello di dominio sul set di sviluppo.")
    parser.add_argument("--dataset", default=str(DATASETS / "retrieval_dev.jsonl"))
    parser.add_argument("--max-refused", type=float, default=0.02, help="answerable questions refused at most")
    args = parser.parse_args(argv)
    assistant = Assistant.load(load_settings())
    rows, labels = [], []
    for item in load_items(Path(args.dataset)):
        row = features(assistant, item.question)
        if row is not None:
            rows.append(row)
            labels.append(0 if item.expect_refusal else 1)
    weights = fit(rows, labels)
    scores = [probability(r, weights) for r in rows]
    answerable = sorted(s for s, y in zip(scores, labels, strict=True) if y == 1)
    allowed = int(args.max_refused * len(answerable))  # answerable questions that may fall below the threshold
    threshold = answerable[allowed] - 1e-6 if answerable else 0.5
    refused_ok = sum(s < threshold for s, y in zip(scores, labels, strict=True) if y == 0)
    refused_bad = sum(s < threshold for s, y in zip(scores, labels, strict=True) if y == 1)
    print("domain_weights = " + json.dumps({k: round(v, 4) for k, v in weights.items()}))
    print(f"domain_threshold = {threshold:.4f}")
    print(
        f"dev: unanswerable refused {refused_ok}/{labels.count(0)}, answerable refused {refused_bad}/{labels.count(1)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
