"""Review desk users from the environment: the hash the CLI makes verifies, malformed entries are
refused without echoing their hash, and the desk does not start without users."""

import base64
import io

import pytest

from traceloom_pipelines.cli import main
from traceloom_pipelines.review_desk.auth import (
    USERS_ENV,
    Authenticator,
    load_users,
    parse_users,
    verify_password,
)


def _basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"authorization": f"Basic {token}"}


def test_the_cli_hash_verifies_and_signs_the_user_in(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse ü\n"))
    assert main(["review-desk", "--hash-password"]) == 0
    encoded = capsys.readouterr().out.strip()
    assert encoded.startswith("scrypt$16384$8$1$") and "correct" not in encoded
    assert verify_password("correct horse ü", encoded)
    assert not verify_password("correct horse u", encoded)
    users = parse_users(f"ada:acme-apparel+blue-fabrics:{encoded}")
    assert users[0].tenants == ("acme-apparel", "blue-fabrics")
    auth = Authenticator(users)
    for _ in range(2):  # the second time from the per-process memory of verified logins
        assert auth.authenticate(_basic("ada", "correct horse ü")) == users[0]
    assert auth.authenticate(_basic("ada", "wrong")) is None
    assert auth.authenticate(_basic("eve", "correct horse ü")) is None
    assert auth.authenticate({"authorization": "Bearer x"}) is None
    assert auth.csrf_ok(users[0], auth.csrf_token(users[0]))
    assert not auth.csrf_ok(users[0], "0" * 64) and not auth.csrf_ok(users[0], None)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("ada:acme:plaintext-password", "not a scrypt"),
        ("ada:acme", "user:tenant"),
        ("a da:acme:scrypt$16384$8$1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "user name"),
        ("ada:acme/..:scrypt$16384$8$1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "tenants"),
        ("ada:acme:scrypt$3$8$1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "out of range"),
    ],
)
def test_malformed_users_are_refused_without_echoing_the_hash(spec, message):
    with pytest.raises(ValueError, match=message) as error:
        parse_users(spec)
    assert "plaintext-password" not in str(error.value) and "c2Fsd" not in str(error.value)


def test_the_desk_does_not_start_without_users(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(USERS_ENV, raising=False)
    with pytest.raises(ValueError, match=USERS_ENV):
        load_users()
    assert main(["--data-dir", str(tmp_path / "data"), "review-desk", "--port", "1"]) == 2
    assert USERS_ENV in capsys.readouterr().err
