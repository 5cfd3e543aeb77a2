"""找回密码 and contact verification (lms/accounts/recovery.py), against the real services and database.

The rule, as a state machine over two accounts, client addresses, mail links, text codes, codes
typed for the wrong account, an operator's sends to shared addresses and the clock: a code or link
resets at most once, only its own account, only before it expires, and the limits per account, per
address and per client address hold however the requests are interleaved. Then each bad input on
its own: expired, used, tampered and foreign codes say what happened and change nothing.
"""

import itertools
import logging
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import func, select, text
from werkzeug.security import check_password_hash

from lms.accounts import recovery, sessions, throttle
from lms.accounts.models import LoginFailure, RecoveryCode, Role
from lms.config import settle_config
from lms.core.audit import AuditEvent
from lms.core.clock import freeze
from lms.core.errors import Conflict, InvalidInput, NotAllowed
from lms.extensions import db
from lms.outbox.models import OutboxMessage
from tests.conftest import TEST_PASSWORD, id_number
from tests.recovery_helpers import LIMITS, enable_recovery, last_secret, queued, secret_in

pytestmark = pytest.mark.usefixtures("ctx")

T0 = datetime(2026, 3, 2, 1, 0)
SOURCE = "203.0.113.7"
NEW = "NewStudy2026a"


@pytest.fixture(autouse=True)
def on(app, monkeypatch):
    enable_recovery(app, monkeypatch)


def _resets(user) -> int:
    return db.session.scalar(select(func.count(AuditEvent.id)).where(
        AuditEvent.action == "user.password_reset_by_code", AuditEvent.target_id == str(user.id)))


# ----------------------------------------------------------------------------- the state machine

_people = itertools.count(1)


