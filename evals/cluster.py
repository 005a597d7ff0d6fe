"""Several app instances over one Chroma server and one PostgreSQL, as processes on 127.0.0.1: the topology of
`deploy/compose.yaml` without Docker. `Cluster` is used by tests/test_cluster.py; `make load-cluster`
(`python -m evals.cluster [--seconds 60] [--clients 20] [--write-readme]`) measures on the full corpus:

- answers/s and p95 with one instance, then with two (20 gradio_client users spread over them), same process;
- the time from an upload ingested on instance A to the first answer of instance B that cites it;
- restart-to-ready of an instance (SIGKILL, then /health 200) with its data folder, and of a new instance with
  an empty data folder (catalogue and BM25 rebuilt from the Chroma server).

Writes evals/CLUSTER_RESULTS.md and evals/cluster.json (and the README's block with --write-readme).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals.appserver import free_port, wait_for_port

REPO = Path(__file__).resolve().parent.parent
README_BEGIN, README_END = "<!-- cluster-figures:begin -->", "<!-- cluster-figures:end -->"


@dataclass
class Instance:
    name: str
    data_dir: Path
    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"


@dataclass
class Cluster:
    """App instances sharing `chroma` (host, port) and `database_url`; each has its own data folder under `work`."""

    corpus: Path
    work: Path
    chroma: tuple[str, int]
    database_url: str
    collection: str = "lingua_comune"
    sync_seconds: float = 1.0
    extra_env: dict[str, str] = field(default_factory=dict)
    instances: dict[str, Instance] = field(default_factory=dict)

    def env(self, name: str, data_dir: Path) -> dict[str, str]:
        return {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "LC_STORE": "server",
            "LC_CHROMA_HOST": self.chroma[0],
            "LC_CHROMA_PORT": str(self.chroma[1]),
            "LC_COLLECTION": self.collection,
            "LC_DATABASE_URL": self.database_url,
            "LC_CORPUS_DIR": str(self.corpus),
            "LC_DATA_DIR": str(data_dir),
            "LC_INSTANCE": name,
            "LC_SYNC_SECONDS": str(self.sync_seconds),
            **self.extra_env,
        }

    def instance(self, name: str) -> Instance:
        if name not in self.instances:
            data = self.work / f"data-{name}"
            self.instances[name] = Instance(name, data, free_port(), self.work / f"{name}.log")
        return self.instances[name]

    def command(self, name: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`assistant ARGS` with instance `name`'s environment and data folder (what that instance would run)."""
        inst = self.instance(name)
        result = subprocess.run(
            [sys.executable, "-m", "assistant.cli", *args],
            cwd=REPO,
            env=self.env(name, inst.data_dir),
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"assistant {' '.join(args)} ({name}) failed: {result.stderr[-2000:]}")
        return result

    def start(self, name: str) -> Instance:
        """Start `python app.py` for instance `name` (its data folder kept across restarts); not yet ready."""
        inst = self.instance(name)
        env = self.env(name, inst.data_dir) | {"GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(inst.port)}
        with inst.log.open("ab") as log:
            inst.proc = subprocess.Popen(
                [sys.executable, str(REPO / "app.py")], cwd=REPO, env=env, stdout=log, stderr=log
            )
        return inst

    def wait_ready(self, name: str, timeout: float = 180) -> dict[str, Any]:
        """/health's body once it answers 200; RuntimeError with the log's tail otherwise."""
        inst = self.instances[name]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if inst.proc is not None and inst.proc.poll() is not None:
                break
            if wait_for_port(inst.port, 0.5):
                status, body = health(inst.url)
                if status == 200:
                    return body
            time.sleep(0.3)
        raise RuntimeError(f"l'istanza {name} non è pronta: {inst.log.read_text(errors='replace')[-3000:]}")

    def kill(self, name: str) -> None:
        """SIGKILL: no clean shutdown, as a crashed machine."""
        inst = self.instances[name]
        if inst.proc is not None and inst.proc.poll() is None:
            inst.proc.send_signal(signal.SIGKILL)
            inst.proc.wait(timeout=30)

    def stop(self) -> None:
        for inst in self.instances.values():
            if inst.proc is not None and inst.proc.poll() is None:
                inst.proc.terminate()
                try:
                    inst.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    inst.proc.kill()


def health(url: str) -> tuple[int, dict[str, Any]]:
    """(status, body) of GET /health; (0, {}) when the instance does not answer."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/health", timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")
    except (OSError, ValueError):
        return 0, {}


def ask(url: str, question: str, audience: str = "operatore") -> str:
    """The text of the instance's answer through its public /ask endpoint (what a chat user sees)."""
    from gradio_client import Client

    history = Client(url, verbose=False).predict(question, [], audience, api_name="/ask")[0]
    content = history[-1]["content"]
    return content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.5) -> float | None:
    """Seconds until `check()` held (None: not within `timeout`)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(interval)
    return None


@contextlib.contextmanager
def chroma_process(path: Path) -> Iterator[tuple[str, int]]:
    """A Chroma server on a free port of 127.0.0.1 with its data in `path`."""
    chroma = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
    port = free_port()
    proc = subprocess.Popen(
        [chroma, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        if not wait_for_port(port, 60, proc):
            raise RuntimeError("Il server Chroma non si è avviato entro 60 s.")
        yield "127.0.0.1", port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# --- make load-cluster ---------------------------------------------------------------------------------------

UPLOAD_TITLE = "Nota del tavolo di quartiere (prova di carico)"
UPLOAD_TEXT = (
    "---\ntitle: " + UPLOAD_TITLE + "\nversion_date: 2026-11-27\n---\n# Nota del tavolo di quartiere\n\n"
    "## Calendario del tavolo di quartiere\n\nIl tavolo di quartiere della rete Girasole si riunisce ogni secondo "
    "martedì del mese nella biblioteca di via Padova, con gli enti che hanno firmato il patto di collaborazione.\n"
)
UPLOAD_QUESTION = "Quando si riunisce il tavolo di quartiere della rete Girasole?"


def measure(seconds: float, clients: int) -> dict[str, Any]:
    from evals.harness import DATASETS, load_items
    from evals.pgserver import ENV, throwaway_postgres

    questions = [i.question for i in load_items(DATASETS / "retrieval_dev.jsonl")]
    work = Path(tempfile.mkdtemp(prefix="lc-cluster-"))
    results: dict[str, Any] = {"seconds": seconds, "clients": clients}
    with contextlib.ExitStack() as stack:
        url = os.environ.get(ENV) or stack.enter_context(throwaway_postgres("lc_cluster"))
        chroma = stack.enter_context(chroma_process(work / "chroma"))
        cluster = Cluster(REPO / "corpus", work, chroma, url, collection=f"cluster_{os.getpid()}")
        stack.callback(cluster.stop)
        began = time.perf_counter()
        cluster.command("a", "ingest", "--quiet")
        cluster.command("a", "curated", "prontuario")
        results["ingest_seconds"] = round(time.perf_counter() - began, 1)
        cluster.start("a")
        cluster.wait_ready("a")
        one = _load(cluster, questions, clients, seconds)
        began = time.perf_counter()
        cluster.start("b")
        cluster.wait_ready("b")
        results["new_instance_ready_seconds"] = round(time.perf_counter() - began, 1)
        two = _load(cluster, questions, clients, seconds)
        results["one_instance"], results["two_instances"] = one, two

        note = work / "nota-tavolo-girasole.md"
        note.write_text(UPLOAD_TEXT, encoding="utf-8")
        began = time.perf_counter()
        cluster.command("a", "ingest", str(note), "--kind", "formazione", "--quiet")
        ingested = time.perf_counter()
        b_url = cluster.instances["b"].url
        cited = wait_until(lambda: UPLOAD_TITLE in ask(b_url, UPLOAD_QUESTION), 120, 0.2)
        results["upload_ingest_seconds"] = round(ingested - began, 1)
        results["upload_to_citation_on_b_seconds"] = None if cited is None else round(cited, 1)

        cluster.kill("b")
        began = time.perf_counter()
        cluster.start("b")
        cluster.wait_ready("b")
        results["restart_ready_seconds"] = round(time.perf_counter() - began, 1)
    shutil.rmtree(work, ignore_errors=True)
    return results


def _cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time of these processes so far (Linux /proc)."""
    total = 0.0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _load(cluster: Cluster, questions: list[str], clients: int, seconds: float) -> dict[str, Any]:
    """The load over every running instance: its summary, answers per second over the stated window (the run
    itself lasts longer: the clients connect first, and the last answers arrive after the window), the slowest
    answer, and how many cores the app processes used meanwhile."""
    from evals.load import run_load

    running = [i for i in cluster.instances.values() if i.proc is not None and i.proc.poll() is None]
    pids = [i.proc.pid for i in running if i.proc is not None]
    before, started = _cpu_seconds(pids), time.monotonic()
    load = run_load([i.url for i in running], questions, clients, seconds)
    summary = load.summary()
    summary["app_cores"] = round((_cpu_seconds(pids) - before) / (time.monotonic() - started), 2)
    summary["answers_per_s"] = len(load.latencies_ms) / seconds
    summary["max_ms"] = max(load.latencies_ms, default=0.0)
    summary["wall_seconds"] = round(load.seconds, 1)
    return summary


