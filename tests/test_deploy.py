"""deploy/compose.yaml agrees with the app's settings and with deploy/nginx.conf (parsed only: no Docker, no network).

`compose_problems` does every check and returns one English sentence per problem; the shipped files must give none,
and each mutation of a copy (a wrong port, an unknown LC_ variable, a missing health check...) must be reported.
"""

from __future__ import annotations

import contextlib
import copy
import ipaddress
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from assistant.config import CONFIG_ENV, ConfigError, Settings, load_settings

REPO = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO / "deploy" / "compose.yaml"
NGINX_FILE = REPO / "deploy" / "nginx.conf"

CHROMA, POSTGRES, INGEST, PROXY = "chroma", "postgres", "ingest", "proxy"
APP_SERVICES = ("app-a", "app-b")
REQUIRED_SERVICES = (CHROMA, POSTGRES, INGEST, *APP_SERVICES, PROXY)
HEALTHCHECKED = (CHROMA, POSTGRES, *APP_SERVICES, PROXY)
POSTGRES_PORT = 5432
POSTGRES_DATA = "/var/lib/postgresql/data"  # PGDATA of the postgres:16 image
MIN_PROXY_READ_TIMEOUT_S = 120
# Settings that name the shared index and database: ingest and every instance must agree on them.
SHARED_FIELDS = ("store", "chroma_host", "chroma_port", "collection", "database_url", "embedder", "corpus_dir")
# Variables whose value the checks below read: an interpolation without a default would hide it.
CHECKED_VARIABLES = ("store", "chroma_host", "chroma_port", "database_url", "data_dir", "instance", "trusted_proxies")

_INTERPOLATION = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


# Reading compose ----------------------------------------------------------------------------------------------------
def interpolate(value: Any) -> str | None:
    """A compose value as the container sees it when the host sets none of the variables: `${X:-d}` gives d;
    None when it depends on a variable without a default (`${X}`, `$X`, `${X:?err}`)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    unknown = False

    def replace(match: re.Match[str]) -> str:
        nonlocal unknown
        if match.group(0) == "$$":
            return "$"
        operator, word = match.group(2), match.group(3)
        if operator in ("-", ":-"):
            return word
        if operator in ("+", ":+"):
            return ""
        unknown = True
        return ""

    resolved = _INTERPOLATION.sub(replace, text)
    return None if unknown else resolved


def environment(service: dict[str, Any]) -> dict[str, Any]:
    """The raw environment of a service (mapping or list form)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) if "=" in item else (item, None) for item in env)
        return {key: value for key, value in pairs}
    return dict(env)


