"""Principals and secrets: what clients send, and the master's credentials file.

A client authenticates each call with two metadata entries, ``x-mesospy-principal`` and
``x-mesospy-secret`` (over TLS they travel encrypted). The master checks them against a
credentials file, in one of two forms (Mesos's two formats):

    {"credentials": [{"principal": "batch", "secret": "s3cret"}, ...]}

or one ``principal secret`` pair per line (``#`` starts a comment).
"""

from __future__ import annotations

import hmac
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

PRINCIPAL_KEY = "x-mesospy-principal"
SECRET_KEY = "x-mesospy-secret"
PRINCIPAL_ENV = "MESOSPY_PRINCIPAL"
SECRET_ENV = "MESOSPY_SECRET"
MAX_PRINCIPAL_LENGTH = 256


class CredentialsError(ValueError):
    """A credentials file or value cannot be used (the message says where and why)."""


def check_principal(principal: str) -> None:
    if not principal or len(principal) > MAX_PRINCIPAL_LENGTH:
        raise CredentialsError(f"a principal has 1 to {MAX_PRINCIPAL_LENGTH} characters")
    if any(c.isspace() or not c.isprintable() for c in principal):
        raise CredentialsError(f"principal {principal!r} holds spaces or control characters")


@dataclass(frozen=True)
class Credential:
    """A principal and its secret, as a client presents them."""

    principal: str
    secret: str = field(repr=False)

    def __post_init__(self) -> None:
        check_principal(self.principal)

    def metadata(self) -> tuple[tuple[str, str], ...]:
        return ((PRINCIPAL_KEY, self.principal), (SECRET_KEY, self.secret))

    @classmethod
    def from_values(cls, principal: str | None, secret: str | None) -> Credential | None:
        """None when no principal is given; a principal without a secret has an empty one."""
        if not principal:
            if secret:
                raise CredentialsError("a secret was given without a principal")
            return None
        return cls(principal, secret or "")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Credential | None:
        """From $MESOSPY_PRINCIPAL and $MESOSPY_SECRET."""
        env = os.environ if env is None else env
        return cls.from_values(env.get(PRINCIPAL_ENV), env.get(SECRET_ENV))


@dataclass(frozen=True)
class CredentialStore:
    """The principals the master knows, with their secrets."""

    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)

    def verify(self, principal: str, secret: str) -> bool:
        """True when ``secret`` is the principal's; constant-time in the secret."""
        expected = self.secrets.get(principal)
        # Compare against something even for an unknown principal, so timing does not
        # tell which principals exist.
        ok = hmac.compare_digest(
            (expected if expected is not None else "\0unknown").encode(), secret.encode()
        )
        return ok and expected is not None

    def __contains__(self, principal: object) -> bool:
        return principal in self.secrets


def parse_credentials(text: str, source: str = "credentials") -> CredentialStore:
    """Parse either format (see the module docstring)."""
    secrets: dict[str, str] = {}

    def add(principal: object, secret: object, where: str) -> None:
        if not isinstance(principal, str) or not isinstance(secret, str):
            raise CredentialsError(f"{source}: {where}: principal and secret must be strings")
        try:
            check_principal(principal)
        except CredentialsError as exc:
            raise CredentialsError(f"{source}: {where}: {exc}") from None
        if not secret:
            raise CredentialsError(f"{source}: {where}: principal {principal!r} has no secret")
        if principal in secrets:
            raise CredentialsError(f"{source}: {where}: principal {principal!r} is given twice")
        secrets[principal] = secret

    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CredentialsError(f"{source}: not valid JSON: {exc}") from None
        entries = data.get("credentials") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise CredentialsError(f'{source}: expected {{"credentials": [...]}}')
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise CredentialsError(f"{source}: credentials[{index}] is not an object")
            add(entry.get("principal"), entry.get("secret"), f"credentials[{index}]")
    else:
        for number, line in enumerate(text.splitlines(), 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            if len(parts) != 2:
                raise CredentialsError(
                    f"{source}: line {number}: expected 'principal secret', got {len(parts)} words"
                )
            add(parts[0], parts[1], f"line {number}")
    return CredentialStore(secrets)


def load_credentials(path: Path) -> CredentialStore:
    try:
        text = path.read_text()
    except OSError as exc:
        raise CredentialsError(
            f"cannot read credentials file {str(path)!r}: {exc.strerror}"
        ) from exc
    return parse_credentials(text, str(path))
