"""Bearer tokens of the registry server: parsing token files and checking request scopes.

A token has scope ``read`` (every GET route) or ``write`` (also registration, unregister and
clear). Imports only ``errors`` and ``settings``; FastAPI wiring lives in ``server.app``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal

from registry import settings
from registry.errors import PermissionDeniedError, ValidationError

__all__ = [
    "Scope",
    "TokenTable",
    "load_tokens",
    "parse_token_lines",
    "session_value",
]

Scope = Literal["read", "write"]

_SCOPE_ALIASES: dict[str, Scope] = {
    "read": "read",
    "ro": "read",
    "read-only": "read",
    "readonly": "read",
    "write": "write",
    "rw": "write",
    "read-write": "write",
    "readwrite": "write",
}

#: Shortest token accepted: a short token can be guessed by anyone who can reach the port.
MIN_TOKEN_LENGTH = 16


def parse_token_lines(lines: Iterable[str], source: str) -> dict[str, Scope]:
    """Parse ``token:scope`` lines (blank lines and ``#`` comments skipped).

    Raises:
        ValidationError: a line has no known scope or the token is too short.
    """
    tokens: dict[str, Scope] = {}
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        token, _, scope_name = line.rpartition(":")
        scope = _SCOPE_ALIASES.get(scope_name.strip().lower())
        token = token.strip()
        if scope is None or not token:
            raise ValidationError(
                f"Line {number} of {source} is not 'token:scope' with scope read or write",
                suggestions=["Write one 'token:read' or 'token:write' per line"],
                context={"source": source, "line": number},
            )
        if len(token) < MIN_TOKEN_LENGTH:
            raise ValidationError(
                f"Token on line {number} of {source} is shorter than {MIN_TOKEN_LENGTH} characters",
                suggestions=[
                    'Generate one with: python -c "import secrets; print(secrets.token_urlsafe(32))"'
                ],
                context={"source": source, "line": number},
            )
        tokens[token] = scope
    return tokens


def load_tokens(token_file: str | os.PathLike[str] | None = None) -> dict[str, Scope]:
    """Return the tokens from ``token_file`` and the ``REGISTRY_SERVER_TOKENS`` variable."""
    tokens: dict[str, Scope] = {}
    if token_file is not None:
        path = Path(token_file)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValidationError(
                f"Cannot read token file {str(path)!r}: {exc.strerror or exc}",
                context={"path": str(path)},
            ) from exc
        tokens.update(parse_token_lines(text.splitlines(), str(path)))
    from_env = settings.server_tokens()
    if from_env is not None:
        tokens.update(
            parse_token_lines(from_env.replace(",", "\n").splitlines(), settings.SERVER_TOKENS_ENV)
        )
    return tokens


def session_value(token: str) -> str:
    """Return the web page's session cookie for ``token``: derived from it, so any worker that
    knows the token can check the cookie, yet the cookie cannot be used as a bearer token."""
    return hmac.new(token.encode(), b"registry web page session v1", hashlib.sha256).hexdigest()


class TokenTable:
    """Checks the tokens of ``Authorization: Bearer`` headers against the configured ones.

    With no tokens configured every request is allowed (loopback development servers).
    """

    def __init__(self, tokens: Mapping[str, Scope] | None = None) -> None:
        self._tokens: list[tuple[bytes, Scope]] = [
            (token.encode(), scope) for token, scope in (tokens or {}).items()
        ]
        self._sessions: list[bytes] = [session_value(token).encode() for token in tokens or {}]

    @property
    def is_enabled(self) -> bool:
        return bool(self._tokens)

    def check(self, token: str | None, needed: Scope) -> None:
        """Return if the bearer ``token`` grants ``needed``; raise otherwise.

        Raises:
            PermissionDeniedError: with ``context["status"]`` 401 (no or unknown token) or 403
                (a read-only token used for a write).
        """
        if not self._tokens:
            return
        scope = self.scope_of(token)
        if scope is None:
            raise PermissionDeniedError(
                "Missing or unknown bearer token",
                suggestions=["Set REGISTRY_TOKEN to a token the server accepts"],
                context={"status": 401},
            )
        if needed == "write" and scope != "write":
            raise PermissionDeniedError(
                "This token is read-only; writing needs a read-write token",
                suggestions=["Ask the server administrator for a token with scope 'write'"],
                context={"status": 403},
            )

    def has_session(self, cookie: str | None) -> bool:
        """Return whether ``cookie`` is the session value of a configured token."""
        if not cookie:
            return False
        candidate = cookie.encode()
        found = False
        for known in self._sessions:  # constant time, as for tokens
            found |= hmac.compare_digest(known, candidate)
        return found

    def scope_of(self, token: str | None) -> Scope | None:
        """Return the scope of a bearer ``token``, or ``None`` when it is not configured."""
        if not token:
            return None
        candidate = token.strip().encode()
        found: Scope | None = None
        # Compare against every token in constant time so timing does not reveal a prefix.
        for known, scope in self._tokens:
            if hmac.compare_digest(known, candidate):
                found = scope
        return found
