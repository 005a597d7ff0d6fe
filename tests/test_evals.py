"""Smoke test of the evaluation harness on a handful of questions, so it never rots."""

from __future__ import annotations

from pathlib import Path

from evals import metrics
from evals.harness import Item, answers_table, evaluate, table


def test_metrics_are_right_on_a_known_ranking() -> None:
    positions = metrics.first_positions(["a", "b", "c"], ["c", "x"], lambda hit, gold: hit == gold)
    assert positions == [2, None]
    assert metrics.recall_at(positions, 1) == 0.0 and metrics.recall_at(positions, 3) == 1.0
    assert metrics.mrr_at(positions, 10) == 1 / 3
    assert round(metrics.ndcg_at(positions, 10), 4) == round((1 / 2) / (1 + 1 / 1.5849625), 4)
    assert metrics.refusal_scores([True, True, False], [True, False, True]) == (0.5, 0.5)
    assert metrics.best_threshold([0.1, 0.9], [True, False])[1] == 1.0


def test_harness_runs_end_to_end_on_the_mini_index(mini_index, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cts = "dlgs-117-2017-codice-terzo-settore"
    items = [
        Item(
            "s1",
            "Qual è la finalità della co-programmazione?",
            "legale",
            "funzionario",
            "co-programmazione",
            ({"doc_id": cts, "article": "55", "comma": "2"},),
            False,
        ),
        Item(
            "s2",
            "Il Comune può pagarci solo le spese che abbiamo davvero sostenuto?",
            "operatore",
            "operatore",
            "convenzioni",
            ({"doc_id": cts, "article": "56", "comma": "2"},),
            False,
        ),
        Item(
            "s3",
            "Cosa devo predeterminare prima di scegliere i partner?",
            "funzionario",
            "funzionario",
            "co-progettazione",
            ({"doc_id": cts, "article": "55", "comma": "4"},),
            False,
        ),
        Item("s4", "Qual è la ricetta del tiramisù?", "operatore", "operatore", "fuori tema", (), True),
    ]
    report = evaluate(mini_index, items, with_baselines=True, with_backends=False, workdir=tmp_path)
    names = [r["name"] for r in report["results"]]
    assert names[0].startswith("configurata") and any(n.startswith("LangChain ingenua") for n in names)
    configured = report["results"][0]
    assert configured["registers"]["overall"]["n"] == 3
    assert configured["registers"]["overall"]["recall@5"] >= 2 / 3
    checks = report["answer_checks"]
    assert checks["citation_validity"] == 1.0
    assert "| configurata" in table(report["results"])
    overall = checks["answers"]["overall"]
    assert (overall["answerable"], overall["unanswerable"]) == (3, 1)
    # On the mini corpus (no real bank) refusal falls back on the evidence score: plain questions may be refused.
    assert overall["right_citation"] >= 1 / 3 and overall["right_citation"] + overall["answerable_refused"] <= 1.0
    assert overall["unanswerable_refused"] == 1.0  # the tiramisù is refused
    assert checks["answers"]["operatore"]["answerable"] == 1
    assert answers_table(checks).splitlines()[2].startswith("| overall | ")
