"""Dashboard sessions and the failed-login throttle (pure)."""

from __future__ import annotations

from mesospy.webui.sessions import LOGIN_WINDOW, MAX_FAILED_LOGINS, LoginThrottle, Sessions


def test_failed_logins_block_a_principal_for_the_rest_of_the_window() -> None:
    throttle = LoginThrottle()
    for i in range(MAX_FAILED_LOGINS):
        assert throttle.blocked_for("p", 100.0 + i) == 0.0
        throttle.failed("p", 100.0 + i)
    assert throttle.blocked_for("p", 110.0) == LOGIN_WINDOW - 10.0
    assert throttle.blocked_for("other", 110.0) == 0.0
    assert throttle.blocked_for("p", 100.0 + LOGIN_WINDOW + 1) == 0.0  # the first one aged out


def test_a_success_clears_the_failures() -> None:
    throttle = LoginThrottle()
    for _ in range(MAX_FAILED_LOGINS - 1):
        throttle.failed("p", 1.0)
    throttle.succeeded("p")
    throttle.failed("p", 2.0)
    assert throttle.blocked_for("p", 2.0) == 0.0


def test_sessions_and_their_cookies() -> None:
    sessions = Sessions(secure_cookie=True)
    session = sessions.new("operator", "secret")
    assert sessions.get(session.token) is session
    assert (
        session.csrf_ok(session.csrf)
        and not session.csrf_ok("forged")
        and not session.csrf_ok(None)
    )
    cookie = sessions.cookie(session)
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" in cookie
    sessions.end(session)
    assert sessions.get(session.token) is None
    assert "Max-Age=0" in sessions.cookie(None)