def mounts(service: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(source, target, is_named_volume) of each volume of a service (short or long syntax)."""
    result = []
    for entry in service.get("volumes") or []:
        if isinstance(entry, dict):
            source, target = str(entry.get("source", "")), str(entry.get("target", ""))
            named = entry.get("type", "volume") == "volume" and bool(source)
        else:
            parts = str(entry).split(":")
            if len(parts) == 1:  # an anonymous volume
                source, target, named = "", parts[0], False
            else:
                source, target = parts[0], parts[1]
                named = not source.startswith(("/", ".", "~", "$"))
        result.append((source, target, named))
    return result


def networks(service: dict[str, Any]) -> set[str]:
    nets = service.get("networks")
    if not nets:
        return {"default"}
    return set(nets)


def depends_on(service: dict[str, Any]) -> dict[str, str | None]:
    """Dependency -> condition (None for the list form, which waits for nothing)."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps)
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def command_words(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or []
    return [str(word) for word in command] if isinstance(command, list) else str(command).split()


def option(words: list[str], name: str) -> str | None:
    """The value of `--name value` or `--name=value` in a command."""
    for i, word in enumerate(words):
        if word == name and i + 1 < len(words):
            return words[i + 1]
        if word.startswith(name + "="):
            return word.split("=", 1)[1]
    return None


# Settings -----------------------------------------------------------------------------------------------------------
def env_to_field() -> dict[str, str]:
    """Environment variable -> Settings field, from the model's fields and its env prefix."""
    prefix = Settings.model_config.get("env_prefix", "")
    return {f"{prefix}{name}".upper(): name for name in Settings.model_fields}


def is_settings_variable(name: str) -> bool:
    prefix = Settings.model_config.get("env_prefix", "")
    return name.upper().startswith(prefix.upper())


@contextlib.contextmanager
def settings_environment(values: dict[str, str]) -> Iterator[None]:
    """os.environ with exactly these settings variables (no TOML file), restored afterwards."""
    saved = dict(os.environ)
    with tempfile.TemporaryDirectory() as tmp:
        empty_toml = Path(tmp) / "empty.toml"
        empty_toml.write_text("", encoding="utf-8")
        try:
            for key in [key for key in os.environ if is_settings_variable(key)]:
                del os.environ[key]
            os.environ.update(values)
            os.environ[CONFIG_ENV] = str(empty_toml)
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)


def service_settings(name: str, service: dict[str, Any], problems: list[str]) -> Settings | None:
    """The Settings a container of this service loads, or None (with the problems said) when they do not validate."""
    fields = env_to_field()
    values: dict[str, str] = {}
    for key, raw in environment(service).items():
        if not is_settings_variable(key) or key.upper() == CONFIG_ENV:
            continue
        field = fields.get(key.upper())
        if field is None:
            problems.append(f"{name}: {key} is not a Settings field (assistant/config.py); the app ignores it")
            continue
        value = interpolate(raw)
        if value is None:
            if field in CHECKED_VARIABLES:
                problems.append(f"{name}: {key}={raw!r} needs a default (${{VAR:-value}}) so it can be checked")
            continue
        values[key] = value
    try:
        with settings_environment(values):
            return load_settings()
    except ConfigError as exc:
        problems.append(f"{name}: its LC_ variables do not validate: {exc}")
        return None


# nginx --------------------------------------------------------------------------------------------------------------
def nginx_directives(text: str) -> str:
    return "\n".join(line.split("#", 1)[0] for line in text.splitlines())


def nginx_upstreams(text: str) -> dict[str, str]:
    """Upstream name -> body."""
    return {m.group(1): m.group(2) for m in re.finditer(r"\bupstream\s+(\S+)\s*\{(.*?)\}", text, re.DOTALL)}


def nginx_seconds(value: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "": 1}
    match = re.fullmatch(r"(\d+)(ms|s|m|h|d|)", value)
    return int(match.group(1)) * units[match.group(2)] if match else 0.0


def nginx_megabytes(value: str) -> float:
    units = {"": 1 / 1024 / 1024, "k": 1 / 1024, "m": 1, "g": 1024}
    match = re.fullmatch(r"(\d+)([kKmMgG]?)", value)
    return int(match.group(1)) * units[match.group(2).lower()] if match else 0.0


# The checks ---------------------------------------------------------------------------------------------------------
def compose_problems(compose: dict[str, Any], nginx_text: str) -> list[str]:
    """Every disagreement between the compose file, the app's settings and the nginx configuration."""
    problems: list[str] = []
    services: dict[str, Any] = compose.get("services") or {}
    missing = [name for name in REQUIRED_SERVICES if name not in services]
    if missing:
        problems.append(f"missing services: {', '.join(missing)}")
    problems += _healthchecks_and_volumes(compose)

    settings: dict[str, Settings] = {}
    for name in (INGEST, *APP_SERVICES):
        if name in services:
            loaded = service_settings(name, services[name], problems)
            if loaded is not None:
                settings[name] = loaded
    problems += _shared_state(settings)
    if CHROMA in services:
        problems += _chroma(services, settings)
    if POSTGRES in services:
        problems += _postgres(services, settings)
    problems += _apps(services, settings)
    problems += _ingest(services)
    if PROXY in services:
        problems += _proxy(compose, settings, nginx_text)
    return problems


def _healthchecks_and_volumes(compose: dict[str, Any]) -> list[str]:
    problems = []
    services = compose.get("services") or {}
    declared = set(compose.get("volumes") or {})
    for name in HEALTHCHECKED:
        check = (services.get(name) or {}).get("healthcheck") or {}
        test = check.get("test")
        if name in services and (not test or check.get("disable") or test == ["NONE"]):
            problems.append(f"{name}: no healthcheck")
    for name, service in services.items():
        for source, target, named in mounts(service or {}):
            if named and source not in declared:
                problems.append(f"{name}: volume {source!r} (on {target}) is not declared under the top-level volumes")
    return problems


def _shared_state(settings: dict[str, Settings]) -> list[str]:
    problems = []
    for name, loaded in settings.items():
        if loaded.store != "server":
            problems.append(
                f"{name}: LC_STORE must be server (one Chroma server for every instance), not {loaded.store}"
            )
    reference = settings.get(INGEST)
    for name in APP_SERVICES:
        if reference is None or name not in settings:
            continue
        for field in SHARED_FIELDS:
            mine, theirs = getattr(settings[name], field), getattr(reference, field)
            if mine != theirs:
                problems.append(
                    f"{name}: {field}={_shown(field, mine)!r} differs from the ingest's {_shown(field, theirs)!r}: "
                    "they would not share the index"
                )
    return problems


def _shown(field: str, value: Any) -> Any:
    """A setting's value for a message, without the database password."""
    if field == "database_url" and value:
        with contextlib.suppress(ArgumentError):
            return make_url(value).render_as_string(hide_password=True)
    return value


def _chroma(services: dict[str, Any], settings: dict[str, Settings]) -> list[str]:
    problems = []
    words = command_words(services[CHROMA])
    port = option(words, "--port")
    path = option(words, "--path")
    if port is None or not port.isdigit():
        problems.append("chroma: its command must state the port it listens on (--port N)")
    if path is None:
        problems.append("chroma: its command must state where it persists (--path DIR)")
    elif not any(target.rstrip("/") == path.rstrip("/") and named for _, target, named in mounts(services[CHROMA])):
        problems.append(f"chroma: its data ({path}) is not on a named volume")
    for name, loaded in settings.items():
        if loaded.chroma_host != CHROMA:
            problems.append(f"{name}: LC_CHROMA_HOST is {loaded.chroma_host!r}, not the chroma service ({CHROMA!r})")
        if port is not None and port.isdigit() and loaded.chroma_port != int(port):
            problems.append(f"{name}: LC_CHROMA_PORT is {loaded.chroma_port}, but chroma listens on {port}")
        if not networks(services[name]) & networks(services[CHROMA]):
            problems.append(f"{name}: shares no network with chroma")
    return problems


def _postgres(services: dict[str, Any], settings: dict[str, Settings]) -> list[str]:
    problems = []
    env = environment(services[POSTGRES])
    user = interpolate(env.get("POSTGRES_USER")) or "postgres"
    password = interpolate(env.get("POSTGRES_PASSWORD"))
    database = interpolate(env.get("POSTGRES_DB")) or user
    if not any(target.rstrip("/") == POSTGRES_DATA and named for _, target, named in mounts(services[POSTGRES])):
        problems.append(f"postgres: its data ({POSTGRES_DATA}) is not on a named volume")
    for name, loaded in settings.items():
        try:
            url = make_url(loaded.database_url)
        except ArgumentError:
            problems.append(f"{name}: LC_DATABASE_URL is not a SQLAlchemy URL: {loaded.database_url!r}")
            continue
        where = f"{name}: LC_DATABASE_URL"
        if url.drivername != "postgresql+psycopg":
            problems.append(f"{where} uses {url.drivername!r}; the image installs psycopg 3 (postgresql+psycopg)")
        if url.host != POSTGRES:
            problems.append(f"{where} names host {url.host!r}, not the postgres service ({POSTGRES!r})")
        if (url.port or POSTGRES_PORT) != POSTGRES_PORT:
            problems.append(f"{where} names port {url.port}, but postgres listens on {POSTGRES_PORT}")
        if url.username != user:
            problems.append(f"{where} logs in as {url.username!r}, but postgres creates {user!r} (POSTGRES_USER)")
        if password is not None and url.password != password:
            problems.append(f"{where} has another password than POSTGRES_PASSWORD")
        if url.database != database:
            problems.append(f"{where} opens database {url.database!r}, but postgres creates {database!r}")
        if not networks(services[name]) & networks(services[POSTGRES]):
            problems.append(f"{name}: shares no network with postgres")
    return problems


def _apps(services: dict[str, Any], settings: dict[str, Settings]) -> list[str]:
    problems = []
    instances: dict[str, str] = {}
    data_volumes: dict[str, str] = {}
    for name in APP_SERVICES:
        service = services.get(name)
        if service is None:
            continue
        deps = depends_on(service)
        for dependency, condition in (
            (CHROMA, "service_healthy"),
            (POSTGRES, "service_healthy"),
            (INGEST, "service_completed_successfully"),
        ):
            if deps.get(dependency, "absent") != condition:
                problems.append(
                    f"{name}: must depend on {dependency} with condition {condition} "
                    f"(has {deps.get(dependency, 'no dependency')})"
                )
        env = environment(service)
        if interpolate(env.get("GRADIO_SERVER_NAME")) != "0.0.0.0":
            problems.append(f"{name}: GRADIO_SERVER_NAME must be 0.0.0.0 (the proxy reaches it from outside)")
        port = interpolate(env.get("GRADIO_SERVER_PORT"))
        if port is None or not port.isdigit():
            problems.append(f"{name}: GRADIO_SERVER_PORT must be set to a port")
        test = (service.get("healthcheck") or {}).get("test") or []
        test_text = " ".join(str(word) for word in test) if isinstance(test, list) else str(test)
        target = re.search(r"://(?:127\.0\.0\.1|localhost):(\d+)/health\b", test_text)
        if target is None or target.group(1) != port:
            problems.append(f"{name}: its healthcheck must GET http://127.0.0.1:{port}/health (GRADIO_SERVER_PORT)")
        loaded = settings.get(name)
        if loaded is None:
            continue
        if not loaded.instance:
            problems.append(f"{name}: LC_INSTANCE is empty")
        elif loaded.instance in instances:
            problems.append(f"{name}: LC_INSTANCE {loaded.instance!r} is also {instances[loaded.instance]}'s")
        instances.setdefault(loaded.instance, name)
        data_dir = str(loaded.data_dir).rstrip("/")
        volume = next((src for src, target, named in mounts(service) if named and target.rstrip("/") == data_dir), None)
        if volume is None:
            problems.append(f"{name}: LC_DATA_DIR ({data_dir}) is not on a named volume")
        elif volume in data_volumes:
            problems.append(
                f"{name}: its data volume {volume!r} is also {data_volumes[volume]}'s (caches are per instance)"
            )
        else:
            data_volumes[volume] = name
    return problems


def _ingest(services: dict[str, Any]) -> list[str]:
    service = services.get(INGEST)
    if service is None:
        return []
    problems = []
    if "assistant ingest" not in " ".join(command_words(service)):
        problems.append("ingest: its command must run `assistant ingest`")
    deps = depends_on(service)
    for dependency in (CHROMA, POSTGRES):
        if deps.get(dependency) != "service_healthy":
            problems.append(f"ingest: must depend on {dependency} with condition service_healthy")
    return problems


def _proxy(compose: dict[str, Any], settings: dict[str, Settings], nginx_text: str) -> list[str]:
    problems = []
    services = compose["services"]
    proxy = services[PROXY]
    if not any(
        Path(source).name == "nginx.conf" and target.startswith("/etc/nginx/") for source, target, _ in mounts(proxy)
    ):
        problems.append("proxy: deploy/nginx.conf is not mounted under /etc/nginx/")
    if not any(str(port).split(":")[-1].split("/")[0] == "80" for port in proxy.get("ports") or []):
        problems.append("proxy: container port 80 is not published")

    # LC_TRUSTED_PROXIES must cover the proxy, i.e. lie within a subnet of a network the proxy is on.
    proxy_subnets = []
    for net in networks(proxy):
        for pool in ((compose.get("networks") or {}).get(net) or {}).get("ipam", {}).get("config", []) or []:
            subnet = interpolate(pool.get("subnet"))
            try:
                proxy_subnets.append(ipaddress.ip_network(subnet or "", strict=False))
            except ValueError:
                problems.append(f"network {net}: subnet {pool.get('subnet')!r} is not a CIDR")
    for name in APP_SERVICES:
        if name in services and not networks(services[name]) & networks(proxy):
            problems.append(f"{name}: shares no network with the proxy")
        loaded = settings.get(name)
        if loaded is None:
            continue
        trusted = [item.strip() for item in loaded.trusted_proxies.split(",") if item.strip()]
        if not trusted:
            problems.append(f"{name}: LC_TRUSTED_PROXIES is empty: every client would have the proxy's address")
        elif not proxy_subnets:
            problems.append(f"{name}: LC_TRUSTED_PROXIES cannot be checked: give the proxy's network an ipam subnet")
        for item in trusted:
            try:
                network = ipaddress.ip_network(item, strict=False)
            except ValueError:
                problems.append(f"{name}: LC_TRUSTED_PROXIES item {item!r} is not an address or CIDR")
                continue
            if proxy_subnets and not any(
                network.version == subnet.version and network.subnet_of(subnet)  # type: ignore[arg-type]
                for subnet in proxy_subnets
            ):
                problems.append(f"{name}: LC_TRUSTED_PROXIES item {item} is outside the proxy's network")

    text = nginx_directives(nginx_text)
    used = re.findall(r"\bproxy_pass\s+https?://([^/;\s]+)", text)
    upstreams = nginx_upstreams(text)
    body = next((upstreams[name] for name in used if name in upstreams), None)
    if body is None:
        problems.append("nginx.conf: no proxy_pass to an upstream block")
        body = ""
    listed = set(re.findall(r"^\s*server\s+([^\s;]+)", body, re.MULTILINE))
    expected = set()
    for name in APP_SERVICES:
        port = interpolate(environment(services.get(name) or {}).get("GRADIO_SERVER_PORT"))
        expected.add(f"{name}:{port}")
        if f"{name}:{port}" not in listed:
            problems.append(f"nginx.conf: the upstream does not list {name}:{port} (GRADIO_SERVER_PORT of {name})")
    for server in sorted(listed - expected):
        problems.append(f"nginx.conf: the upstream lists {server}, which is no app service")
    if body and not re.search(r"^\s*(hash|ip_hash|sticky)\b", body, re.MULTILINE):
        problems.append(
            "nginx.conf: the upstream has no affinity (hash/ip_hash): Gradio's queue stream and uploads must reach "
            "the instance that served the page"
        )

    def values(directive: str) -> list[str]:
        return re.findall(rf"^\s*{directive}\s+([^;]+);", text, re.MULTILINE)

    body_sizes = values("client_max_body_size")
    upload_mb = max((loaded.max_upload_mb for name, loaded in settings.items() if name in APP_SERVICES), default=0)
    if not body_sizes or min(nginx_megabytes(size.strip()) for size in body_sizes) < upload_mb:
        problems.append(f"nginx.conf: client_max_body_size must be at least max_upload_mb ({upload_mb}m)")
    timeouts = values("proxy_read_timeout")
    if not timeouts or min(nginx_seconds(t.strip()) for t in timeouts) < MIN_PROXY_READ_TIMEOUT_S:
        problems.append(
            f"nginx.conf: proxy_read_timeout must be at least {MIN_PROXY_READ_TIMEOUT_S}s (streamed answers)"
        )
    if "off" not in [value.strip() for value in values("proxy_buffering")]:
        problems.append("nginx.conf: proxy_buffering must be off (streamed answers)")
    headers = " ".join(values("proxy_set_header"))
    for header in ("Upgrade", "Connection", "X-Forwarded-For"):
        if not re.search(rf"\b{header}\s", headers):
            problems.append(f"nginx.conf: proxy_set_header {header} is missing")
    return problems


# Tests --------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def nginx_text() -> str:
    return NGINX_FILE.read_text(encoding="utf-8")


def test_shipped_files_agree(compose: dict[str, Any], nginx_text: str) -> None:
    problems = compose_problems(compose, nginx_text)
    assert problems == [], "deploy/ disagrees with the app:\n" + "\n".join(problems)


def test_interpolation_defaults() -> None:
    assert interpolate("${A:-x}@${B-y}:$$1") == "x@y:$1"
    assert interpolate("${LC_TRAINER_USERS:-}") == ""
    assert interpolate("${A}") is None
    assert interpolate("$A") is None
    assert interpolate("${A:?required}") is None
    assert interpolate(8000) == "8000"


def _env(service: str, **values: str) -> Callable[[dict[str, Any], str], str]:
    def mutate(compose: dict[str, Any], nginx: str) -> str:
        compose["services"][service]["environment"].update(values)
        return nginx

    return mutate


def _set(service: str, key: str, value: Any) -> Callable[[dict[str, Any], str], str]:
    def mutate(compose: dict[str, Any], nginx: str) -> str:
        if value is None:
            compose["services"][service].pop(key, None)
        else:
            compose["services"][service][key] = value
        return nginx

    return mutate


def _nginx(old: str, new: str) -> Callable[[dict[str, Any], str], str]:
    def mutate(compose: dict[str, Any], nginx: str) -> str:
        assert old in nginx, f"the mutation expects {old!r} in nginx.conf"
        return nginx.replace(old, new)

    return mutate


def _drop_volume(name: str) -> Callable[[dict[str, Any], str], str]:
    def mutate(compose: dict[str, Any], nginx: str) -> str:
        del compose["volumes"][name]
        return nginx

    return mutate


MUTATIONS: dict[str, tuple[Callable[[dict[str, Any], str], str], str]] = {
    "wrong chroma port": (_env("app-a", LC_CHROMA_PORT="8001"), "app-a: LC_CHROMA_PORT is 8001"),
    "unknown variable": (_env("app-b", LC_FOO="1"), "app-b: LC_FOO is not a Settings field"),
    "no app healthcheck": (_set("app-b", "healthcheck", None), "app-b: no healthcheck"),
    "no chroma healthcheck": (_set("chroma", "healthcheck", None), "chroma: no healthcheck"),
    "invalid value": (_env("app-a", LC_SYNC_SECONDS="0"), "app-a: its LC_ variables do not validate"),
    "embedded store": (_env("app-b", LC_STORE="embedded"), "app-b: LC_STORE must be server"),
    "wrong chroma host": (_env("app-a", LC_CHROMA_HOST="localhost"), "app-a: LC_CHROMA_HOST is 'localhost'"),
    "wrong db host": (
        _env("app-b", LC_DATABASE_URL="postgresql+psycopg://lc:lc@db:5432/lc"),
        "names host 'db'",
    ),
    "wrong db port": (
        _env("ingest", LC_DATABASE_URL="postgresql+psycopg://lc:lc@postgres:5433/lc"),
        "ingest: LC_DATABASE_URL names port 5433",
    ),
    "ingest and app disagree": (_env("ingest", LC_COLLECTION="altra"), "differs from the ingest's"),
    "same instance name": (_env("app-b", LC_INSTANCE="app-a"), "LC_INSTANCE 'app-a' is also app-a's"),
    "data dir off volume": (_env("app-a", LC_DATA_DIR="/var/tmp/lc"), "app-a: LC_DATA_DIR (/var/tmp/lc)"),
    "shared data volume": (_set("app-b", "volumes", ["app-a-data:/data"]), "is also app-a's"),
    "undeclared chroma volume": (_drop_volume("chroma-data"), "'chroma-data'"),
    "chroma port not stated": (
        _set("chroma", "command", ["run", "--host", "0.0.0.0", "--path", "/data"]),
        "chroma: its command must state the port",
    ),
    "ingest started only": (
        _set(
            "app-a",
            "depends_on",
            {
                "chroma": {"condition": "service_healthy"},
                "postgres": {"condition": "service_healthy"},
                "ingest": {"condition": "service_started"},
            },
        ),
        "app-a: must depend on ingest with condition service_completed_successfully",
    ),
    "ingest runs something else": (
        _set("ingest", "command", ["assistant", "curated", "prontuario"]),
        "assistant ingest",
    ),
    "app port moved": (_env("app-b", GRADIO_SERVER_PORT="7861"), "app-b: its healthcheck must GET"),
    "untrusted proxy net": (_env("app-a", LC_TRUSTED_PROXIES="10.9.9.0/24"), "outside the proxy's network"),
    "upstream without app-b": (_nginx("server app-b:7860", "server app-c:7860"), "does not list app-b:7860"),
    "no affinity": (_nginx("hash $lc_affinity consistent;", ""), "no affinity"),
    "buffered": (_nginx("proxy_buffering off;", "proxy_buffering on;"), "proxy_buffering must be off"),
    "short timeout": (_nginx("proxy_read_timeout 300s;", "proxy_read_timeout 60s;"), "proxy_read_timeout"),
    "small uploads": (_nginx("client_max_body_size 25m;", "client_max_body_size 1m;"), "client_max_body_size"),
}


@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_mutation_is_reported(compose: dict[str, Any], nginx_text: str, mutation: str) -> None:
    mutate, expected = MUTATIONS[mutation]
    broken = copy.deepcopy(compose)
    nginx = mutate(broken, nginx_text)
    problems = compose_problems(broken, nginx)
    assert any(expected in problem for problem in problems), (
        f"{mutation}: expected a problem containing {expected!r}, got: {problems}"
    )


def test_validation_leaves_environment_alone(compose: dict[str, Any], nginx_text: str) -> None:
    before = dict(os.environ)
    compose_problems(compose, nginx_text)
    assert dict(os.environ) == before
