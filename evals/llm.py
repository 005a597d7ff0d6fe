"""The optional LLM writer behind its guard, on dev questions: `make eval-llm` (not in CI: too slow on 2 cores).

For each question the same pipeline answers twice in one process: extractive (the baseline) and through the model
writer. Reported: share of model sentences the guard kept, share of answers that fell back (and why), right-citation
rate of what the user sees vs the extractive answer, p50/p95 seconds to the first token and to the full answer.
The prontuario is not consulted (every question reaches the writer). Writes evals/LLM_RESULTS.md and evals/llm.json.

    python -m evals.llm                   # Qwen2.5-Coder-1.5B Q4_K_M in process (make model-qwen first)
    python -m evals.llm --questions 5     # a quick look
    python -m evals.llm --base-url http://127.0.0.1:8080/v1   # any OpenAI-compatible server instead
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Any

from assistant.answer import Assistant
from assistant.config import load_settings
from assistant.writers import ExtractiveWriter, make_writer
from assistant.writers.weights import WEIGHTS
from evals.answers import Item, chunk_matches, load_items

HERE = Path(__file__).resolve().parent
DEV = HERE / "datasets" / "retrieval_dev.jsonl"


def pick(items: list[Item], count: int) -> list[Item]:
    """`count` answerable questions spread evenly over the dev set (every register)."""
    answerable = [i for i in items if not i.expect_refusal]
    step = max(1, len(answerable) // count)
    return answerable[::step][:count]


def right(assistant: Assistant, answer: Any, item: Item) -> bool:
    cited = [assistant.retriever.catalog.by_id.get(c.chunk_id) for c in answer.citations]
    return any(ch is not None and chunk_matches(ch, g) for ch in cited for g in item.expected)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=40)
    parser.add_argument("--base-url", help="an OpenAI-compatible server (else the local GGUF file in process)")
    parser.add_argument("--model", default="qwen2.5-coder-1.5b", choices=list(WEIGHTS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--out", type=Path, default=HERE / "LLM_RESULTS.md")
    parser.add_argument("--write-readme", action="store_true", help="also replace the README's LLM figures")
    parser.add_argument("--report-only", action="store_true", help="rebuild the report from evals/llm.json")
    args = parser.parse_args()
    if args.report_only:
        saved = json.loads((HERE / "llm.json").read_text(encoding="utf-8"))
        summary = {
            **summarise(saved["rows"]),
            "model": saved["summary"]["model"],
            "threads": saved["summary"]["threads"],
        }
        (HERE / "llm.json").write_text(
            json.dumps({"summary": summary, "rows": saved["rows"]}, ensure_ascii=False, indent=1) + "\n"
        )
        args.out.write_text(report(summary, saved["rows"]), encoding="utf-8")
        if args.write_readme:
            write_readme(report(summary, saved["rows"]))
        print(report(summary, saved["rows"]))
        return

    base = load_settings()
    if args.base_url:
        settings = base.model_copy(update={"llm": "openai", "llm_base_url": args.base_url, "llm_timeout": args.timeout})
        model = args.base_url
    else:
        model_file = base.models_dir / WEIGHTS[args.model].filename
        if not model_file.is_file():
            raise SystemExit(f"Manca {model_file}: esegui `make model-qwen` (o assistant llm fetch {args.model}).")
        settings = base.model_copy(
            update={
                "llm": "local",
                "llm_model_file": model_file,
                "llm_threads": args.threads,
                "llm_timeout": args.timeout,
            }
        )
        model = model_file.name
    writer = make_writer(settings)
    assistant = Assistant.load(settings)
    items = pick(load_items(DEV), args.questions)
    print(f"{len(items)} domande; scrittore: {writer.describe()}", flush=True)
    rows: list[dict[str, Any]] = []
    for number, item in enumerate(items, start=1):
        assistant.writer = ExtractiveWriter()
        extractive = assistant.ask(item.question, item.audience)
        assistant.writer = writer
        started = time.monotonic()
        answer = assistant.ask(item.question, item.audience)
        elapsed = time.monotonic() - started
        guard = answer.guard
        row = {
            "id": item.id,
            "register": item.register,
            "refused": answer.refused,
            "source": answer.source,
            "fallback": guard.fallback if guard else None,
            "kept": guard.kept if guard else 0,
            "dropped": guard.dropped if guard else 0,
            "reasons": list(guard.reasons) if guard else [],
            "first_token": guard.first_token_seconds if guard else None,
            "seconds": round(elapsed, 2),
            "right": right(assistant, answer, item),
            "right_extractive": right(assistant, extractive, item),
            "asked_model": guard is not None,
        }
        rows.append(row)
        print(
            f"[{number}/{len(items)}] {item.id} {row['source']} kept {row['kept']} dropped {row['dropped']} "
            f"fallback {row['fallback']} {row['seconds']} s",
            flush=True,
        )
    summary = summarise(rows)
    summary["model"] = model
    summary["threads"] = args.threads
    (HERE / "llm.json").write_text(json.dumps({"summary": summary, "rows": rows}, ensure_ascii=False, indent=1) + "\n")
    args.out.write_text(report(summary, rows), encoding="utf-8")
    print(report(summary, rows))
    if args.write_readme:
        write_readme(report(summary, rows))


def write_readme(table: str) -> None:
    """The README's LLM figures are this run's table (between the llm-figures markers), never typed by hand."""
    readme = HERE.parent / "README.md"
    text = readme.read_text(encoding="utf-8")
    start, end = "<!-- llm-figures:start -->", "<!-- llm-figures:end -->"
    if start not in text or end not in text:
        raise SystemExit(f"README.md has no {start} ... {end} block")
    body = "\n".join(line for line in table.splitlines() if not line.startswith("# ")).strip()
    head, _, rest = text.partition(start)
    readme.write_text(head + start + "\n" + body + "\n" + end + rest.partition(end)[2], encoding="utf-8")


# The guard's checks, by the start of the reason it gives (assistant/writers/guard.py).
CHECKS = {
    "senza citazione": "no [n]",
    "cita [": "[n] that does not exist",
    "citazione non testuale": "quotation not verbatim",
    "numeri o articoli assenti": "number or article not in the cited passages",
    "usato come sinonimo": "glossary terms equated",
    "parole non presenti": "words not in the cited passages",
    "riporta le istruzioni": "repeats the instructions",
}


def checks_failed(reason: str) -> list[str]:
    """The checks a dropped sentence failed ("frase 2: a; b" -> the names of a and b)."""
    parts = reason.split(": ", 1)[1].split("; ") if ": " in reason else [reason]
    return [name for part in parts for start, name in CHECKS.items() if start in part]


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    asked = [r for r in rows if r["asked_model"]]
    sentences = sum(r["kept"] + r["dropped"] for r in asked)
    kept = sum(r["kept"] for r in asked)
    llm = [r for r in asked if r["source"] == "llm"]
    first = [r["first_token"] for r in asked if r["first_token"] is not None]
    total = [r["seconds"] for r in asked]
    reasons = Counter(check for r in asked for reason in r["reasons"] for check in checks_failed(reason))
    return {
        "questions": len(rows),
        "asked_model": len(asked),
        "not_asked": dict(Counter("rifiutata" if r["refused"] else r["source"] for r in rows if not r["asked_model"])),
        "sentences": sentences,
        "kept_share": kept / sentences if sentences else None,
        "answers_llm": len(llm),
        "fell_back": len(asked) - len(llm),
        "fell_back_share": (len(asked) - len(llm)) / len(asked) if asked else None,
        "fallback_reasons": dict(Counter(r["fallback"] for r in asked if r["fallback"])),
        "drop_reasons": dict(reasons.most_common()),
        "right_citation": sum(r["right"] for r in rows) / len(rows) if rows else None,
        "right_citation_extractive": sum(r["right_extractive"] for r in rows) / len(rows) if rows else None,
        "right_citation_llm_answers": sum(r["right"] for r in llm) / len(llm) if llm else None,
        "first_token_p50": percentile(first, 0.5),
        "first_token_p95": percentile(first, 0.95),
        "answer_p50": statistics.median(total) if total else None,
        "answer_p95": percentile(total, 0.95),
    }


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name}: {count}" for name, count in counts.items()) or "-"


def report(summary: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.0%}"

    def sec(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f} s"

    s = summary
    lines = [
        "# LLM writer behind the guard (`make eval-llm`)",
        "",
        f"Model: {s['model']} ({s['threads']} threads, this 2-core machine). {s['questions']} answerable dev "
        "questions, spread over the registers; the prontuario is not consulted, so every answer that is not refused "
        "reaches the writer. Generated by `python -m evals.llm`; not run in CI.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| questions that reached the model | {s['asked_model']} of {s['questions']} "
        f"(others: {_counts(s['not_asked'])}) |",
        f"| model sentences kept by the guard | {pct(s['kept_share'])} ({s['sentences']} sentences) |",
        f"| answers that fell back to extractive | {pct(s['fell_back_share'])} ({s['fell_back']}) |",
        f"| why they fell back | {_counts(s['fallback_reasons'])} |",
        f"| checks failed by the dropped sentences (a sentence may fail several) | {_counts(s['drop_reasons'])} |",
        f"| right citation, what the user sees | {pct(s['right_citation'])} |",
        f"| right citation, extractive (same process) | {pct(s['right_citation_extractive'])} |",
        f"| right citation, answers the model wrote | {pct(s['right_citation_llm_answers'])} ({s['answers_llm']}) |",
        f"| time to first token p50 / p95 | {sec(s['first_token_p50'])} / {sec(s['first_token_p95'])} |",
        f"| time to the full answer p50 / p95 | {sec(s['answer_p50'])} / {sec(s['answer_p95'])} |",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
