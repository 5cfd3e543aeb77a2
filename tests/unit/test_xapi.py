"""xAPI statements through the outbox to a real Learning Record Store (Ralph, on loopback).

Ralph lives in its own virtual environment, ``.venv-ralph`` (scripts/test.sh creates it), or
wherever ``RALPH_BIN`` points. Without it these tests fail: they are not skipped.
"""

import json
import os
import secrets
import signal
import socket
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from lms.core import clock
from lms.learning import exam, play, services
from lms.outbox.delivery import deliver_due
from lms.outbox.models import OutboxMessage, OutboxStatus
from lms.xapi import statements
from lms.xapi.services import CHANNEL as XAPI
from tests.conftest import ROOT
from tests.learning_helpers import Clock, correct_answers, course, study_all_lessons

pytestmark = pytest.mark.usefixtures("ctx")

RALPH_BIN = Path(os.environ.get("RALPH_BIN") or ROOT / ".venv-ralph" / "bin" / "ralph")
VERSION_HEADER = {"X-Experience-API-Version": "1.0.3"}


class Lrs:
    def __init__(self, endpoint: str, username: str, password: str):
        self.endpoint, self.auth = endpoint, (username, password)

    def get(self, **params) -> list[dict]:
        response = httpx.get(f"{self.endpoint}/statements", params=params, auth=self.auth, headers=VERSION_HEADER,
                             timeout=10)
        assert response.status_code == 200, response.text
        return response.json()["statements"]

    def post(self, body: str) -> int:
        return httpx.post(f"{self.endpoint}/statements", content=body.encode(), auth=self.auth, timeout=10,
                          headers={**VERSION_HEADER, "Content-Type": "application/json"}).status_code


