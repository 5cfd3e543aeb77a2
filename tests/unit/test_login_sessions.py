"""Login sessions kept on the server (lms/accounts/sessions.py), without HTTP."""

from datetime import timedelta

import pytest
from sqlalchemy import bindparam, select

from lms.accounts import services, sessions
from lms.accounts.models import User, UserSession
from lms.core import clock
from tests.conftest import TEST_PASSWORD


@pytest.mark.parametrize("value, expected", [
    ("42.3.901", sessions.LoginId(42, 3, 901)),
    ("1.0.1", sessions.LoginId(1, 0, 1)),
])
def test_login_ids_round_trip(value, expected):
    assert sessions.parse_login_id(value) == expected
    assert str(expected) == value


@pytest.mark.parametrize("value", [None, "", "42", "42.3", "42.3.", "42..901", "a.3.901", "42.3.901.1",
                                   "-1.3.901", "42.3.9x", " 42.3.901", "42.3.901\n", "４２.3.901", "1" * 19 + ".0.1"])
def test_anything_else_is_no_login_id(value):
    assert sessions.parse_login_id(value) is None


@pytest.mark.parametrize("agent, device", [
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0", "Firefox 128 · Windows"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 "
     "Safari/537.36 Edg/126.0.0.0", "Edge 126 · Windows"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.5 Mobile/15E148 Safari/604.1", "Safari 17 · iPhone"),
    ("Mozilla/5.0 (Linux; Android 14; V2309A) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/116.0.0.0 "
     "Mobile Safari/537.36 MicroMessenger/8.0.49.2600", "微信 8 · Android"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 "
     "Safari/605.1.15", "Safari 17 · macOS"),
    ("curl/8.5.0", "未知设备"),
    ("", "未知设备"),
    (None, "未知设备"),
])
def test_devices_are_summarized(agent, device):
    assert sessions.describe_device(agent) == device


def test_a_session_signs_in_until_it_is_ended(app, db_session, make_user):
    user = make_user()
    with app.test_request_context():
        login_session = sessions.start_session(user, remember=False, user_agent="")
        login_id = user.get_id()
        assert sessions.parse_login_id(login_id) == sessions.LoginId(user.id, user.login_epoch, login_session.id)
        assert sessions.signed_in_user(login_id) is user
        sessions.end_session(login_session)
        assert sessions.signed_in_user(login_id) is None


def test_a_user_id_without_a_session_is_refused(app, db_session, make_user):
    user = make_user()
    with app.test_request_context():
        assert sessions.signed_in_user(f"{user.id}.{user.login_epoch}") is None  # a cookie from before
        with pytest.raises(RuntimeError):
            user.get_id()  # login_user() without a session would write a cookie that never works


def test_a_session_of_another_user_is_refused(app, db_session, make_user):
    alice, bob = make_user(), make_user()
    with app.test_request_context():
        bobs = sessions.start_session(bob, remember=False, user_agent="")
        assert sessions.signed_in_user(str(sessions.LoginId(alice.id, alice.login_epoch, bobs.id))) is None


def test_sessions_expire_after_their_lifetime(app, db_session, make_user):
    user = make_user()
    with app.test_request_context():
        short = sessions.start_session(user, remember=False, user_agent="")
        remembered = sessions.start_session(user, remember=True, user_agent="")
        assert remembered.expires_at - remembered.created_at == timedelta(days=30)
        assert short.expires_at - short.created_at == timedelta(hours=app.config["LMS_SESSION_HOURS"])
        ids = {s.id: str(sessions.LoginId(user.id, user.login_epoch, s.id)) for s in (short, remembered)}
        with clock.freeze(clock.now() + timedelta(hours=app.config["LMS_SESSION_HOURS"], minutes=1)):
            assert sessions.signed_in_user(ids[short.id]) is None
            assert sessions.signed_in_user(ids[remembered.id]) is user
        with clock.freeze(clock.now() + timedelta(days=30, minutes=1)):
            assert sessions.signed_in_user(ids[remembered.id]) is None


def test_a_password_change_ends_the_other_sessions_and_keeps_this_one(app, db_session, make_user):
    user = make_user()
    with app.test_request_context():
        other = sessions.start_session(user, remember=True, user_agent="")
        this = sessions.start_session(user, remember=False, user_agent="")
        services.change_password(user, TEST_PASSWORD, "NewPass2026x")
        assert other.revoked_at is not None and this.revoked_at is None
        assert [s.id for s in sessions.live_sessions(user)] == [this.id]
        assert sessions.signed_in_user(str(sessions.LoginId(user.id, user.login_epoch, this.id))) is user
        assert sessions.signed_in_user(str(sessions.LoginId(user.id, user.login_epoch - 1, this.id))) is None


def test_log_out_everywhere_ends_every_session_and_is_audited(app, db_session, make_user):
    from lms.core.audit import AuditEvent

    user, bystander = make_user(), make_user()
    with app.test_request_context():
        for _ in range(3):
            sessions.start_session(user, remember=False, user_agent="")
        theirs = sessions.start_session(bystander, remember=False, user_agent="")
        assert sessions.log_out_everywhere(user) == 3
        assert sessions.live_sessions(user) == [] and sessions.live_sessions(bystander) == [theirs]
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "user.sessions_ended"))
    assert event.actor_id == user.id and event.detail == {"sessions": 3}


def test_ended_sessions_are_deleted_a_month_later_at_the_next_sign_in(app, db_session, make_user):
    user = make_user()
    with app.test_request_context():
        old = sessions.start_session(user, remember=False, user_agent="")
        sessions.end_session(old)
        old_id = old.id
        with clock.freeze(clock.now() + timedelta(days=31)):
            sessions.start_session(user, remember=False, user_agent="")
        db_session.expire_all()
        assert db_session.get(UserSession, old_id) is None


def test_live_session_clause_checks_what_the_user_loader_checks(app, db_session, make_user):
    """The heartbeat's check, in a query that does not load the user."""
    user, other = make_user(), make_user()
    users = User.__table__
    query = (select(sessions.live_session_clause(bindparam("sid"), users.c.id, bindparam("now")))
             .where(users.c.id == bindparam("uid")))
    with app.test_request_context():
        live = sessions.start_session(user, remember=False, user_agent="")
        ended = sessions.start_session(user, remember=False, user_agent="")
        sessions.end_session(ended)

        def check(sid, uid=user.id, now=None):
            return db_session.execute(query, {"sid": sid, "uid": uid, "now": now or clock.utcnow_naive()}).scalar()

        assert check(live.id) is True
        assert check(ended.id) is False
        assert check(live.id, uid=other.id) is False
        assert check(live.id, now=live.expires_at) is False
        assert check(10**9) is False
