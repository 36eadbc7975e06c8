"""Dashboard sessions: who a browser is (a principal or anonymous) and its CSRF token.

A session is a random token in an HttpOnly, SameSite=Strict cookie; the server keeps the
principal it proved at login (never the secret). Every state-changing request must carry
the session's CSRF token in a header, which a page of another origin cannot read.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field

COOKIE = "mesospy_session"
CSRF_HEADER = "x-csrf-token"
SESSION_SECONDS = 12 * 3600.0
MAX_SESSIONS = 10_000
# Failed logins a principal may have in LOGIN_WINDOW seconds before logins are refused
# for the rest of the window (guessing secrets through the dashboard stays slow).
MAX_FAILED_LOGINS = 5
LOGIN_WINDOW = 60.0


@dataclass
class Session:
    token: str
    csrf: str
    principal: str | None = None  # None: anonymous
    via: str = ""
    # Kept in the server's memory only, to call the frameworks' APIs as this principal
    # (they authenticate their callers themselves); never sent to the browser.
    secret: str = field(default="", repr=False)
    expires: float = field(default_factory=lambda: time.monotonic() + SESSION_SECONDS)

    def csrf_ok(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(presented, self.csrf)


class Sessions:
    """Sessions by token, the oldest dropped past ``MAX_SESSIONS``."""

    def __init__(self, secure_cookie: bool = False) -> None:
        self._by_token: OrderedDict[str, Session] = OrderedDict()
        self.secure_cookie = secure_cookie

    def new(self, principal: str | None = None, via: str = "", secret: str = "") -> Session:
        session = Session(
            secrets.token_urlsafe(32), secrets.token_urlsafe(32), principal, via, secret
        )
        self._by_token[session.token] = session
        while len(self._by_token) > MAX_SESSIONS:
            self._by_token.popitem(last=False)
        return session

    def passing(self) -> Session:
        """An anonymous session for one request, not kept (its CSRF token matches nothing
        a browser was given)."""
        return Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32))

    def get(self, token: str | None) -> Session | None:
        if not token:
            return None
        session = self._by_token.get(token)
        if session is None:
            return None
        if session.expires < time.monotonic():
            del self._by_token[token]
            return None
        return session

    def end(self, session: Session) -> None:
        self._by_token.pop(session.token, None)

    def cookie(self, session: Session | None) -> str:
        """The Set-Cookie value that gives (or, for None, takes away) a session."""
        secure = "; Secure" if self.secure_cookie else ""
        if session is None:
            return f"{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"
        return (
            f"{COOKIE}={session.token}; Path=/; HttpOnly; SameSite=Strict; "
            f"Max-Age={int(SESSION_SECONDS)}{secure}"
        )


class LoginThrottle:
    """Counts failed logins per principal; refuses more once ``MAX_FAILED_LOGINS`` failed
    within ``LOGIN_WINDOW`` seconds. Pure: the caller passes the time."""

    def __init__(self) -> None:
        self._failures: dict[str, list[float]] = {}

    def _recent(self, principal: str, now: float) -> list[float]:
        recent = [t for t in self._failures.get(principal, ()) if now - t < LOGIN_WINDOW]
        if recent:
            self._failures[principal] = recent
        else:
            self._failures.pop(principal, None)
        return recent

    def blocked_for(self, principal: str, now: float) -> float:
        """Seconds until ``principal`` may try again (0: now)."""
        recent = self._recent(principal, now)
        if len(recent) < MAX_FAILED_LOGINS:
            return 0.0
        return LOGIN_WINDOW - (now - recent[0])

    def failed(self, principal: str, now: float) -> None:
        if len(self._failures) >= MAX_SESSIONS and principal not in self._failures:
            self._failures.clear()  # bounded: a flood of made-up names forgets them all
        self._failures.setdefault(principal, []).append(now)

    def succeeded(self, principal: str) -> None:
        self._failures.pop(principal, None)