def _scaling(one: dict[str, Any], two: dict[str, Any]) -> str:
    """What the two rows say, from the figures (not written in advance)."""
    ratio = two["answers_per_s"] / one["answers_per_s"] if one["answers_per_s"] else 0.0
    cores = (
        f"the app processes used {one['app_cores']:.2f} cores with one instance and {two['app_cores']:.2f} with "
        "two (CPU time over the run; the load's own clients take the rest of the 2 cores)"
    )
    if ratio >= 1.15:
        return f"Two instances answered {ratio:.2f} times as many questions per second as one: {cores}."
    if ratio <= 0.87:
        return f"Two instances answered {ratio:.2f} times as many questions per second as one, fewer: {cores}."
    return f"Two instances answered {ratio:.2f} times as many questions per second as one, no gain: {cores}."


def report(results: dict[str, Any]) -> str:
    one, two = results["one_instance"], results["two_instances"]
    return (
        f"`make load-cluster` (`python -m evals.cluster --seconds {results['seconds']:g} --clients "
        f"{results['clients']}`), this 2-core machine, everything on 127.0.0.1: a Chroma server, PostgreSQL and "
        "`python app.py` instances with `LC_STORE=server` and `LC_SYNC_SECONDS=1`, the full corpus "
        f"(ingest into the server: {results['ingest_seconds']} s).\n\n"
        "| instances | requests | errors | answers/s | p50 | p95 | slowest | run lasted | app CPU (cores) |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
        + "".join(
            f"| {n} | {r['requests']} | {r['errors']} | {r['answers_per_s']:.1f} | {r['p50_ms']:.0f} ms | "
            f"{r['p95_ms']:.0f} ms | {r['max_ms'] / 1000:.1f} s | {r['wall_seconds']} s | {r['app_cores']:.2f} |\n"
            for n, r in ((1, one), (2, two))
        )
        + "\nAnswers/s: the answers received divided by the "
        f"{results['seconds']:g} s window; the run lasts longer (the clients connect first). "
        + _scaling(one, two)
        + "\n\n"
        f"- Upload ingested on A in {results['upload_ingest_seconds']} s; B's first answer citing it "
        f"{results['upload_to_citation_on_b_seconds']} s later (polling every 0.2 s).\n"
        f"- A second instance with an empty data folder ready in {results['new_instance_ready_seconds']} s "
        f"(catalogue and BM25 rebuilt from the Chroma server); B killed with SIGKILL and restarted with its data "
        f"folder: ready (/health 200) in {results['restart_ready_seconds']} s.\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--write-readme", action="store_true")
    args = parser.parse_args(argv)
    results = measure(args.seconds, args.clients)
    text = report(results)
    (REPO / "evals" / "cluster.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    (REPO / "evals" / "CLUSTER_RESULTS.md").write_text("# Several instances\n\n" + text, encoding="utf-8")
    if args.write_readme:
        readme = REPO / "README.md"
        content = readme.read_text(encoding="utf-8")
        start, end = content.index(README_BEGIN) + len(README_BEGIN), content.index(README_END)
        readme.write_text(content[:start] + "\n" + text + content[end:], encoding="utf-8")
    print(text)
    errors = results["one_instance"]["errors"] + results["two_instances"]["errors"]
    return 0 if not errors and results["upload_to_citation_on_b_seconds"] is not None else 1


if __name__ == "__main__":
    raise SystemExit(main())