class Recovery(RuleBasedStateMachine):
    """Two accounts (0, 1) and a login naming nobody (2); two client addresses; a pool of addresses
    an operator may type for either account. The model predicts every outcome."""

    make_user = None
    admin = None
    example = itertools.count(1)

    def __init__(self):
        super().__init__()
        n = next(type(self).example)
        self.now = T0 + timedelta(days=10 * n)  # earlier examples' rows are outside every window
        self.people = []
        for _ in range(2):
            self.people.append(type(self).make_user(email=f"p{next(_people)}@example.org"))
        self.logins = [self.people[0].mobile, self.people[1].email, f"135{n:08d}"]
        self.shared = [f"shared{n}@example.org", f"shared{n}b@example.org", f"134{n:08d}"]
        self.codes = []  # dicts: owner, channel, secret, at, expires, used, attempts, destination
        self.requests = {SOURCE: [], "198.51.100.9": []}
        self.resets = [0, 0]
        self.passwords = [TEST_PASSWORD, TEST_PASSWORD]

    # -- the model
    def _window(self, times):
        since = self.now - timedelta(minutes=LIMITS["LMS_RECOVERY_WINDOW_MINUTES"])
        return sum(1 for t in times if t > since)

    def _live(self, code) -> bool:
        return (not code["used"] and code["expires"] > self.now
                and code["attempts"] < LIMITS["LMS_RECOVERY_CODE_ATTEMPTS"])

    def _may_send(self, owner: int, destination: str, *, per_account: bool) -> bool:
        limit = LIMITS["LMS_RECOVERY_PER_ACCOUNT"]
        if self._window([c["at"] for c in self.codes if c["destination"] == destination]) >= limit:
            return False
        return not per_account or self._window([c["at"] for c in self.codes if c["owner"] == owner]) < limit

    def _issued(self, owner, channel, destination):
        minutes = LIMITS["LMS_RESET_LINK_MINUTES"] if channel == "mail" else LIMITS["LMS_RESET_CODE_MINUTES"]
        self.codes.append({"owner": owner, "channel": channel, "secret": last_secret(channel), "at": self.now,
                           "expires": self.now + timedelta(minutes=minutes), "used": False, "attempts": 0,
                           "destination": destination})

    def _reset_done(self, owner, code, password):
        code["used"] = True
        for other in self.codes:
            if other["owner"] == owner:
                other["used"] = True
        self.resets[owner] += 1
        self.passwords[owner] = password

    # -- the rules
    @rule(who=st.integers(0, 2), channel=st.sampled_from(["mail", "sms"]), source=st.sampled_from([0, 1]))
    def request(self, who, channel, source):
        address = list(self.requests)[source]
        with freeze(self.now):
            outcome = recovery.request_reset(self.logins[who], channel, source=address)
        if self._window(self.requests[address]) >= LIMITS["LMS_RECOVERY_PER_SOURCE"]:
            assert outcome.wait_minutes and not outcome.sent
            return
        self.requests[address].append(self.now)
        assert not outcome.wait_minutes
        if who == 2:
            assert not outcome.sent
            return
        person = self.people[who]
        destination = person.email if channel == "mail" else person.mobile
        expected = self._may_send(who, destination, per_account=True)
        assert outcome.sent == expected
        if expected:
            self._issued(who, channel, destination)

    @rule(who=st.integers(0, 1), pick=st.integers(0, 2))
    def operator_sends(self, who, pick):
        destination = self.shared[pick]
        expected = self._may_send(who, destination, per_account=False)
        with freeze(self.now):
            if expected:
                recovery.send_reset_to_address(type(self).admin, self.people[who], destination)
            else:
                with pytest.raises(Conflict):
                    recovery.send_reset_to_address(type(self).admin, self.people[who], destination)
        if expected:
            self._issued(who, "mail" if "@" in destination else "sms", destination)

    @rule(data=st.data(), account=st.integers(0, 2))
    def use(self, data, account):
        if not self.codes:
            return
        code = data.draw(st.sampled_from(self.codes))
        password = f"{NEW}{next(_people)}"
        with freeze(self.now):
            if code["channel"] == "mail":  # a link names its account itself
                try:
                    recovery.reset_with_link(code["secret"], password)
                    done = True
                except InvalidInput:
                    done = False
                assert done == (not code["used"] and code["expires"] > self.now)
                if done:
                    self._reset_done(code["owner"], code, password)
                return
            outcome = recovery.reset_with_code(self.logins[account], code["secret"], password)
        self._typed(account, code["secret"], outcome, password)

    @rule(account=st.integers(0, 2), digits=st.integers(0, 999_999))
    def guess(self, account, digits):
        typed, password = f"{digits:06d}", f"{NEW}{next(_people)}"
        with freeze(self.now):
            outcome = recovery.reset_with_code(self.logins[account], typed, password)
        self._typed(account, typed, outcome, password)

    def _typed(self, target, typed, outcome, password):
        mine = [c for c in self.codes if target < 2 and c["owner"] == target and c["channel"] == "sms"]
        match = next((c for c in reversed(mine) if c["secret"] == typed), None)
        if match is not None and self._live(match):
            assert outcome.user is not None and outcome.user.id == self.people[target].id
            self._reset_done(target, match, password)
            return
        assert outcome.user is None and outcome.error
        if match is None:  # a wrong code counts against every live code of the account
            for c in mine:
                if self._live(c):
                    c["attempts"] += 1

    @rule(minutes=st.sampled_from([1, 4, 9, 11, 29, 31, 61]))
    def wait(self, minutes):
        self.now += timedelta(minutes=minutes)

    # -- what must hold
    @invariant()
    def resets_only_as_the_model_allows(self):
        for k, person in enumerate(self.people):
            assert _resets(person) == self.resets[k]
            assert check_password_hash(person.password_hash, self.passwords[k])
        events = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "user.password_reset_by_code",
            AuditEvent.target_id.in_([str(p.id) for p in self.people]))).all()
        code_ids = [event.detail["code_id"] for event in events]
        assert len(set(code_ids)) == len(code_ids)  # no code reset twice
        used = db.session.scalars(select(RecoveryCode.id).where(RecoveryCode.id.in_(code_ids),
                                                                RecoveryCode.used_at.is_not(None))).all()
        assert sorted(used) == sorted(code_ids)


def test_a_code_resets_once_its_own_account_before_expiry_and_limits_hold(app, db_session, make_user):
    Recovery.make_user = make_user
    Recovery.admin = make_user(roles=(Role.ADMIN,), real_name="管理员")
    run_state_machine_as_test(Recovery, settings=settings(
        max_examples=40, stateful_step_count=30, deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]))


