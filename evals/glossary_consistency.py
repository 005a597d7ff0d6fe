"""Consistency of the shared language, read from what the user sees.

Each question of a group about one glossary term is asked by both audiences and rendered as the chat renders it:
the answer's Markdown (`assistant.ui.handlers.chat`) and the panel of glossary terms beside it
(`assistant.ui.library.answer_terms_html`). Every definition shown there (the panel, the definition block of a
"what is X?" answer, an "In breve" taken from the glossary) is read back out of the rendered text and compared with
the YAML file of `corpus/glossario/`, parsed here and not through the `Glossary` being checked. A group is
consistent when every answer shows its term and every definition shown equals the YAML text.

Two sets, reported apart: the dev set (`glossary_consistency.jsonl`, whose wording the glossary's aliases were
tuned on) and the held-out set (`glossary_heldout.jsonl`: terms the dev set does not cover, questions written from
the term names, definitions and the law without looking at the aliases; never used to tune anything).

`python -m evals.glossary_consistency` prints both and writes evals/GLOSSARY_RESULTS.md.
"""

from __future__ import annotations

import argparse
import html
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from assistant.answer import Assistant
from assistant.cli.query import curated_matcher
from assistant.config import load_settings
from assistant.ui.handlers import chat
from assistant.ui.library import answer_terms_html
from evals.harness import DATASETS

AUDIENCES = ("funzionario", "operatore")
DEV = DATASETS / "glossary_consistency.jsonl"
HELDOUT = DATASETS / "glossary_heldout.jsonl"
RESULTS = Path(__file__).resolve().parent / "GLOSSARY_RESULTS.md"
COMMAND = "python -m evals.glossary_consistency"

# The three places a definition is shown, as the chat renders them.
PANEL = re.compile(r"<details class='lc-gloss'><summary>(.*?)</summary><p>(.*?)</p></details>", re.DOTALL)
BLOCK = re.compile(
    r"^\*\*(?P<term>[^\n]+?)\*\* - definizione del glossario condiviso[^\n]*\n\n(?P<definition>.+?)\n\n"
    r"\*\*Per (?:i funzionari|gli operatori):\*\*",
    re.MULTILINE | re.DOTALL,
)
BRIEF = re.compile(r"\*\*In breve\*\* \(definizione del glossario: (?P<term>[^\n]+?)\): (?P<text>[^\n]+)")


def flat(text: str) -> str:
    """Whitespace as Markdown shows it: runs of spaces and single line breaks are one space."""
    return " ".join(text.split())


@dataclass(frozen=True)
class YamlEntry:
    id: str
    term: str
    definition: str