RALPH_SERVER = """
import sys
import uvicorn
from ralph.backends.data.base import BaseOperationType
from ralph.backends.lrs.fs import FSLRSBackend
FSLRSBackend.default_operation_type = BaseOperationType.APPEND
_by_verb = FSLRSBackend._add_filter_by_verb
FSLRSBackend._add_filter_by_verb = staticmethod(lambda filters, verb: _by_verb(filters, str(verb) if verb else None))
uvicorn.run("ralph.api:app", host="127.0.0.1", port=int(sys.argv[1]), log_level="info")
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def ralph(tmp_path_factory):
    """``ralph runserver`` (file backend) on a free loopback port for the whole session."""
    if not RALPH_BIN.exists():
        pytest.fail(f"Ralph (the Learning Record Store used by the xAPI tests) is not installed at {RALPH_BIN}. "
                    "Run scripts/test.sh once (it creates .venv-ralph), or point RALPH_BIN at a `ralph` command "
                    "from `pip install 'ralph-malph[cli,lrs]' requests`.", pytrace=False)
    home = tmp_path_factory.mktemp("ralph")
    env = {**os.environ, "RALPH_APP_DIR": str(home / ".ralph"), "RALPH_RUNSERVER_BACKEND": "fs"}
    password = secrets.token_urlsafe(12)
    subprocess.run([str(RALPH_BIN), "auth", "-u", "lms", "-p", password, "-s", "all", "-M", "mailto:lms@example.org",
                    "-w"], env=env, cwd=home, check=True, capture_output=True, timeout=120)
    port = _free_port()
    log = open(home / "ralph.log", "wb")  # noqa: SIM115 (closed below)
    # What `ralph runserver -b fs` does, in one process (no reloader), with one fix: Ralph 5.1's file
    # backend writes each POST in "create" mode, so every POST after the first fails with 500
    # ("fs_lrs.jsonl already exists"): here it appends, as an LRS must. And its ``verb`` filter
    # compares a pydantic IRI with a string, so ``GET /statements?verb=…`` never matched: fixed too.
    env["RALPH_BACKENDS__LRS__FS__DEFAULT_DIRECTORY_PATH"] = str(home / "lrs-data")
    process = subprocess.Popen([str(RALPH_BIN.with_name("python")), "-c", RALPH_SERVER, str(port)],
                               env=env, cwd=home, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    lrs = Lrs(f"http://127.0.0.1:{port}/xAPI", "lms", password)
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                pytest.fail(f"ralph runserver exited:\n{(home / 'ralph.log').read_text(errors='replace')}")
            try:
                lrs.get(limit=1)
                break
            except (httpx.HTTPError, AssertionError):
                if time.monotonic() > deadline:
                    pytest.fail(f"ralph runserver did not answer:\n{(home / 'ralph.log').read_text(errors='replace')}")
                time.sleep(0.3)
        yield lrs
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


@pytest.fixture
def lrs(app, ralph, monkeypatch):
    monkeypatch.setitem(app.config, "LMS_XAPI_ENDPOINT", ralph.endpoint)
    monkeypatch.setitem(app.config, "LMS_XAPI_USERNAME", ralph.auth[0])
    monkeypatch.setitem(app.config, "LMS_XAPI_PASSWORD", ralph.auth[1])
    monkeypatch.setitem(app.config, "LMS_OUTBOX_BACKOFF_SECONDS", 10)
    return ralph


def outbox(db_session) -> list[OutboxMessage]:
    return list(db_session.scalars(select(OutboxMessage).where(OutboxMessage.channel == XAPI)
                                   .order_by(OutboxMessage.id)))


def verb_of(statement: dict) -> str:
    return statement["verb"]["id"].rsplit("/", 1)[-1]


def test_a_learners_statements_reach_the_lrs(db_session, make_user, lrs, app):
    learner = make_user(real_name="王学习")
    c = course(db_session)
    tick = Clock()
    with tick():
        enrollment = services.enroll(learner, c.code)
        db_session.commit()
    study_all_lessons(learner.id, c, tick)
    with tick():
        failed = exam.submit_attempt(learner, exam.start_attempt(learner, enrollment), {})
        attempt = exam.start_attempt(learner, enrollment)
        passed = exam.submit_attempt(learner, attempt, correct_answers(attempt))
        db_session.commit()
    assert not failed.passed and passed.passed and enrollment.completed_at is not None

    lessons = [lesson for lesson in c.lessons if lesson.kind != "quiz"]
    messages = outbox(db_session)
    assert [m.event_type for m in messages].count("xapi.launched") == len(lessons)
    assert all(m.status == OutboxStatus.PENDING for m in messages)  # nothing sent inside the transactions
    with tick():
        report = deliver_due()
    assert report.delivered == len(messages) and report.retrying == report.failed == 0

    registration = statements.registration(enrollment.id)
    stored = lrs.get(registration=registration, limit=500)
    assert sorted(s["id"] for s in stored) == sorted(m.event_id for m in messages)
    by_verb: dict[str, list[dict]] = {}
    for s in sorted(stored, key=lambda s: s["timestamp"]):
        by_verb.setdefault(verb_of(s), []).append(s)
    assert {v: len(ss) for v, ss in by_verb.items()} == {
        "launched": len(lessons), "progressed": len(lessons), "failed": 1, "passed": 1, "completed": 1}

    public = app.config["LMS_PUBLIC_URL"].rstrip("/")
    course_id = f"{public}/courses/{c.code}"
    from lms.accounts import crypto

    full_id_number = crypto.decrypt(learner.id_number_encrypted)
    for s in stored:
        assert s["actor"]["account"] == {"homePage": public, "name": statements.pseudonym(learner.id)}
        assert s["context"]["registration"] == registration and s["context"]["platform"]
        assert s["timestamp"].endswith("Z") and s["stored"] and s["authority"]
        text = json.dumps(s, ensure_ascii=False)
        assert "王学习" not in text and learner.mobile not in text
        assert full_id_number not in text and learner.id_number_masked not in text
    first = by_verb["launched"][0]
    assert first["verb"]["id"] == "http://adlnet.gov/expapi/verbs/launched"
    assert first["object"]["id"] == f"{course_id}/lessons/{lessons[0].id}"
    assert first["object"]["definition"]["name"] == {"zh-CN": lessons[0].title}
    assert first["context"]["contextActivities"]["parent"][0]["id"] == course_id
    assert first["timestamp"] == "2026-03-02T01:00:00.000Z"
    progress = [s["result"]["extensions"][statements.PROGRESS_EXTENSION] for s in by_verb["progressed"]]
    assert progress == sorted(progress) and progress[-1] == 100
    assert by_verb["failed"][0]["result"]["score"]["scaled"] == 0 and by_verb["failed"][0]["result"]["success"] is False
    assert by_verb["passed"][0]["result"]["score"] == {"scaled": 1, "raw": 100, "min": 0, "max": 100}
    assert by_verb["passed"][0]["object"]["id"] == f"{course_id}/exam"
    done = by_verb["completed"][0]
    assert done["object"]["id"] == course_id and done["object"]["definition"]["name"] == {"zh-CN": c.title}
    assert done["result"]["completion"] is True

    # Read back by verb, as an analytics reader would: each statement exactly once.
    ours = {m.event_id for m in messages}
    for verb, expected in by_verb.items():
        found = [s["id"] for s in lrs.get(verb=statements.verb_id(verb), limit=500) if s["id"] in ours]
        assert sorted(found) == sorted(s["id"] for s in expected)


def _launch(db_session, learner, c):
    with clock.freeze(datetime(2026, 3, 2, 1, 0, tzinfo=UTC)):
        services.enroll(learner, c.code)
        lesson = next(lesson for lesson in c.lessons if lesson.kind != "quiz")
        play.start_session(learner.id, lesson.id)
        db_session.commit()
    [message] = outbox(db_session)
    return message


def test_a_statement_sent_twice_is_stored_once(db_session, make_user, lrs):
    message = _launch(db_session, make_user(), course(db_session))
    # The first attempt reached the LRS but its answer was lost: the outbox still holds it.
    assert lrs.post(message.payload) == 200
    assert lrs.post(message.payload) in (200, 204)
    with clock.freeze(datetime(2026, 3, 2, 1, 1, tzinfo=UTC)):
        assert deliver_due().delivered == 1
    db_session.refresh(message)
    assert message.status == OutboxStatus.DELIVERED and message.last_status in (200, 204)
    assert len(lrs.get(statementId=message.event_id)) == 1
    registration = json.loads(message.payload)["context"]["registration"]
    assert [s["id"] for s in lrs.get(registration=registration, limit=500)].count(message.event_id) == 1


def test_an_lrs_conflict_for_the_same_id_counts_as_delivered(db_session, make_user, lrs):
    message = _launch(db_session, make_user(), course(db_session))
    other = json.loads(message.payload)
    other["timestamp"] = "2026-03-02T01:00:05.000Z"  # the same id, a differing statement
    assert lrs.post(json.dumps(other)) == 200
    with clock.freeze(datetime(2026, 3, 2, 1, 1, tzinfo=UTC)):
        assert deliver_due().delivered == 1
    db_session.refresh(message)
    assert message.status == OutboxStatus.DELIVERED and message.last_status == 409


def test_statements_wait_while_the_lrs_is_down(db_session, make_user, lrs, app, monkeypatch):
    monkeypatch.setitem(app.config, "LMS_XAPI_ENDPOINT", f"http://127.0.0.1:{_free_port()}/xAPI")  # nobody there
    message = _launch(db_session, make_user(), course(db_session))
    at = datetime(2026, 3, 2, 1, 1, tzinfo=UTC)
    for attempt in (1, 2):
        with clock.freeze(at):
            assert deliver_due().retrying == 1
            assert deliver_due().ids == []  # backing off
        db_session.refresh(message)
        assert message.status == OutboxStatus.PENDING and message.attempts == attempt
        assert message.last_status is None and "Connect" in message.last_error
        assert message.next_attempt_at > at.replace(tzinfo=None)
        at = message.next_attempt_at.replace(tzinfo=UTC)
    assert lrs.get(statementId=message.event_id) == []

    monkeypatch.setitem(app.config, "LMS_XAPI_ENDPOINT", lrs.endpoint)  # the LRS is back
    with clock.freeze(at + timedelta(seconds=1)):
        assert deliver_due().delivered == 1
    db_session.refresh(message)
    assert message.status == OutboxStatus.DELIVERED and message.attempts == 3
    [stored] = lrs.get(statementId=message.event_id)
    assert stored["verb"]["id"] == statements.verb_id("launched")


def test_no_statements_without_an_lrs(db_session, make_user, app):
    assert not app.config.get("LMS_XAPI_ENDPOINT")
    with clock.freeze(datetime(2026, 3, 2, 1, 0, tzinfo=UTC)):
        c = course(db_session)
        learner = make_user()
        services.enroll(learner, c.code)
        play.start_session(learner.id, next(lesson for lesson in c.lessons if lesson.kind != "quiz").id)
        db_session.commit()
    assert outbox(db_session) == []


def test_the_actor_is_a_stable_pseudonym(app):
    assert statements.pseudonym(7) == statements.pseudonym(7) != statements.pseudonym(8)
    assert len(statements.pseudonym(7)) == 32 and statements.pseudonym(7) != "7"
    assert statements.registration(3) == statements.registration(3) != statements.registration(4)
    assert uuid.UUID(statements.registration(3)).version == 5
