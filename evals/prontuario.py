"""The prontuario in use: paraphrases served right or wrong, suggestions, and follow-up questions.

`python -m evals.prontuario` imports the prontuario into a temporary store and measures, on the dev and on the
held-out test paraphrases (`evals/datasets/prontuario_*.jsonl`, written apart from the stored phrasings):
served right, served wrong (a different answer, or any answer to a question no answer covers), and the right
answer among served-or-suggested; then, on `followups.jsonl`, the share of follow-ups whose answer cites an
expected passage when read with the previous question (and without it, as the baseline).
`--calibrate` searches the serving rule on the dev set only: the highest share served right with zero wrong
serves, also at a threshold 0.01 lower (a margin against chance), and prints the settings to commit.
Writes evals/PRONTUARIO_RESULTS.md, which `make eval` copies into evals/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.answer import Assistant
from assistant.config import load_settings
from assistant.curated.match import CuratedMatcher, Match
from assistant.models import REGISTERS
from evals.harness import DATASETS, EVALS, chunk_matches, temporary_matcher

RESULTS = EVALS / "PRONTUARIO_RESULTS.md"


@dataclass(frozen=True)
class Paraphrase:
    id: str
    question: str
    register: str
    audience: str
    expected: str | None  # a prontuario id, or None when no answer covers the question


def load_paraphrases(path: Path) -> list[Paraphrase]:
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [Paraphrase(i["id"], i["question"], i["register"], i["audience"], i.get("expected_id")) for i in items]


def entry_of(answer_id: str) -> str:
    """The prontuario entry of a curated record ("x--operatore" -> "x")."""
    return answer_id.split("--")[0]


def rankings(matcher: CuratedMatcher, items: list[Paraphrase]) -> list[list[Match]]:
    return [matcher.ranked(item.question, item.audience) for item in items]


def serving(matcher: CuratedMatcher, items: list[Paraphrase], ranked: list[list[Match]]) -> dict[str, Any]:
    """Served right / wrong and right among served-or-suggested, overall and by register."""
    rows: dict[str, dict[str, int]] = {}
    for item, matches in zip(items, ranked, strict=True):
        served = matcher.servable(matches)
        offered = [m.answer.id for m in matches[:3] if m.similarity >= matcher.suggestion_floor]
        if served is not None and served.answer.id not in offered:
            offered = [served.answer.id, *offered][:3]
        for group in ("overall", item.register):
            row = rows.setdefault(group, {"n": 0, "null": 0, "right": 0, "wrong": 0, "offered": 0, "null_served": 0})
            if item.expected is None:
                row["null"] += 1
                row["null_served"] += int(served is not None)
                row["wrong"] += int(served is not None)
                continue
            row["n"] += 1
            if served is not None:
                right = entry_of(served.answer.id) == item.expected
                row["right"] += int(right)
                row["wrong"] += int(not right)
            row["offered"] += int(item.expected in {entry_of(a) for a in offered})
    return {
        group: {
            "served_right": row["right"] / row["n"] if row["n"] else None,
            "served_wrong": row["wrong"],
            "right_served_or_suggested": row["offered"] / row["n"] if row["n"] else None,
            "answerable": row["n"],
            "no_answer": row["null"],
            "no_answer_served": row["null_served"],
        }
        for group, row in rows.items()
    }


def calibrate(matcher: CuratedMatcher, items: list[Paraphrase], ranked: list[list[Match]]) -> dict[str, float]:
    """The serving rule with the most right serves and no wrong one on these items, also 0.01 below."""

    def outcome(threshold: float, margin: float) -> tuple[int, int]:
        matcher.threshold, matcher.margin = threshold, margin
        right = wrong = 0
        for item, matches in zip(items, ranked, strict=True):
            served = matcher.servable(matches)
            if served is not None:
                ok = item.expected is not None and entry_of(served.answer.id) == item.expected
                right, wrong = right + int(ok), wrong + int(not ok)
        return right, wrong

    best = (-1, 0.99, 0.02)
    for step in range(0, 21):
        threshold = round(0.90 + step * 0.005, 3)
        for margin in (0.0, 0.005, 0.01, 0.02):
            right, wrong = outcome(threshold, margin)
            if wrong == 0 and outcome(threshold - 0.01, margin)[1] == 0 and right > best[0]:
                best = (right, threshold, margin)
    return {"curated_threshold": best[1], "curated_margin": best[2], "dev_served_right": best[0]}


def followups(assistant: Assistant, split: str) -> dict[str, float]:
    """Follow-ups whose answer cites an expected passage: read with the previous question, and alone."""
    items = [json.loads(line) for line in (DATASETS / "followups.jsonl").read_text(encoding="utf-8").splitlines()]
    items = [i for i in items if i.get("split") == split]
    catalog = assistant.retriever.catalog
    with_previous = alone = 0
    for item in items:
        for previous in (item["previous"], None):
            answer = assistant.ask(item["question"], item["audience"], previous)
            cited = [catalog.by_id.get(c.chunk_id) for c in answer.citations]
            ok = any(c and chunk_matches(c, g) for c in cited for g in item["expected"])
            if previous is None:
                alone += int(ok)
            else:
                with_previous += int(ok)
    n = len(items) or 1
    return {"pairs": len(items), "with_previous": with_previous / n, "alone": alone / n}


def table(results: dict[str, Any]) -> str:
    lines = [
        "| set | register | served right | served wrong | right among served or suggested | n (no answer) |",
        "|---|---|---|---|---|---|",
    ]
    for split in ("dev", "test"):
        for group in ("overall", *REGISTERS):
            row = results[split].get(group)
            if row:
                lines.append(
                    f"| {split} | {group} | {row['served_right']:.3f} | {row['served_wrong']} | "
                    f"{row['right_served_or_suggested']:.3f} | {row['answerable']} ({row['no_answer']}) |"
                )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Prontuario: risposte servite, suggerite e domande di seguito.")
    parser.add_argument("--calibrate", action="store_true", help="cerca la regola di servizio sul set dev")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    settings = load_settings()
    assistant = Assistant.load(settings)
    with tempfile.TemporaryDirectory() as tmp:
        matcher = temporary_matcher(settings, assistant, Path(tmp))
        splits = {s: load_paraphrases(DATASETS / f"prontuario_{s}.jsonl") for s in ("dev", "test")}
        ranked = {s: rankings(matcher, items) for s, items in splits.items()}
        if args.calibrate:
            print(json.dumps(calibrate(matcher, splits["dev"], ranked["dev"])))
            return 0
        results: dict[str, Any] = {s: serving(matcher, splits[s], ranked[s]) for s in splits}
        assistant.curated = matcher
        results["followups"] = {s: followups(assistant, s) for s in ("dev", "test")}
        matcher.store.close()
    body = table(results)
    fu = results["followups"]
    lines = [
        "# Prontuario: served, suggested, follow-ups",
        "",
        f"Produced by `python -m evals.prontuario` (also run by `make eval`) with `curated_threshold` "
        f"{settings.curated_threshold}, `curated_margin` {settings.curated_margin} (calibrated on dev by "
        "`python -m evals.prontuario --calibrate`). Paraphrases written apart from the stored phrasings; "
        "'served wrong' counts a different answer served, or any answer served to a question no answer covers.",
        "",
        body,
        "",
        "| follow-ups | pairs | answer cites an expected passage, read with the previous question | "
        "same question alone (baseline) |",
        "|---|---|---|---|",
        *(f"| {s} | {fu[s]['pairs']} | {fu[s]['with_previous']:.3f} | {fu[s]['alone']:.3f} |" for s in ("dev", "test")),
    ]
    print("\n".join(lines))
    if not args.no_write:
        RESULTS.write_text("\n".join(lines) + "\n", encoding="utf-8")
        (EVALS / "prontuario.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