# ----------------------------------------------------------------------------- the pieces

@pytest.fixture
def person(make_user):
    return make_user(email="zhang@example.org")


def test_only_keyed_hashes_are_stored_and_the_waiting_message_is_sealed(db_session, person):
    with freeze(T0):
        recovery.request_reset(person.mobile, "sms", source=SOURCE)
        code = last_secret("sms")
        recovery.request_reset(person.email, "mail", source=SOURCE)
        token = last_secret("mail")
    db_session.flush()
    for table in ("recovery_code", "outbox_message", "audit_event"):
        dump = " ".join(str(row) for row in db_session.execute(text(f"SELECT * FROM {table}")))
        assert code not in dump and token not in dump and token.split(".")[-1] not in dump, table
    row = db_session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == person.id)
                             .order_by(RecoveryCode.id)).first()  # the text message's, made first
    assert len(row.secret_hash) == 64 and row.destination_masked == f"{person.mobile[:3]}****{person.mobile[-4:]}"


def test_the_answer_is_the_same_whether_or_not_the_account_exists(db_session, person):
    with freeze(T0):
        known = recovery.request_reset(person.mobile, "sms", source=SOURCE)
        unknown = recovery.request_reset("13500000999", "sms", source=SOURCE)
        no_mail = recovery.request_reset("13500000998", "mail", source=SOURCE)
    assert (known.wait_minutes, unknown.wait_minutes, no_mail.wait_minutes) == (0, 0, 0)
    assert known.sent and not unknown.sent and not no_mail.sent and len(queued()) == 1
    wrong = "000000" if last_secret() != "000000" else "111111"
    with freeze(T0):  # a wrong code says the same for an account and for nobody
        answers = {recovery.reset_with_code(login, wrong, NEW).error for login in (person.mobile, "13500000999")}
    assert len(answers) == 1


def test_a_reset_ends_every_session_and_is_audited(db_session, person):
    phone = sessions.start_session(person, remember=True, user_agent="iPhone")
    laptop = sessions.start_session(person, remember=False, user_agent="Windows")
    epoch = person.login_epoch
    with freeze(T0):
        recovery.request_reset(person.mobile, "sms", source=SOURCE)
        outcome = recovery.reset_with_code(person.mobile, last_secret("sms"), NEW)
    assert outcome.user is person
    db_session.refresh(phone), db_session.refresh(laptop)
    assert phone.revoked_at and laptop.revoked_at and person.login_epoch == epoch + 1
    assert check_password_hash(person.password_hash, NEW)
    event = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "user.password_reset_by_code")).one()
    assert event.detail["sessions_ended"] == 2 and event.detail["channel"] == "sms"


def _unchanged(person):
    return person.password_hash, person.login_epoch


@pytest.mark.parametrize("case", ["expired", "reused", "tampered", "superseded"])
def test_a_bad_link_says_what_happened_and_changes_nothing(db_session, person, case):
    with freeze(T0):
        recovery.request_reset(person.email, "mail", source=SOURCE)
        token = last_secret("mail")
        if case == "superseded":  # a later reset by text message ends the link
            recovery.request_reset(person.mobile, "sms", source=SOURCE)
            recovery.reset_with_code(person.mobile, last_secret("sms"), "Other2026pass")
        if case == "reused":
            recovery.reset_with_link(token, "Other2026pass")
    before = _unchanged(person)
    at = T0 + timedelta(minutes=31 if case == "expired" else 5)
    if case == "tampered":
        token = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    with freeze(at), pytest.raises(InvalidInput) as refused:
        recovery.reset_with_link(token, NEW)
    expected = {"expired": "已过期", "reused": "已经用过", "tampered": "不完整或已被改动", "superseded": "已经用过"}[case]
    assert expected in refused.value.message
    assert _unchanged(person) == before


