"""Measure retrieval levers one by one on the dev set, in one process over the same index."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from assistant.config import load_settings
from assistant.evidence import evidence
from assistant.retrieve import Retriever
from evals.harness import DATASETS, as_candidates, load_items, make_matcher, run_pipeline, score_run

STEPS: list[tuple[str, dict[str, Any]]] = [
    (
        "ibrida RRF semplice",
        {
            "refs_weight": 0.0,
            "respell": False,
            "glossary_expansion": False,
            "glossary_routing": False,
            "kind_weights": {},
            "bank_weight": 0.0,
        },
    ),
    (
        "+ ortografia del corpus",
        {
            "refs_weight": 0.0,
            "glossary_expansion": False,
            "glossary_routing": False,
            "kind_weights": {},
            "bank_weight": 0.0,
        },
    ),
    (
        "+ alias del glossario",
        {"refs_weight": 0.0, "glossary_routing": False, "kind_weights": {}, "bank_weight": 0.0},
    ),
    ("+ instradamento definizioni", {"refs_weight": 0.0, "kind_weights": {}, "bank_weight": 0.0}),
    ("+ passaggi citati dai materiali", {"kind_weights": {}, "bank_weight": 0.0}),
    ("+ priorità alla legge (formazione x0.7)", {"bank_weight": 0.0}),
    ("+ banca delle domande, per rango (peso 2)", {"bank_close_weight": 0.0}),
    ("+ banca: peso alle parafrasi vicine (configurata)", {}),
    ("  variante: banca solo densa", {"bank_match": "dense"}),
    ("  variante: banca solo BM25", {"bank_match": "lexical"}),
    ("  variante: banca senza soglia di similarità", {"bank_floor": 0.0}),
    ("  variante: banca, somma delle domande per passaggio", {"bank_sum": True}),
    ("  variante: banca peso 1", {"bank_weight": 1.0}),
    ("  variante: banca peso 3", {"bank_weight": 3.0}),
    ("  variante: punteggio BM25 normalizzato x1", {"lexical_score_weight": 1.0}),
    ("  variante: alias del glossario solo per BM25", {"glossary_expansion_dense": False}),
    ("  variante: ricerca densa HNSW di Chroma invece che esatta", {"dense_search": "hnsw"}),
    ("  variante: formazione x0.5", {"kind_weights": {"formazione": 0.5}}),
]


def ablation_rows(base: Any, items: list[Any], steps: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Each step's scores, over one loaded index (settings changed in place between steps)."""
    retriever = Retriever.load(base)
    match = make_matcher(retriever.catalog)
    rows = []
    for name, overrides in steps:
        settings = base.model_copy(update=overrides)
        retriever.settings = settings

        def search(question: str, settings=settings) -> tuple[list, float]:  # type: ignore[no-untyped-def]
            hits = retriever.search(question, 10)
            return as_candidates(hits), evidence(question, hits, retriever.lexical, settings)

        rows.append(score_run(run_pipeline(name, items, search), items, match))
    retriever.settings = base
    return rows


def ablation_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| passo | R@1 | R@5 | MRR@10 | nDCG@10 | R@5 operatore | R@5 funzionario | R@5 legale |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for result in rows:
        o, r = result["registers"]["overall"], result["registers"]
        lines.append(
            f"| {result['name']} | {o['recall@1']:.3f} | {o['recall@5']:.3f} | {o['mrr@10']:.3f} | "
            f"{o['ndcg@10']:.3f} | {r['operatore']['recall@5']:.3f} | {r['funzionario']['recall@5']:.3f} | "
            f"{r['legale']['recall@5']:.3f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default=str(DATASETS / "retrieval_dev.jsonl"))
    parser.add_argument("--grid", action="store_true", help="also try fusion weights and kind priors")
    args = parser.parse_args(argv)
    steps = list(STEPS)
    if args.grid:
        for formazione in (1.0, 0.8, 0.6, 0.5, 0.4):
            for refs in (0.5, 1.0, 1.5):
                for rrf_k in (10, 20, 60):
                    steps.append(
                        (
                            f"formazione={formazione} refs={refs} rrf_k={rrf_k}",
                            {"kind_weights": {"formazione": formazione}, "refs_weight": refs, "rrf_k": rrf_k},
                        )
                    )
        for lw, dw in ((0.5, 1.0), (1.0, 0.5), (1.5, 1.0), (1.0, 1.5)):
            steps.append((f"lexical={lw} dense={dw}", {"lexical_weight": lw, "dense_weight": dw}))
    print(ablation_table(ablation_rows(load_settings(), load_items(Path(args.dataset)), steps)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
