"""Secret token files and the error every security setting raises.

Apart from `security` because the proxy credentials (`credentials`) read
token files too, and `security` holds those credentials: both sides need
these, neither may import the other.
"""

from __future__ import annotations

from pathlib import Path

from breakwater.controlplane import secret_files
from breakwater.controlplane.secret_files import SecretFileError


class SecurityError(Exception):
    """A security setting that cannot work; the message says how to fix it."""


MIN_TOKEN_LENGTH = 16
TOKEN_ADVICE = "for example: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"


def read_secret(path: Path, what: str) -> bytes:
    """A secret file (see `secret_files`), its refusal as a `SecurityError`."""
    try:
        return secret_files.read_secret(path, what)
    except SecretFileError as exc:
        raise SecurityError(str(exc)) from None


def load_token(path: Path) -> str:
    token = read_secret(path, "token file").decode("utf-8", errors="replace").strip()
    if len(token) < MIN_TOKEN_LENGTH:
        raise SecurityError(
            f"the token in {path} is {len(token)} characters long; use at least "
            f"{MIN_TOKEN_LENGTH} ({TOKEN_ADVICE})"
        )
    return token