@pytest.mark.parametrize("case", ["expired", "reused", "other_account", "too_many_wrong", "malformed"])
def test_a_bad_code_says_what_happened_and_changes_nothing(db_session, person, make_user, case):
    other = make_user()
    with freeze(T0):
        recovery.request_reset(person.mobile, "sms", source=SOURCE)
        code = last_secret("sms")
        if case == "reused":
            recovery.reset_with_code(person.mobile, code, "Other2026pass")
        if case == "too_many_wrong":
            for _ in range(LIMITS["LMS_RECOVERY_CODE_ATTEMPTS"]):
                assert recovery.reset_with_code(person.mobile, "000000" if code != "000000" else "111111", NEW).error
    before, other_before = _unchanged(person), _unchanged(other)
    login = other.mobile if case == "other_account" else person.mobile
    with freeze(T0 + timedelta(minutes=11 if case == "expired" else 2)):
        if case == "malformed":
            with pytest.raises(InvalidInput, match="6 位数字"):
                recovery.reset_with_code(login, "12a45", NEW)
            outcome = None
        else:
            outcome = recovery.reset_with_code(login, code, NEW)
    if outcome is not None:
        expected = {"expired": "已过期", "reused": "已经用过", "other_account": "不正确或已失效",
                    "too_many_wrong": "输错次数过多"}[case]
        assert outcome.user is None and expected in outcome.error
    assert _unchanged(person) == before and _unchanged(other) == other_before


def test_a_weak_password_is_refused_before_the_code_is_spent(db_session, person):
    with freeze(T0):
        recovery.request_reset(person.mobile, "sms", source=SOURCE)
        code = last_secret("sms")
        with pytest.raises(InvalidInput, match="字母和数字"):
            recovery.reset_with_code(person.mobile, code, "abcdefgh")
        with pytest.raises(InvalidInput, match="身份证号、手机号或邮箱"):  # about the account, once the code is right
            recovery.reset_with_code(person.mobile, code, f"a{person.email}1")
        assert recovery.reset_with_code(person.mobile, code, NEW).user is person


def test_full_width_digits_and_spaces_in_a_code_are_the_same_code(db_session, person):
    with freeze(T0):
        recovery.request_reset(person.mobile, "sms", source=SOURCE)
        code = last_secret("sms")
        typed = " ".join(chr(ord(d) + 0xFEE0) for d in code)  # ３ １ ８ ...
        assert recovery.reset_with_code(person.mobile, typed, NEW).user is person


def test_disabled_accounts_and_missing_contacts_get_nothing_and_the_same_answer(db_session, person, make_user):
    no_mail = make_user()
    person.is_active_account = False
    with freeze(T0):
        assert recovery.request_reset(person.mobile, "sms", source=SOURCE) == recovery.RequestOutcome()
        assert recovery.request_reset(no_mail.mobile, "mail", source=SOURCE) == recovery.RequestOutcome()
    assert queued() == []


def test_a_channel_not_configured_here_is_refused_for_everyone(app, monkeypatch, db_session, person):
    monkeypatch.setitem(app.config, "LMS_SMS_SENDER", None)
    assert recovery.channels() == ["mail"]
    with pytest.raises(InvalidInput, match="暂未开通"):
        recovery.request_reset(person.mobile, "sms", source=SOURCE)


def test_no_code_is_written_to_the_logs(app, db_session, person, caplog, capfd):
    from lms.outbox.delivery import deliver_due

    caplog.set_level(logging.DEBUG)
    with freeze(T0):
        recovery.request_reset(person.mobile, "sms", source=SOURCE)
        code = last_secret("sms")
        db_session.commit()
        assert deliver_due().delivered == 1  # the console sender, development's
        recovery.reset_with_code(person.mobile, "000000" if code != "000000" else "111111", NEW)
        recovery.reset_with_code(person.mobile, code, NEW)
    assert code in capfd.readouterr().err  # printed for the developer, on standard error
    logged = "\n".join(record.getMessage() + repr(record.args) for record in caplog.records)
    assert code not in logged
    message = db_session.scalars(select(OutboxMessage).where(OutboxMessage.channel == "sms")).one()
    assert message.status == "delivered" and message.payload == ""  # the sealed text is erased once sent


def test_the_console_sender_is_refused_in_production():
    config = {"LMS_ENV": "production", "LMS_SMS_SENDER": "console", "LMS_PUBLIC_URL": "https://lms.example.org",
              "SESSION_COOKIE_SECURE": True, "REMEMBER_COOKIE_SECURE": True}
    with pytest.raises(ValueError, match="LMS_SMS_SENDER=console"):
        settle_config(config)
    settle_config({**config, "LMS_ENV": "development"})  # fine on a developer's machine


