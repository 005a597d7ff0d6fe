"""Calibrate `curated_threshold`: when is a question close enough to an approved curated answer to serve it?

Data: evals/datasets/curated_paraphrases.jsonl, 30 curated questions with 3 paraphrases each (never stored:
they play the users) and 60 questions that must not be served (25 unrelated, 35 near the domain).
Two settings, both scored with the rule of `CuratedMatcher` (max cosine over an answer's stored texts, with the
configured embedder and its query encoding):
  A "solo domanda"        each answer stores only its question;
  B "domanda + 2 varianti" each answer also stores the other two paraphrases as phrasings (leave one out).
A served paraphrase counts as a true positive only when the right answer is served; serving the wrong answer,
or serving anything for a negative question, is a false serve. The threshold maximises F1 in B with zero false
serves in A and B (when no threshold has zero false serves, simply the best F1 in B). The threshold sits
halfway between two observed scores (not on a data point), rounded up to three decimals. A table of other
thresholds shows the trade-off.
Also checks, on setting A, that `CuratedMatcher` through a real SQLite store gives the same scores.

`python -m evals.curated_calibration` prints the table; `--write PATH` saves the JSON report.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assistant.catalog import Catalog
from assistant.config import load_settings
from assistant.curated import CuratedAnswer, CuratedStore
from assistant.curated.match import CuratedMatcher
from assistant.embeddings import Embedder, get_embedder
from assistant.references import Ref
from evals.harness import DATASETS

DATASET = DATASETS / "curated_paraphrases.jsonl"


@dataclass(frozen=True)
class Query:
    text: str
    expected: str | None  # the curated id that should be served; None for a negative question
    group: str  # "paraphrase", "unrelated" or "near"


def load(path: Path) -> tuple[list[dict[str, Any]], list[Query]]:
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    curated = [i for i in items if i["kind"] == "curated"]
    queries = [Query(p, i["id"], "paraphrase") for i in curated for p in i["paraphrases"]]
    queries += [Query(i["question"], None, i["group"]) for i in items if i["kind"] == "negative"]
    return curated, queries


def best_matches(
    embed: dict[str, np.ndarray], curated: list[dict[str, Any]], queries: list[Query], leave_one_out: bool
) -> list[tuple[str, float]]:
    """(best answer id, its score) per query, with each answer's score = max cosine over its stored texts."""
    out = []
    for query in queries:
        best = ("", -1.0)
        for item in curated:
            stored = [item["question"]]
            if leave_one_out:
                stored += [p for p in item["paraphrases"] if p != query.text]
            score = max(float(embed[t] @ embed[query.text]) for t in stored)
            if score > best[1]:
                best = (item["id"], score)
        out.append(best)
    return out


def confusion(matches: list[tuple[str, float]], queries: list[Query], threshold: float) -> dict[str, float]:
    tp = fp = 0
    positives = sum(q.expected is not None for q in queries)
    for (answer_id, score), query in zip(matches, queries, strict=True):
        if score < threshold:
            continue
        if query.expected is not None and answer_id == query.expected:
            tp += 1
        else:
            fp += 1
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / positives if positives else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "threshold": round(threshold, 4),
        "served_right": tp,
        "false_serves": fp,
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
    }


def choose(a: list[tuple[str, float]], b: list[tuple[str, float]], queries: list[Query]) -> tuple[float, bool]:
    """The threshold with the best F1 in B and no false serve in A nor B; (threshold, zero false serves)."""
    cuts = sorted({round(s, 6) for _, s in a + b})
    candidates = [(cuts[i] + cuts[i + 1]) / 2 for i in range(len(cuts) - 1)] + [cuts[-1] + 1e-6]
    safe = [
        t
        for t in candidates
        if confusion(a, queries, t)["false_serves"] == 0 and confusion(b, queries, t)["false_serves"] == 0
    ]
    pool = safe or candidates
    best = max(pool, key=lambda t: (confusion(b, queries, t)["f1"], confusion(a, queries, t)["f1"], -t))
    return math.ceil(best * 1000) / 1000, bool(safe)  # rounded up: never below the safe midpoint


