"""Trainer logins: PBKDF2 hashes, the LC_TRAINER_USERS format, the trainer guard, `assistant trainer hash`;
backoff and lockout per user and per client, sessions, expiry and logout (an injected clock, no sleeping)."""

from __future__ import annotations

import argparse
import hashlib
import io
import re

import pytest

from assistant.auth import (
    AuthError,
    LoginGuard,
    LoginRefused,
    Sessions,
    Trainers,
    hash_password,
    login,
    parse_trainer_users,
    require_trainer,
    verify_password,
    verify_trainer,
    wait_text,
)
from assistant.cli.trainer import cmd_trainer, register
from assistant.config import load_settings

HASH = re.compile(r"pbkdf2_sha256\$(\d+)\$([0-9a-f]{32})\$([0-9a-f]{64})")


@pytest.fixture(scope="module")
def maria_hash() -> str:
    return hash_password("una-password-lunga")


def test_hash_format_salt_and_verification(maria_hash: str) -> None:
    match = HASH.fullmatch(maria_hash)
    assert match is not None and int(match.group(1)) >= 200_000
    assert hash_password("una-password-lunga") != maria_hash  # a random salt every time
    assert verify_password("una-password-lunga", maria_hash)
    assert not verify_password("una-password-lunga ", maria_hash)
    known = hash_password("segreto-condiviso", iterations=200_000, salt=bytes(range(16)))
    assert known == (
        "pbkdf2_sha256$200000$000102030405060708090a0b0c0d0e0f$"
        + hashlib.pbkdf2_hmac("sha256", b"segreto-condiviso", bytes(range(16)), 200_000).hex()
    )


def test_too_few_iterations_and_bad_hashes_are_refused() -> None:
    with pytest.raises(AuthError, match="Servono almeno 200000 iterazioni PBKDF2"):
        hash_password("x" * 10, iterations=1000)
    with pytest.raises(AuthError) as info:
        verify_password("x", "md5$abc")
    assert str(info.value) == (
        "Hash non valido: atteso pbkdf2_sha256$iterazioni$sale$hash (crealo con: assistant trainer hash)."
    )


def test_trainer_users_setting(maria_hash: str) -> None:
    users = parse_trainer_users(f" maria:{maria_hash} , luca:{maria_hash},")
    assert users == {"maria": maria_hash, "luca": maria_hash}
    with pytest.raises(AuthError) as info:
        parse_trainer_users("maria")
    assert str(info.value) == (
        "LC_TRAINER_USERS non valido: la voce 'maria' non è nella forma utente:hash (crea "
        "l'hash con: assistant trainer hash)."
    )
    with pytest.raises(AuthError, match="LC_TRAINER_USERS non valido per l'utente 'luca': Hash non valido"):
        parse_trainer_users("luca:password-in-chiaro")
    assert Trainers.from_settings(load_settings(trainer_users="")).hashes == {}


def test_only_trainers_pass_the_guard(maria_hash: str) -> None:
    trainers = Trainers.from_settings(load_settings(trainer_users=f"maria:{maria_hash}"))
    assert require_trainer("maria", trainers) == "maria"
    with pytest.raises(PermissionError) as info:
        require_trainer("ospite", trainers)
    assert str(info.value) == (
        "Solo i formatori possono modificare le risposte curate: l'utente 'ospite' non è tra "
        "i formatori configurati (LC_TRAINER_USERS)."
    )
    with pytest.raises(PermissionError) as info:
        require_trainer(None, trainers)
    assert str(info.value) == (
        "Per modificare le risposte curate accedi come formatore: chi non ha un account da "
        "formatore può solo consultarle."
    )
    assert trainers.authenticate("maria", "una-password-lunga")
    assert not trainers.authenticate("maria", "sbagliata") and not trainers.authenticate("ospite", "x")
    assert login(trainers, "maria", "una-password-lunga") == "maria"
    with pytest.raises(PermissionError, match=r"^Password errata per il formatore 'maria'\.$"):
        login(trainers, "maria", "sbagliata")
    assert verify_trainer(load_settings(trainer_users=f"maria:{maria_hash}"), "maria", "una-password-lunga")
    assert not verify_trainer(load_settings(trainer_users="maria"), "maria", "una-password-lunga")  # malformed
    with pytest.raises(
        PermissionError, match="Manca la password del formatore: impostala nella variabile LC_TRAINER_PASSWORD"
    ):
        login(trainers, "maria", "")


def test_trainer_hash_command(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from assistant.errors import CliError

    parser = argparse.ArgumentParser(prog="assistant")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["trainer", "hash"])
    assert args.func is cmd_trainer
    monkeypatch.setattr("sys.stdin", io.StringIO("la-mia-password\n"))
    assert args.func(args, load_settings()) == 0
    printed = capsys.readouterr()
    encoded = printed.out.strip()
    assert HASH.fullmatch(encoded) and verify_password("la-mia-password", encoded)
    assert printed.err.startswith("Aggiungi il formatore con LC_TRAINER_USERS='nome:pbkdf2_sha256$")
    monkeypatch.setattr("sys.stdin", io.StringIO("corta\n"))
    with pytest.raises(CliError) as info:
        args.func(args, load_settings())
    assert str(info.value) == "La password deve avere almeno 8 caratteri (letta da standard input)."