# ----------------------------------------------------------------------------- verification

def test_verifying_a_mobile_and_an_email(db_session, person):
    with freeze(T0):
        recovery.send_verification(person, "sms")
        wrong = recovery.verify_contact(person, "sms", "000000" if last_secret("sms") != "000000" else "111111")
        assert wrong.error and person.mobile_verified_at is None
        assert recovery.verify_contact(person, "sms", last_secret("sms")).user is person
        recovery.send_verification(person, "mail")
        mail = queued("mail")[-1]
        assert mail["to"] == person.email and "验证码" in mail["text"]
        # A verification code does not reset a password.
        assert recovery.reset_with_code(person.email, secret_in(mail["text"]), NEW).user is None
        assert recovery.verify_contact(person, "mail", secret_in(mail["text"])).user is person
    assert person.mobile_verified_at == T0 and person.email_verified_at == T0


def test_a_verification_code_for_a_contact_since_changed_is_refused(db_session, person):
    with freeze(T0):
        recovery.send_verification(person, "sms")
        person.mobile = "13711112222"
        outcome = recovery.verify_contact(person, "sms", last_secret("sms"))
    assert outcome.error and "已不是账号当前的联系方式" in outcome.error and person.mobile_verified_at is None


def test_registration_sends_a_verification_code_when_asked_to(app, monkeypatch, db_session):
    from lms.accounts.services import PersonData
    from tests.conftest import credit_code

    monkeypatch.setitem(app.config, "LMS_VERIFY_CONTACT", True)
    user = recovery.register_learner(PersonData(
        real_name="李四", id_number=id_number("32010219910101123"), password=TEST_PASSWORD, mobile="13722223333",
        region_code="110000", employer_name="测试单位", employer_credit_code=credit_code("91320102MA1WXYU09")))
    [text_message] = queued("sms")
    assert text_message["to"] == "13722223333" and text_message["purpose"] == "verify_mobile"
    assert recovery.verify_contact(user, "sms", secret_in(text_message["text"])).user is user


# ----------------------------------------------------------------------------- operators

def test_an_operator_sends_a_reset_to_a_new_address_audited(db_session, person, make_user):
    admin = make_user(roles=(Role.ADMIN,), real_name="管理员")
    with freeze(T0):
        code = recovery.send_reset_to_address(admin, person, "New.Box@Example.org")
        mail = queued("mail")[-1]
        assert mail["to"] == "new.box@example.org" and code.sent_by_id == admin.id
        recovery.reset_with_link(secret_in(mail["text"]), NEW)
    assert person.email == "zhang@example.org" and person.email_verified_at is None  # stored contacts unchanged
    event = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "user.reset_sent_to_address")).one()
    assert event.actor_id == admin.id and event.detail["to"] == "n***@example.org"
    with pytest.raises(NotAllowed):
        recovery.send_reset_to_address(person, person, "me@example.org")
    with pytest.raises(InvalidInput, match="手机号"):
        recovery.send_reset_to_address(admin, person, "12345")


def test_an_operator_unlocks_an_account_audited(db_session, person, make_user):
    admin = make_user(roles=(Role.ADMIN,), real_name="管理员")
    with freeze(T0):
        for _ in range(5):  # the fifth makes the next attempt wait
            throttle.attempt_login(person.mobile, "wrong-password1", source=SOURCE, device_cookie=None)
        assert throttle.attempt_login(person.mobile, TEST_PASSWORD, source="198.51.100.1",
                                      device_cookie=None).wait_seconds
        with pytest.raises(NotAllowed):
            recovery.unlock_account(person, person)
        assert recovery.unlock_account(admin, person) == 5
        assert throttle.attempt_login(person.mobile, TEST_PASSWORD, source="198.51.100.1",
                                      device_cookie=None).user is person
    assert db_session.scalar(select(func.count(LoginFailure.id)).where(LoginFailure.user_id == person.id)) == 0
    event = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "user.unlocked")).one()
    assert event.actor_id == admin.id and event.detail == {"login_failures_cleared": 5}

