"""The login throttle (lms/accounts/throttle.py) without HTTP: the delay rule and its counters."""

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from lms.accounts import throttle
from lms.accounts.models import LoginFailure
from lms.core import clock
from tests.conftest import TEST_PASSWORD

WRONG = "Wrong12345"


def test_the_delay_rule_worked_example():
    assert [throttle.delay_after(n, free=5, base=30, cap=900) for n in range(12)] == \
        [0, 0, 0, 0, 0, 30, 60, 120, 240, 480, 900, 900]


@given(n=st.integers(0, 10_000), free=st.integers(0, 50), base=st.integers(1, 600), cap=st.integers(1, 86_400))
def test_the_delay_never_shrinks_and_never_passes_the_cap(n, free, base, cap):
    now, then = (throttle.delay_after(k, free=free, base=base, cap=cap) for k in (n, n + 1))
    assert 0 <= now <= then <= max(cap, 0)
    assert (now == 0) == (n < free)


def _attempt(login, password, source="10.9.0.1", device_cookie=None):
    return throttle.attempt_login(login, password, source=source, device_cookie=device_cookie)


def test_only_failures_are_recorded(app, db_session, make_user):
    user = make_user()
    with app.test_request_context():
        for _ in range(8):
            assert _attempt(user.mobile, TEST_PASSWORD).user is user
        assert _attempt(user.mobile, WRONG).user is None
        assert _attempt("13000000000", TEST_PASSWORD).user is None  # names no account
    rows = db_session.execute(select(LoginFailure.user_id, LoginFailure.source)).all()
    assert sorted(rows, key=str) == sorted([(user.id, "10.9.0.1"), (None, "10.9.0.1")], key=str)


def test_a_waiting_attempt_does_not_check_the_password_or_count(app, db_session, make_user):
    user = make_user()
    with app.test_request_context():
        for _ in range(5):
            _attempt(user.mobile, WRONG)
        outcome = _attempt(user.mobile, TEST_PASSWORD)
        assert outcome.user is None and outcome.wait_seconds == 30
        assert _attempt(user.mobile, WRONG).wait_seconds == 30  # a refused guess adds nothing
    assert db_session.scalar(select(func.count(LoginFailure.id))) == 5


def test_a_successful_login_starts_the_count_again(app, db_session, make_user):
    user = make_user()
    with app.test_request_context():
        for _ in range(4):
            _attempt(user.mobile, WRONG)
        first = _attempt(user.mobile, TEST_PASSWORD)
        assert first.user is user and first.failures_since_last_login == 4
        for _ in range(4):
            assert _attempt(user.mobile, WRONG).next_wait_seconds == 0
        assert _attempt(user.mobile, TEST_PASSWORD).failures_since_last_login == 4


def test_failures_older_than_the_window_no_longer_count(app, db_session, make_user):
    user = make_user()
    with app.test_request_context():
        for _ in range(5):
            _attempt(user.mobile, WRONG)
        hours = app.config["LMS_LOGIN_FAILURE_WINDOW_HOURS"]
        with clock.freeze(clock.now() + timedelta(hours=hours, minutes=1)):
            assert _attempt(user.mobile, WRONG, source="10.9.0.2").next_wait_seconds == 0


def test_known_browser_cookies_cannot_be_forged_or_borrowed(app, db_session, make_user):
    alice, bob = make_user(), make_user()
    with app.test_request_context():
        cookie, device = throttle.known_device_token(alice)
        assert throttle.device_for(cookie) == (alice.id, device)
        assert throttle.device_for(cookie[:-2] + ("A" if cookie[-2] != "A" else "B") + cookie[-1]) is None
        assert throttle.device_for("") is None and throttle.device_for(None) is None
        for _ in range(5):  # strangers used up alice's budget
            _attempt(alice.mobile, WRONG, source="10.9.1.1")
        assert _attempt(alice.mobile, TEST_PASSWORD, source="10.9.1.2", device_cookie=cookie).user is alice
        # alice's cookie does not help on bob's account
        for _ in range(5):
            _attempt(bob.mobile, WRONG, source="10.9.1.3")
        assert _attempt(bob.mobile, TEST_PASSWORD, source="10.9.1.4", device_cookie=cookie).wait_seconds > 0


def test_known_browser_cookies_expire(app, db_session, make_user, monkeypatch):
    import time

    from itsdangerous.timed import TimestampSigner

    user = make_user()
    days = app.config["LMS_KNOWN_DEVICE_DAYS"]
    with app.test_request_context():
        with monkeypatch.context() as m:  # a cookie signed days + 1 ago
            m.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) - (days + 1) * 86400)
            old, _device = throttle.known_device_token(user)
        assert throttle.device_for(old) is None
        assert throttle.device_for(throttle.known_device_token(user)[0]) is not None


def test_rows_older_than_30_days_are_deleted(app, db_session, make_user):
    user = make_user()
    with app.test_request_context():
        _attempt(user.mobile, WRONG)
        with clock.freeze(clock.now() + timedelta(days=31)):
            _attempt(user.mobile, WRONG)
    assert db_session.scalar(select(func.count(LoginFailure.id))) == 1
