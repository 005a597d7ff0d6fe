"""Load test: N concurrent gradio_client users asking different questions for a bounded time, on 127.0.0.1.

`python -m evals.load [--clients 20] [--seconds 60] [--url URL]` starts `python app.py` (unless --url is given),
reports errors and latency percentiles, and writes evals/LOAD_RESULTS.md.
"""

from __future__ import annotations

import argparse
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals.appserver import serving_app
from evals.harness import DATASETS, load_items
from evals.metrics import percentile

REPO = Path(__file__).resolve().parent.parent


@dataclass
class LoadReport:
    clients: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return len(self.latencies_ms) + len(self.errors)

    def summary(self) -> dict[str, Any]:
        return {
            "clients": self.clients,
            "seconds": round(self.seconds, 1),
            "requests": self.requests,
            "errors": len(self.errors),
            "p50_ms": percentile(self.latencies_ms, 50),
            "p95_ms": percentile(self.latencies_ms, 95),
            "throughput_per_s": len(self.latencies_ms) / self.seconds if self.seconds else 0.0,
        }


def run_load(
    url: str | list[str], questions: list[str], clients: int, seconds: float, max_requests_per_client: int | None = None
) -> LoadReport:
    """Each client asks its own rotation of questions until the time is up; with several URLs (instances), the
    clients are spread over them in turn."""
    urls = [url] if isinstance(url, str) else url
    from gradio_client import Client

    report = LoadReport(clients, seconds)
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    start = time.monotonic()

    def user(index: int) -> None:
        client = Client(urls[index % len(urls)], verbose=False)
        asked = 0
        while time.monotonic() < deadline:
            if max_requests_per_client is not None and asked >= max_requests_per_client:
                break
            question = questions[(index * 7 + asked) % len(questions)]
            audience = "funzionario" if (index + asked) % 2 else "operatore"
            began = time.perf_counter()
            try:
                result = client.predict(question, [], audience, api_name="/ask")
                history = result[0]
                if not history or history[-1].get("role") != "assistant":
                    raise RuntimeError(f"risposta vuota per {question!r}")
                with lock:
                    report.latencies_ms.append((time.perf_counter() - began) * 1000)
            except Exception as exc:  # every failure counts as an error of the run
                with lock:
                    report.errors.append(f"{type(exc).__name__}: {exc}")
            asked += 1

    threads = [threading.Thread(target=user, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report.seconds = time.monotonic() - start
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--url", default=None)
    args = parser.parse_args(argv)
    questions = [i.question for i in load_items(DATASETS / "retrieval_dev.jsonl")]
    if args.url:
        report = run_load(args.url, questions, args.clients, args.seconds)
    else:
        with serving_app() as (_, url):
            report = run_load(url, questions, args.clients, args.seconds)
    s = report.summary()
    text = (
        f"# Load\n\n`python -m evals.load --clients {args.clients} --seconds {args.seconds:g}`: "
        f"{s['clients']} concurrent gradio_client users asking different dev questions (both audiences) "
        f"against `python app.py` on 127.0.0.1 for {s['seconds']} s, on this 2-core machine.\n\n"
        "| clients | requests | errors | p50 | p95 | answers/s |\n|---|---|---|---|---|---|\n"
        f"| {s['clients']} | {s['requests']} | {s['errors']} | {s['p50_ms']:.0f} ms | {s['p95_ms']:.0f} ms | "
        f"{s['throughput_per_s']:.1f} |\n"
    )
    if report.errors:
        text += "\nErrors (first 5):\n" + "\n".join(f"- {e}" for e in report.errors[:5]) + "\n"
    (REPO / "evals" / "LOAD_RESULTS.md").write_text(text, encoding="utf-8")
    print(text)
    return 0 if not report.errors else 1


if __name__ == "__main__":
    raise SystemExit(main())
