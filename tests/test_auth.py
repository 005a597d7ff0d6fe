"""Trainer logins: PBKDF2 hashes, the LC_TRAINER_USERS format, the trainer guard, `assistant trainer hash`."""

from __future__ import annotations

import argparse
import hashlib
import io
import re

import pytest

from assistant.auth import (
    AuthError,
    Trainers,
    hash_password,
    login,
    parse_trainer_users,
    require_trainer,
    verify_password,
    verify_trainer,
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
