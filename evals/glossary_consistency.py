"""Consistency of the shared language: differently phrased questions about one term, asked by both audiences,
must all carry that glossary entry with byte-identical definition text.

`python -m evals.glossary_consistency` prints the metric and the failing groups.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from assistant.answer import Assistant
from assistant.config import load_settings
from evals.harness import DATASETS

AUDIENCES = ("funzionario", "operatore")


def evaluate(assistant: Assistant, groups: list[dict[str, Any]]) -> dict[str, Any]:
    passed, failures, answers, from_glossary = 0, [], 0, 0
    for group in groups:
        entry = assistant.glossary.entries.get(group["term_id"])
        problems = []
        for question in group["questions"]:
            for audience in AUDIENCES:
                answer = assistant.ask(question, audience)
                answers += 1
                from_glossary += answer.source == "glossary"
                found = [g for g in answer.glossary_terms if g.id == group["term_id"]]
                if entry is None:
                    problems.append("voce inesistente")
                elif not found:
                    problems.append(f"{audience}: {question!r} senza la voce")
                elif found[0].definition != entry.definition:
                    problems.append(f"{audience}: {question!r} con definizione diversa")
        if problems:
            failures.append({"term_id": group["term_id"], "problems": problems})
        else:
            passed += 1
    return {
        "groups": len(groups),
        "consistent": passed,
        "metric": passed / len(groups) if groups else 1.0,
        "answers": answers,
        "glossary_answers": from_glossary,
        "failures": failures,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default=str(DATASETS / "glossary_consistency.jsonl"))
    args = parser.parse_args(argv)
    groups = [json.loads(line) for line in Path(args.dataset).read_text(encoding="utf-8").splitlines() if line.strip()]
    report = evaluate(Assistant.load(load_settings()), groups)
    print(
        f"Coerenza del glossario: {report['consistent']}/{report['groups']} gruppi = {report['metric']:.1%} "
        f"({report['answers']} risposte, {report['glossary_answers']} dal glossario)"
    )
    for failure in report["failures"]:
        print(f"- {failure['term_id']}: " + "; ".join(failure["problems"][:3]))
    lines = [
        "# Glossary consistency",
        "",
        f"`python -m evals.glossary_consistency`: {report['groups']} groups of differently phrased questions "
        f"about one term, each asked by both audiences ({report['answers']} answers, "
        f"{report['glossary_answers']} of them answered from the glossary).",
        "",
        f"**Consistency: {report['consistent']}/{report['groups']} groups = {report['metric']:.1%}** (share of "
        "groups whose answers all carry the same glossary entry with byte-identical definition text; target "
        "100 %).",
    ]
    lines += [f"- failing: {f['term_id']}: " + "; ".join(f["problems"][:3]) for f in report["failures"]]
    (Path(__file__).resolve().parent / "GLOSSARY_RESULTS.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0 if report["metric"] == 1.0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
