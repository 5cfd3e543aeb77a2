"""A request's id follows its work: the response and the request's log lines carry it, and a job
the request enqueued logs it again in a real ``huey_consumer`` (JSON lines), on the SQLite queue
and on Redis. The scrape meanwhile sees the job waiting in its queue."""

import json
import logging
from datetime import datetime

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from lms.config import _networks
from lms.core.logs import JsonFormatter, sane_request_id
from tests.conftest import TEST_PASSWORD, credit_code, id_number
from tests.queue_helpers import queue_site, start_consumer, stop

REQUEST_ID = "edge-req-5e1f0c2a"


@pytest.fixture(params=["sqlite-queue", "redis-queue"])
def export_site(request, app, tmp_path):
    with queue_site(app, tmp_path, "reqids", use_redis=request.param == "redis-queue", packages=("GX-NS-001",),
                    LMS_EXPORT_INLINE_MAX_ROWS=0, LMS_LOG_FORMAT="json", LMS_ACCESS_LOG=1) as site:
        yield site


def _seed(queue_app, session) -> str:
    """A unit with one completion and an admin; returns the admin's mobile."""
    from lms.accounts import services as accounts
    from lms.accounts.models import EmploymentStatus, Role
    from lms.catalog.models import Course
    from lms.credits import services as ledger

    unit = credit_code("91110108MA00RRRR0")
    with queue_app.test_request_context():
        course = session.scalar(select(Course).where(Course.code == "GX-NS-001"))
        learner = accounts.create_person(None, accounts.PersonData(
            real_name="日志学员", id_number=id_number("11010519900101321"), password=TEST_PASSWORD,
            mobile="13711110001", email=None, region_code="110000", employer_name="日志单位",
            employer_credit_code=unit), roles=())
        learner.employment_status = EmploymentStatus.APPROVED
        ledger.record_course_completion(learner, course, completed_at=datetime(2026, 3, 10, 2, 0), exam_score=80)
        accounts.create_person(None, accounts.PersonData(
            real_name="日志管理员", id_number=id_number("11010519800101321"), password=TEST_PASSWORD,
            mobile="13711110002", email=None, region_code="110000", employer_name="日志单位",
            employer_credit_code=unit), roles=(Role.ADMIN,))
        session.commit()
    return "13711110002"


def _scrape(client) -> dict:
    text = client.get("/metrics").get_data(as_text=True)
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_a_job_logs_the_id_of_the_request_that_enqueued_it(export_site, tmp_path, caplog, csrf_token):
    from lms.exports.models import ExportJob
    from tests.unit.test_export_queue import watch

    queue_app, env, session = export_site
    queue_app.config["LMS_METRICS_ALLOW"] = _networks("127.0.0.1")
    mobile = _seed(queue_app, session)
    client = queue_app.test_client()
    token = csrf_token(client.get("/login").get_data(as_text=True))
    client.post("/login", data={"login": mobile, "password": TEST_PASSWORD, "csrf_token": token})
    token = csrf_token(client.get("/exports/new").get_data(as_text=True))

    caplog.set_level(logging.INFO, logger="lms.access")
    response = client.post("/exports/new", data={"year": "2026", "format": "csv", "csrf_token": token},
                           headers={"X-Request-ID": REQUEST_ID})
    assert response.status_code == 302 and response.headers["X-Request-ID"] == REQUEST_ID
    access = [json.loads(JsonFormatter().format(record)) for record in caplog.records if record.name == "lms.access"]
    assert [(line["request_id"], line["http"]["path"], line["http"]["status"]) for line in access] == [
        (REQUEST_ID, "/exports/new", 302)]
    job_id = int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])

    waiting = _scrape(client)
    assert waiting[("lms_job_queue_pending", (("queue", "media"),))] == 1
    assert waiting[("lms_export_jobs", (("status", "queued"),))] == 1

    consumer = start_consumer(env, tmp_path, "media_huey")
    try:
        seen = watch(queue_app, session, job_id)
    finally:
        log = stop(consumer)
    assert seen[-1][0] == "done", log[-3000:]
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    ours = [line for line in lines if line["request_id"] == REQUEST_ID]
    assert any(line["logger"] == "lms.exports.tasks" and line["message"] == f"export job {job_id} done: 1 rows"
               for line in ours), log[-3000:]
    assert any(line["logger"] == "huey" and "executed in" in line["message"] for line in ours)
    assert all(line["request_id"] is None for line in lines if "Huey consumer started" in line["message"])
    with queue_app.app_context():
        session.rollback()
        assert session.get(ExportJob, job_id).status == "done"
    assert _scrape(client)[("lms_job_queue_pending", (("queue", "media"),))] == 0


@pytest.mark.parametrize(("given", "kept"), [
    ("edge-req-5e1f0c2a", True), ("3fa85f64-5717-4562-b3fc-2c963f66afa6", True), ("abc", False),
    ("a" * 65, False), ("has space-123", False), ("-leading-dash", False), ('x"}{"forged', False), ("", False),
    (None, False)])
def test_only_a_sane_incoming_request_id_is_kept(given, kept):
    assert sane_request_id(given) == (given if kept else None)


def test_every_response_has_a_request_id_and_a_sane_one_is_kept(client):
    made = client.get("/healthz")
    assert len(made.headers["X-Request-ID"]) == 32
    assert client.get("/healthz").headers["X-Request-ID"] != made.headers["X-Request-ID"]
    assert client.get("/healthz", headers={"X-Request-ID": REQUEST_ID}).headers["X-Request-ID"] == REQUEST_ID
    refused = client.get("/healthz", headers={"X-Request-ID": "a b c d e f g h"}).headers["X-Request-ID"]
    assert refused != "a b c d e f g h" and len(refused) == 32
