"""`make eval`: retrieval and answer quality of the configured pipeline and its baselines, in one run.

Prints one table and writes evals/RESULTS.md (and evals/results.json); see `evals.harness` for the pipelines.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from assistant.config import load_settings
from evals.ablation import STEPS, ablation_rows, ablation_table
from evals.harness import DATASETS, EVALS, answers_table, evaluate, load_items, table
from evals.report import write_results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Valutazione di recupero e risposte (make eval).")
    parser.add_argument("--dataset", default=None, help="one dataset only (default: dev and held-out test)")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--no-baselines", action="store_true")
    parser.add_argument("--no-backends", action="store_true")
    parser.add_argument("--quick", action="store_true", help="dev set only, no baselines, backends or ablation")
    parser.add_argument("--write", default=str(EVALS / "results.json"))
    parser.add_argument("--results-md", default=str(EVALS / "RESULTS.md"))
    args = parser.parse_args(argv)
    settings = load_settings()
    if args.dataset or args.quick:
        path = Path(args.dataset) if args.dataset else DATASETS / "retrieval_dev.jsonl"
        report = evaluate(
            settings,
            load_items(path, args.limit),
            not (args.no_baselines or args.quick),
            not (args.no_backends or args.quick),
        )
        print(table(report["results"]))
        print(answers_table(report["answer_checks"]))
        print(json.dumps({k: v for k, v in report["answer_checks"].items() if k != "answers"}, ensure_ascii=False))
        return 0
    dev_items = load_items(DATASETS / "retrieval_dev.jsonl", args.limit)
    test_items = load_items(DATASETS / "retrieval_test.jsonl", args.limit)
    full = {
        "dev": evaluate(settings, dev_items, not args.no_baselines, not args.no_backends),
        "test": evaluate(settings, test_items, not args.no_baselines, False),
        "ablation": ablation_rows(settings, dev_items, STEPS),
        "settings": settings.model_dump(mode="json"),
    }
    print("Dev (" + str(len(dev_items)) + " domande)")
    print(table(full["dev"]["results"]))
    print("Test (" + str(len(test_items)) + " domande, tenute da parte)")
    print(table(full["test"]["results"]))
    print(ablation_table(full["ablation"]))
    Path(args.write).write_text(json.dumps(full, ensure_ascii=False, indent=1), encoding="utf-8")
    write_results(full, Path(args.results_md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