def yaml_glossary(folder: Path) -> dict[str, YamlEntry]:
    """The glossary files as written: id -> term and definition (whitespace flattened)."""
    entries = {}
    for path in sorted(folder.glob("*.y*ml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        entries[str(data["id"])] = YamlEntry(str(data["id"]), flat(str(data["term"])), flat(str(data["definition"])))
    return entries


@dataclass(frozen=True)
class Shown:
    """The definitions one rendered answer shows: (term as shown, text as shown) for each place."""

    panel: tuple[tuple[str, str], ...]
    blocks: tuple[tuple[str, str], ...]
    briefs: tuple[tuple[str, str], ...]


def shown(markdown: str, terms_html: str) -> Shown:
    """Read the definitions back out of the chat's Markdown and the terms panel's HTML."""
    # Character references (HTML, or the chat's Markdown made inert) are shown as their characters.
    seen = lambda value: flat(html.unescape(value))
    return Shown(
        tuple((seen(t), seen(d)) for t, d in PANEL.findall(terms_html)),
        tuple((seen(m["term"]), seen(m["definition"])) for m in BLOCK.finditer(markdown)),
        tuple((seen(m["term"]), seen(m["text"])) for m in BRIEF.finditer(markdown)),
    )


def render(assistant: Assistant, question: str, audience: str) -> tuple[str, str, str]:
    """(chat Markdown, terms panel HTML, answer source) of one question, as the app renders them."""
    result = chat(assistant, question, [], audience)
    if result.answer is None:
        return "", "", f"avviso: {result.warning}"
    return result.history[-1]["content"], answer_terms_html(result.answer), result.answer.source


def problems(view: Shown, entry: YamlEntry, by_term: dict[str, YamlEntry]) -> tuple[bool, list[str]]:
    """Whether the answer shows the group's term, and each definition shown that differs from its YAML text."""
    found: list[str] = []
    carried = any(term == entry.term for term, _ in view.panel)
    for place, pairs in (("riquadro", view.panel), ("risposta", view.blocks)):
        for term, definition in pairs:
            known = by_term.get(term)
            if known is None:
                found.append(f"{place}: termine {term!r} assente dai file YAML")
            elif definition != known.definition:
                found.append(f"{place}: definizione di {term!r} diversa dal file YAML")
    for term, text in view.briefs:
        known = by_term.get(term)
        # "In breve" quotes the definition's first sentences, inner «» shown as curly quotes.
        expected = known.definition.replace("«", "“").replace("»", "”") if known else ""
        if known is None or not expected.startswith(text):
            found.append(f"in breve: {term!r} non è l'inizio della definizione del file YAML")
    return carried, found


@dataclass
class Report:
    groups: int = 0
    consistent: int = 0
    answers: int = 0
    carried: int = 0
    mismatched: int = 0
    from_glossary: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)

    @property
    def metric(self) -> float:
        return self.consistent / self.groups if self.groups else 1.0


def evaluate(assistant: Assistant, groups: list[dict[str, Any]], glossary: dict[str, YamlEntry]) -> Report:
    """Ask every question of every group for both audiences and compare what is shown with the YAML files."""
    by_term = {e.term: e for e in glossary.values()}
    report = Report(groups=len(groups))
    for group in groups:
        entry = glossary.get(group["term_id"])
        found: list[str] = [] if entry is not None else [f"voce {group['term_id']!r} inesistente nei file YAML"]
        for question in group["questions"] if entry is not None else []:
            for audience in AUDIENCES:
                markdown, terms_html, source = render(assistant, question, audience)
                carried, wrong = problems(shown(markdown, terms_html), entry, by_term)
                report.answers += 1
                report.carried += carried
                report.mismatched += bool(wrong)
                report.from_glossary += source == "glossary"
                if not carried:
                    found.append(f"{audience}: {question!r} senza la voce")
                found += [f"{audience}: {question!r}: {w}" for w in wrong]
        if found:
            report.failures.append({"term_id": group["term_id"], "problems": found})
        else:
            report.consistent += 1
    return report


def read_groups(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def summary(name: str, report: Report) -> str:
    return (
        f"{name}: {report.consistent}/{report.groups} gruppi coerenti = {report.metric:.1%}; "
        f"voce mostrata in {report.carried}/{report.answers} risposte ({report.carried / max(report.answers, 1):.1%}); "
        f"risposte con una definizione diversa dal YAML: {report.mismatched}; dal glossario: {report.from_glossary}"
    )


def markdown(dev: Report, heldout: Report) -> str:
    lines = [
        "# Glossary consistency",
        "",
        f"`{COMMAND}`: groups of differently phrased questions about one term, each asked by both audiences and "
        "rendered as the chat renders it (answer Markdown and terms panel). Every definition shown is read back "
        "out of the rendered text and compared with the YAML file of `corpus/glossario/` (whitespace flattened). "
        "A group is consistent when every answer shows its term and every definition shown equals the YAML text.",
        "",
        "| set | groups consistent | answers showing the term | answers with a definition unlike the YAML | "
        "answered from the glossary |",
        "|---|---|---|---|---|",
    ]
    for name, report in (("dev (the aliases were tuned on it)", dev), ("held-out (never tuned on)", heldout)):
        lines.append(
            f"| {name} | {report.consistent}/{report.groups} = {report.metric:.1%} | "
            f"{report.carried}/{report.answers} = {report.carried / max(report.answers, 1):.1%} | "
            f"{report.mismatched} | {report.from_glossary} |"
        )
    lines += [
        "",
        "The held-out set (`evals/datasets/glossary_heldout.jsonl`) covers terms the dev set does not, with questions "
        "written from the term names, the definitions and the law, without looking at the aliases; no alias was "
        "added for it. A missing term means the question did not name the term in a way the glossary recognises.",
    ]
    for name, report in (("dev", dev), ("held-out", heldout)):
        if report.failures:
            lines += ["", f"Failing groups, {name}:", ""]
            lines += [f"- {f['term_id']}: " + "; ".join(f["problems"][:3]) for f in report.failures]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Coerenza del glossario nelle risposte, come le vede l'utente.")
    parser.add_argument("--dev", default=str(DEV), help="gruppi di sviluppo (JSONL)")
    parser.add_argument("--heldout", default=str(HELDOUT), help="gruppi tenuti da parte (JSONL)")
    parser.add_argument("--out", default=str(RESULTS), help="dove scrivere il resoconto Markdown")
    args = parser.parse_args(argv)
    settings = load_settings()
    assistant = Assistant.load(settings)
    assistant.curated = curated_matcher(settings, assistant)  # curated answers first, as in the chat and the CLI
    glossary = yaml_glossary(settings.corpus_dir / "glossario")
    dev = evaluate(assistant, read_groups(Path(args.dev)), glossary)
    heldout = evaluate(assistant, read_groups(Path(args.heldout)), glossary)
    print(summary("Sviluppo", dev))
    print(summary("Tenuti da parte", heldout))
    for name, report in (("sviluppo", dev), ("tenuti da parte", heldout)):
        for failure in report.failures:
            print(f"- [{name}] {failure['term_id']}: " + "; ".join(failure["problems"][:3]))
    Path(args.out).write_text(markdown(dev, heldout), encoding="utf-8")
    # Fails on what must never happen: a definition unlike the YAML, or a dev group that lost its term.
    return 0 if dev.metric == 1.0 and dev.mismatched == heldout.mismatched == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