# --- guarded logins, sessions, logout (the functions behind the app's Accedi / Esci buttons) ----------------


class Clock:
    """A settable clock (seconds), so backoff, lockout and expiry are tested without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingTrainers(Trainers):
    """Real trainer accounts that also count how many password checks (PBKDF2 runs) they were asked for."""

    checks = 0

    def authenticate(self, user: str, password: str) -> bool:
        type(self).checks += 1
        return super().authenticate(user, password)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sessions(maria_hash: str, clock: Clock) -> Sessions:
    CountingTrainers.checks = 0
    settings = load_settings(trainer_users=f"maria:{maria_hash}")
    return Sessions(CountingTrainers({"maria": maria_hash}), LoginGuard.from_settings(settings, clock), 480, clock)


def refused(sessions: Sessions, user: str, password: str, client: str) -> str:
    with pytest.raises(LoginRefused) as info:
        sessions.login(user, password, client)
    return str(info.value)


def test_login_settings_defaults() -> None:
    settings = load_settings()
    assert (settings.login_max_failures, settings.login_lockout_seconds, settings.login_backoff_base_seconds) == (
        5,
        900,
        1.0,
    )
    assert (settings.session_minutes, settings.forbid_self_approval) == (480, True)


def test_backoff_then_lockout_per_user_refused_without_hashing(sessions: Sessions, clock: Clock) -> None:
    # Each guess from a different client address: only the user name's counter can stop them.
    assert refused(sessions, "maria", "sbagliata", "10.0.0.1") == (
        "Utente o password non validi. Puoi riprovare tra 1 secondo."
    )
    assert CountingTrainers.checks == 1
    # In backoff even the right password is refused, and no password is hashed.
    assert refused(sessions, "maria", "una-password-lunga", "10.0.0.2") == (
        "Troppi tentativi di accesso falliti: riprova tra 1 secondo."
    )
    assert CountingTrainers.checks == 1
    clock.now += 1
    assert refused(sessions, " Maria ", "sbagliata", "10.0.0.3") == (  # the same name, however typed
        "Utente o password non validi. Puoi riprovare tra 2 secondi."
    )
    for client, wait in (("10.0.0.4", 2), ("10.0.0.5", 4)):
        clock.now += wait
        refused(sessions, "maria", "sbagliata", client)
    clock.now += 8
    assert refused(sessions, "maria", "sbagliata", "10.0.0.6") == (
        "Utente o password non validi. Troppi tentativi falliti: accesso bloccato per 15 minuti."
    )
    checks = CountingTrainers.checks
    assert checks == 5
    clock.now += 899
    assert refused(sessions, "maria", "una-password-lunga", "10.0.0.7") == (
        "Accesso bloccato per troppi tentativi falliti: riprova tra 1 secondo."
    )
    assert CountingTrainers.checks == checks  # locked out: no PBKDF2 run
    clock.now += 1
    assert sessions.login("maria", "una-password-lunga", "10.0.0.7").user == "maria"


def test_lockout_per_client_across_user_names(sessions: Sessions, clock: Clock) -> None:
    first = refused(sessions, "mario", "x", "192.0.2.9")  # an unknown user: the same words as a wrong password
    assert first == "Utente o password non validi. Puoi riprovare tra 1 secondo."
    for n, name in enumerate(("luca", "anna", "paolo", "giulia"), start=1):
        clock.now += 2 ** (n - 1)
        message = refused(sessions, name, "x", "192.0.2.9")
    assert message == "Utente o password non validi. Troppi tentativi falliti: accesso bloccato per 15 minuti."
    checks = CountingTrainers.checks
    assert refused(sessions, "maria", "una-password-lunga", "192.0.2.9") == (
        "Accesso bloccato per troppi tentativi falliti: riprova tra 15 minuti."
    )
    assert CountingTrainers.checks == checks
    assert sessions.login("maria", "una-password-lunga", "192.0.2.10").user == "maria"  # another client


def test_success_resets_the_counters(sessions: Sessions, clock: Clock) -> None:
    refused(sessions, "maria", "sbagliata", "10.1.1.1")
    clock.now += 1
    assert refused(sessions, "maria", "sbagliata", "10.1.1.1").endswith("Puoi riprovare tra 2 secondi.")
    clock.now += 2
    sessions.login("maria", "una-password-lunga", "10.1.1.1")
    assert refused(sessions, "maria", "sbagliata", "10.1.1.1").endswith("Puoi riprovare tra 1 secondo.")


def test_parallel_attempts_cannot_slip_past_the_backoff(maria_hash: str) -> None:
    import threading

    guard = LoginGuard(clock=Clock())
    assert guard.begin("maria", "10.0.0.1") is None  # being checked
    busy = "Un altro tentativo di accesso è in corso: riprova tra qualche secondo."
    assert guard.begin("maria", "10.0.0.2") == busy and guard.begin("luca", "10.0.0.1") == busy
    assert guard.end("maria", "10.0.0.1", False) == "Utente o password non validi. Puoi riprovare tra 1 secondo."

    entered, release = threading.Event(), threading.Event()

    class SlowTrainers(Trainers):
        """Real accounts whose password check waits for the test, to hold the only hashing slot."""

        def authenticate(self, user: str, password: str) -> bool:
            entered.set()
            release.wait(30)
            return super().authenticate(user, password)

    one_slot = Sessions(SlowTrainers({"maria": maria_hash}), LoginGuard(), hashing_slots=1, hashing_wait=0.01)
    holder = threading.Thread(target=lambda: one_slot.login("maria", "una-password-lunga", "10.0.0.1"))
    holder.start()
    assert entered.wait(30)
    with pytest.raises(LoginRefused, match=r"^Troppi accessi in corso: riprova tra qualche secondo\.$"):
        one_slot.login("luca", "qualsiasi", "10.0.0.2")
    release.set()
    holder.join(30)
    assert one_slot.guard.begin("luca", "10.0.0.2") is None  # the refused attempt counted as no failure


def test_sessions_expire_and_logout_ends_them(sessions: Sessions, clock: Clock) -> None:
    from assistant.ui import auth_handlers

    result = auth_handlers.login(sessions, "maria", "una-password-lunga", "127.0.0.1")
    assert (result.user, result.message) == ("maria", "Accesso effettuato come formatore: **maria**.")
    token = result.token
    assert token and len(token) >= 40 and "maria" not in token
    assert sessions.trainer(token) == "maria" and sessions.require(token) == "maria"
    clock.now += 480 * 60 - 1
    assert sessions.trainer(token) == "maria"
    clock.now += 1
    assert sessions.trainer(token) is None
    with pytest.raises(PermissionError, match=r"^Sessione scaduta: accedi di nuovo\.$"):
        sessions.require(token)

    again = auth_handlers.login(sessions, "maria", "una-password-lunga", "127.0.0.1", previous=token)
    assert again.token and again.token != token
    wrong = auth_handlers.login(sessions, "maria", "sbagliata", "127.0.0.1", previous=again.token)
    assert (wrong.token, wrong.user) == (again.token, "maria")  # a failed login keeps the session
    assert wrong.message == "Utente o password non validi. Puoi riprovare tra 1 secondo."
    out = auth_handlers.logout(sessions, again.token)
    assert (out.token, out.message) == (
        None,
        "Sei uscito (maria). Non hai effettuato l'accesso: puoi consultare, non modificare.",
    )
    assert sessions.trainer(again.token) is None  # ended server-side: replaying the token gets nothing
    with pytest.raises(PermissionError, match=r"^Per modificare le risposte curate accedi come formatore"):
        sessions.require(again.token)
    with pytest.raises(PermissionError, match=r"^Solo i formatori possono caricare documenti\.$"):
        sessions.require(again.token, "Solo i formatori possono caricare documenti.")
    assert auth_handlers.login(sessions, "", "x", "127.0.0.1").message == "Inserisci utente e password."


def test_client_address_and_wait_texts() -> None:
    from types import SimpleNamespace

    from assistant.ui.auth_handlers import client_address

    assert client_address(SimpleNamespace(client=SimpleNamespace(host="203.0.113.5"))) == "203.0.113.5"
    assert client_address(None) == "sconosciuto"
    assert [wait_text(s) for s in (0.2, 1, 1.5, 90, 91, 900)] == [
        "1 secondo",
        "1 secondo",
        "2 secondi",
        "90 secondi",
        "2 minuti",
        "15 minuti",
    ]


def test_behind_a_trusted_proxy_failures_count_per_forwarded_client() -> None:
    from types import SimpleNamespace

    from assistant.ui.auth_handlers import client_address

    def request(host: str, forwarded: str = "") -> SimpleNamespace:
        headers = {"x-forwarded-for": forwarded} if forwarded else {}
        return SimpleNamespace(client=SimpleNamespace(host=host), headers=headers)

    trusted = "172.30.80.0/24, 10.0.0.1"
    assert client_address(request("172.30.80.5", "203.0.113.9"), trusted) == "203.0.113.9"
    # A client cannot choose its address by sending its own header: the rightmost untrusted one counts.
    assert client_address(request("172.30.80.5", "1.2.3.4, 203.0.113.9, 10.0.0.1"), trusted) == "203.0.113.9"
    assert client_address(request("198.51.100.7", "1.2.3.4"), trusted) == "198.51.100.7"  # not from a proxy
    assert client_address(request("172.30.80.5", "1.2.3.4"), "") == "172.30.80.5"  # no proxy trusted
    assert client_address(SimpleNamespace(client=None), trusted) == "sconosciuto"