def check_matcher(
    embedder: Embedder, curated: list[dict[str, Any]], queries: list[Query], expected: list[tuple[str, float]]
) -> float:
    """Largest score difference between this script and CuratedMatcher on a real store (setting A)."""
    with tempfile.TemporaryDirectory() as folder:
        store = CuratedStore.open(f"sqlite:///{folder}/calibration.sqlite3")
        for item in curated:
            store.create(
                CuratedAnswer(
                    id=item["id"],
                    question=item["question"],
                    answer="(calibrazione)",
                    audience="entrambi",
                    status="approvata",
                    approved_by="calibrazione",
                    tags=tuple(item["tags"]),
                    citations=tuple(Ref.from_mapping(c) for c in item["citations"]),
                ),
                "calibrazione",
            )
        matcher = CuratedMatcher(store, Catalog([], {}), embedder, threshold=1.0)
        worst = 0.0
        for query, (answer_id, score) in list(zip(queries, expected, strict=True))[::7]:
            match = matcher.best(query.text, "operatore")
            assert match is not None and match.answer.id == answer_id, (query.text, match, answer_id)
            worst = max(worst, abs(match.score - score))
        store.close()
    return worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default=str(DATASET))
    parser.add_argument("--write", help="save the JSON report here")
    args = parser.parse_args(argv)
    settings = load_settings()
    embedder = get_embedder(settings.embedder, settings.embed_threads)
    curated, queries = load(Path(args.dataset))
    texts = {i["question"] for i in curated} | {q.text for q in queries}
    embed = {t: embedder.encode_query(t) for t in sorted(texts)}
    a = best_matches(embed, curated, queries, leave_one_out=False)
    b = best_matches(embed, curated, queries, leave_one_out=True)
    threshold, safe = choose(a, b, queries)
    drift = check_matcher(embedder, curated, queries, a)
    negatives = [s for (_, s), q in zip(b, queries, strict=True) if q.expected is None]
    tradeoff = {
        f"{t:.2f}": {"A": confusion(a, queries, t), "B": confusion(b, queries, t)}
        for t in (0.90, 0.92, 0.93, 0.94, 0.95, 0.96)
    }
    report: dict[str, Any] = {
        "embedder": embedder.name,
        "curated": len(curated),
        "paraphrases": sum(q.expected is not None for q in queries),
        "negatives": len(negatives),
        "threshold": round(threshold, 3),
        "zero_false_serves": safe,
        "A_question_only": confusion(a, queries, threshold),
        "B_with_phrasings": confusion(b, queries, threshold),
        "configured": {
            "threshold": settings.curated_threshold,
            "A": confusion(a, queries, settings.curated_threshold),
            "B": confusion(b, queries, settings.curated_threshold),
        },
        "tradeoff": tradeoff,
        "max_negative_score": {
            g: round(max(s for (_, s), q in zip(b, queries, strict=True) if q.group == g), 4)
            for g in ("unrelated", "near")
        },
        "matcher_vs_script_max_diff": drift,
    }
    print(
        f"Embedder {report['embedder']}: {report['curated']} risposte curate, {report['paraphrases']} parafrasi, "
        f"{report['negatives']} domande da non servire."
    )
    print(
        f"{'impostazione':<24}{'soglia':>8}{'servite ok':>12}{'servite male':>14}{'precisione':>12}"
        f"{'richiamo':>10}{'F1':>8}"
    )
    rows = [("A solo domanda", report["A_question_only"]), ("B domanda + 2 varianti", report["B_with_phrasings"])]
    for value, pair in tradeoff.items():
        rows += [(f"A con soglia {value}", pair["A"]), (f"B con soglia {value}", pair["B"])]
    for name, row in rows:
        print(
            f"{name:<24}{row['threshold']:>8.3f}{row['served_right']:>12}{row['false_serves']:>14}"
            f"{row['precision']:>12.3f}{row['recall']:>10.3f}{row['f1']:>8.3f}"
        )
    print(f"Punteggio massimo delle domande da non servire: {report['max_negative_score']}.")
    print(
        f"Soglia consigliata: curated_threshold = {report['threshold']:.3f}"
        + ("" if safe else " (ATTENZIONE: nessuna soglia evita tutti gli errori)")
        + f". CuratedMatcher coincide con questo calcolo (scarto massimo {drift:.2e})."
    )
    if args.write:
        Path(args.write).write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
