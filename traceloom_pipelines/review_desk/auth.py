"""Review desk users: who may review which tenants' failures — read from the environment.

003 §7.2 names "integration admins" as the desk's users. Each user has a password, of which the
configuration holds only a salted scrypt hash, and one or more tenants; a user sees and acts on
those tenants' items only (000 §1 "tenant-aware"). Configured by

* ``TRACELOOM_REVIEW_DESK_USERS`` = ``user:tenant[+tenant...]:scrypt$n$r$p$salt$hash,...``
  (salt and hash in unpadded URL-safe base64; make one with ``traceloom review-desk
  --hash-password``, which reads the password from standard input).

The browser sends the password with HTTP Basic authentication (``Authorization: Basic``): the
desk binds to the loopback interface by default, and anything else belongs behind a TLS proxy.
Verified passwords are remembered per process as an HMAC under a per-process key (scrypt costs
~50 ms and 16 MiB per check, and Basic sends the password with every request); neither
passwords nor hashes are ever logged or shown.

Forms carry a CSRF token (:func:`csrf_token`): an HMAC of the user under the per-process key,
so a page of another site cannot make the browser post an action with the stored credentials.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from traceloom_pipelines.landing.drops import FOLDER_NAME, is_folder_name, tenant_list

USERS_ENV = "TRACELOOM_REVIEW_DESK_USERS"
# scrypt cost: n = 2**14, r = 8, p = 1 (~16 MiB, tens of milliseconds; the interactive-login
# parameters of RFC 7914 §2 and OWASP's password storage guidance).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
_MAX_SCRYPT_N = 2**20
_VERIFIED_CACHE_SIZE = 256


@dataclass(frozen=True)
class DeskUser:
    """One integration admin.

    Attributes:
        name: login name (matches :data:`~traceloom_pipelines.landing.drops.FOLDER_NAME`);
            recorded as ``actor`` of every action.
        tenants: the tenant ids whose items the user sees and acts on.
        password_hash: ``scrypt$n$r$p$salt$hash`` (never the password).
    """

    name: str
    tenants: tuple[str, ...]
    password_hash: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """``scrypt$n$r$p$salt$hash`` of ``password`` (UTF-8) with a fresh 16-byte salt."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=32)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def _parse_hash(encoded: str) -> tuple[int, int, int, bytes, bytes]:
    """Raises ValueError (never echoing the value) when ``encoded`` is not a scrypt hash."""
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise ValueError("not a scrypt$n$r$p$salt$hash value")
    try:
        n, r, p = (int(x) for x in parts[1:4])
        salt, digest = _unb64(parts[4]), _unb64(parts[5])
    except (ValueError, binascii.Error):
        raise ValueError("not a scrypt$n$r$p$salt$hash value") from None
    if not (1 < n <= _MAX_SCRYPT_N and n & (n - 1) == 0 and 0 < r <= 32 and 0 < p <= 16):
        raise ValueError("scrypt parameters out of range")
    if len(salt) < 8 or len(digest) < 16:
        raise ValueError("scrypt salt or hash too short")
    return n, r, p, salt, digest


def verify_password(password: str, encoded: str) -> bool:
    """True when ``password`` matches the ``scrypt$...`` hash (constant-time comparison)."""
    n, r, p, salt, digest = _parse_hash(encoded)
    found = hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        dklen=len(digest),
        maxmem=256 * n * r + 1024 * 1024,
    )
    return hmac.compare_digest(found, digest)


def parse_users(spec: str) -> tuple[DeskUser, ...]:
    """Users from ``user:tenant[+tenant...]:scrypt$...`` entries separated by commas.

    Raises:
        ValueError: on a malformed entry or a name used twice (naming the entry's position or
            user, never its hash).
    """
    users: list[DeskUser] = []
    for position, entry in enumerate((e.strip() for e in spec.split(",")), start=1):
        if not entry:
            continue
        parts = entry.split(":")
        where = f"{USERS_ENV} entry {position}"
        if len(parts) != 3:
            raise ValueError(f"{where} must be user:tenant[+tenant...]:scrypt$n$r$p$salt$hash")
        name, tenant_spec, encoded = parts
        if not is_folder_name(name):
            raise ValueError(f"{where}: user name must match {FOLDER_NAME.pattern}")
        tenants = tenant_list(tenant_spec)
        if tenants is None:
            raise ValueError(f"{where}: tenants of {name!r} must match {FOLDER_NAME.pattern}")
        try:
            _parse_hash(encoded)
        except ValueError as error:
            raise ValueError(f"{where}: password hash of {name!r}: {error}") from None
        users.append(DeskUser(name, tenants, encoded))
    names = [u.name for u in users]
    if len(set(names)) != len(names):
        raise ValueError(f"{USERS_ENV}: a user name appears twice")
    return tuple(users)


def load_users(environ: Mapping[str, str] | None = None) -> tuple[DeskUser, ...]:
    """Every configured user (``$TRACELOOM_REVIEW_DESK_USERS``).

    Raises:
        ValueError: if no user is configured or an entry is malformed.
    """
    environ = os.environ if environ is None else environ
    users = parse_users(environ.get(USERS_ENV, ""))
    if not users:
        raise ValueError(
            f"no review desk user configured: set {USERS_ENV} "
            "(see traceloom_pipelines/review_desk/auth.py)"
        )
    return users


def basic_credentials(headers: Mapping[str, str]) -> tuple[str, str] | None:
    """``(user, password)`` of an ``Authorization: Basic`` header, or None."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic" or not token.strip():
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, colon, password = decoded.partition(":")
    return (user, password) if colon else None


class Authenticator:
    """Checks Basic credentials against the users and makes and checks CSRF tokens.

    Holds a per-process random key: verified credentials are remembered (as HMACs under it)
    so scrypt runs once per user and password per process, and CSRF tokens die with it.
    """

    def __init__(self, users: tuple[DeskUser, ...]) -> None:
        self.users = {u.name: u for u in users}
        self._key = secrets.token_bytes(32)
        self._verified: dict[bytes, str] = {}
        # A user who does not exist still costs one scrypt, so timing does not reveal names.
        self._decoy = hash_password(secrets.token_urlsafe(16))

    def _mac(self, *parts: str) -> bytes:
        return hmac.new(self._key, "\0".join(parts).encode("utf-8"), hashlib.sha256).digest()

    def authenticate(self, headers: Mapping[str, str]) -> DeskUser | None:
        """The user whose name and password the request presents, or None."""
        credentials = basic_credentials(headers)
        if credentials is None:
            return None
        name, password = credentials
        mark = self._mac("login", name, password)
        if mark in self._verified:
            return self.users.get(self._verified[mark])
        user = self.users.get(name)
        ok = verify_password(password, user.password_hash if user else self._decoy)
        if user is None or not ok:
            return None
        if len(self._verified) >= _VERIFIED_CACHE_SIZE:
            self._verified.clear()
        self._verified[mark] = user.name
        return user

    def csrf_token(self, user: DeskUser) -> str:
        """The token the user's forms carry (hex HMAC of the user name)."""
        return self._mac("csrf", user.name).hex()

    def csrf_ok(self, user: DeskUser, token: str | None) -> bool:
        """True when ``token`` is the user's CSRF token."""
        return token is not None and hmac.compare_digest(self.csrf_token(user), token)
