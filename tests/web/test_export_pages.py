"""Export pages: who may export what, direct downloads, background jobs and their download links."""

import csv
import io
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote

import openpyxl
import pytest
from sqlalchemy import func, select

from lms.accounts.models import Role
from lms.core import clock
from lms.core.audit import AuditEvent
from lms.exports import records
from lms.exports.models import ExportJob, ExportStatus
from tests.conftest import TEST_PASSWORD
from tests.records_helpers import UNIT_A, UNIT_B, completion, employee, org


@pytest.fixture
def people(app, db_session, make_user):
    # Contexts are pushed only while setting up: a context left pushed would share flask.g (the
    # logged-in user) between the test clients.
    a1 = employee(make_user, UNIT_A, real_name="甲一")
    a2 = employee(make_user, UNIT_A, real_name="甲二")
    b1 = employee(make_user, UNIT_B, real_name="乙一")
    with app.test_request_context():
        for user in (a1, a2, b1):
            completion(db_session, user)
    return dict(a1=a1, a2=a2, b1=b1,
                admin_a=make_user(roles=(Role.UNIT_ADMIN,), organization=org(db_session, UNIT_A)),
                admin_b=make_user(roles=(Role.UNIT_ADMIN,), organization=org(db_session, UNIT_B)),
                auditor=make_user(roles=(Role.HR_AUDITOR,), region_code="110000"))


def signed_in(client_factory, csrf_token, user):
    client = client_factory()
    token = csrf_token(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"login": user.mobile, "password": TEST_PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    return client


def post_export(client, csrf_token, query="", **data):
    token = csrf_token(client.get("/exports/new" + query).get_data(as_text=True))
    form = {"year": "2026", "format": "csv", "csrf_token": token, **data}
    return client.post("/exports/new", data=form)


def csv_rows(response):
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(body[3:].decode("utf-8"), newline="")))


def audit(db_session, action="records.export"):
    return db_session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)).all()


def test_the_form_shows_the_scope_and_the_full_id_choice_only_to_auditors(people, client_factory, csrf_token,
                                                                          db_session):
    unit_admin = signed_in(client_factory, csrf_token, people["admin_a"])
    page = unit_admin.get("/exports/new?year=2026").get_data(as_text=True)
    assert org(db_session, UNIT_A).name in page
    assert "2026 年度共 2 条有效学时记录" in page and "含完整身份证号" not in page
    auditor = signed_in(client_factory, csrf_token, people["auditor"])
    page = auditor.get("/exports/new?unit=" + UNIT_B).get_data(as_text=True)
    assert "含完整身份证号" in page and "共 1 条" in page


def test_a_unit_admin_cannot_export_another_unit(people, client_factory, csrf_token, db_session):
    client = signed_in(client_factory, csrf_token, people["admin_a"])
    assert client.get("/exports/new?unit=" + UNIT_B).status_code == 403
    token = csrf_token(client.get("/exports/new").get_data(as_text=True))
    response = client.post("/exports/new", data={"unit": UNIT_B, "year": "2026", "format": "csv", "csrf_token": token})
    assert response.status_code == 403 and "不能查看单位" in response.get_data(as_text=True)
    response = client.post("/exports/new", data={"year": "2026", "format": "csv", "full_id_numbers": "y",
                                                  "csrf_token": token})
    assert response.status_code == 403  # full ID numbers are for auditors and admins
    assert audit(db_session) == []


def test_learners_and_anonymous_users_are_turned_away(people, client_factory, csrf_token):
    learner = signed_in(client_factory, csrf_token, people["a1"])
    assert learner.get("/exports/new").status_code == 403
    assert client_factory().get("/exports/new").status_code == 302  # to the login page


def test_bad_input_is_shown_on_the_form(people, client_factory, csrf_token, db_session):
    client = signed_in(client_factory, csrf_token, people["auditor"])
    response = post_export(client, csrf_token, year="20x6")
    assert response.status_code == 400 and "年度 20x6 不正确" in response.get_data(as_text=True)
    response = post_export(client, csrf_token, format="pdf")
    assert response.status_code == 400 and "csv 或 xlsx" in response.get_data(as_text=True)
    response = post_export(client, csrf_token, unit="91110108MA00AAAA00")
    assert response.status_code == 400 and "没有登记统一社会信用代码" in response.get_data(as_text=True)
    response = client.post("/exports/new", data={"year": "2026", "format": "csv"})  # no CSRF token
    assert response.status_code == 400
    assert audit(db_session) == [] and db_session.scalars(select(ExportJob)).all() == []


def test_a_small_csv_downloads_at_once_with_a_chinese_file_name(people, client_factory, csrf_token, db_session, app):
    client = signed_in(client_factory, csrf_token, people["admin_a"])
    response = post_export(client, csrf_token)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    disposition = response.headers["Content-Disposition"]
    name = unquote(disposition.split("filename*=UTF-8''")[1])
    assert name == f"学时记录-{org(db_session, UNIT_A).name}-2026.csv"
    rows = csv_rows(response)
    assert tuple(rows[0]) == records.HEADER and sorted(r[0] for r in rows[1:]) == ["甲一", "甲二"]
    assert all("*" in r[1] for r in rows[1:])
    event = audit(db_session)[-1]
    assert event.actor_id == people["admin_a"].id and event.detail["via"] == "web" and event.detail["rows"] == 2
    assert event.detail["organization_id"] == org(db_session, UNIT_A).id and event.detail["format"] == "csv"


def test_an_auditor_downloads_xlsx_with_full_ids_and_it_is_audited(people, client_factory, csrf_token, db_session,
                                                                   app):
    client = signed_in(client_factory, csrf_token, people["auditor"])
    response = post_export(client, csrf_token, format="xlsx", full_id_numbers="y", unit=UNIT_B)
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].endswith(".xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(response.get_data())).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert tuple(values[0]) == records.HEADER and len(values) == 2
    assert values[1][0] == "乙一" and len(values[1][1]) == 18 and "*" not in values[1][1]
    event = audit(db_session)[-1]
    assert event.detail["full_id_numbers"] is True and event.detail["rows"] == 1 and event.detail["format"] == "xlsx"
    assert list((Path(app.config["LMS_MEDIA_ROOT"]) / "exports").glob("direct-*")) == []  # no file left behind


@pytest.fixture
def job_export(people, client_factory, csrf_token, app, monkeypatch):
    """A unit admin's export over the inline limit: a job (run at once: LMS_JOBS_IMMEDIATE in tests)."""
    monkeypatch.setitem(app.config, "LMS_EXPORT_INLINE_MAX_ROWS", 1)
    client = signed_in(client_factory, csrf_token, people["admin_a"])
    response = post_export(client, csrf_token, format="xlsx")
    assert response.status_code == 302
    job_id = int(re.search(r"/exports/(\d+)$", response.headers["Location"]).group(1))
    return client, job_id


def test_a_large_export_runs_as_a_job_with_progress_and_a_download_link(job_export, db_session, csrf_token):
    client, job_id = job_export
    page = client.get(f"/exports/{job_id}").get_data(as_text=True)
    assert f'data-status-url="/exports/{job_id}/status"' in page and "export-progress.js" in page
    assert "<script>" not in page
    status = client.get(f"/exports/{job_id}/status").get_json()
    assert status["status"] == "done" and status["percent"] == 100 and status["rows_done"] == status["rows_total"] == 2
    response = client.get(status["download_url"])
    assert response.status_code == 200 and "filename*=UTF-8''" in response.headers["Content-Disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(response.get_data())).active
    assert sheet.max_row == 3
    listing = client.get("/exports").get_data(as_text=True)
    assert f"/exports/{job_id}/download?token=" in listing
    actions = [e.action for e in db_session.scalars(select(AuditEvent).where(
        AuditEvent.target_type == "ExportJob", AuditEvent.target_id == str(job_id)).order_by(AuditEvent.id))]
    assert actions == ["records.export_requested", "records.export", "records.export_download"]


def test_a_job_download_is_for_its_requester_only(job_export, people, client_factory, csrf_token, db_session):
    client, job_id = job_export
    url = client.get(f"/exports/{job_id}/status").get_json()["download_url"]
    other = signed_in(client_factory, csrf_token, people["admin_b"])
    assert other.get(url).status_code == 403
    assert other.get(f"/exports/{job_id}").status_code == 403
    assert other.get(f"/exports/{job_id}/status").status_code == 403
    same_unit = signed_in(client_factory, csrf_token, people["auditor"])
    assert same_unit.get(url).status_code == 403
    assert client.get(f"/exports/{job_id}/download?token=wrong").status_code == 403
    assert client.get(f"/exports/{job_id}/download").status_code == 403
    assert client.get("/exports/999999/status").status_code == 404
    assert client_factory().get(url).status_code == 302  # anonymous: to the login page


def media_file(app, job) -> Path:
    return Path(app.config["LMS_MEDIA_ROOT"]) / job.file_path


def test_an_expired_download_link_says_so_and_the_file_is_gone(job_export, db_session, app):
    client, job_id = job_export
    job = db_session.get(ExportJob, job_id)
    url = client.get(f"/exports/{job_id}/status").get_json()["download_url"]
    path = media_file(app, job)
    assert path.exists()
    with clock.freeze(clock.now() + timedelta(hours=24, minutes=1)):
        response = client.get(url)
        assert response.status_code == 410
        assert "下载链接已过期" in response.get_data(as_text=True) and "重新导出" in response.get_data(as_text=True)
        assert client.get(f"/exports/{job_id}/status").get_json()["expired"] is True
    db_session.refresh(job)
    assert not path.exists() and job.status == ExportStatus.EXPIRED and job.file_path is None
    assert client.get(url).status_code == 410


def test_purge_command_deletes_expired_files(job_export, db_session, runner, app):
    _, job_id = job_export
    job = db_session.get(ExportJob, job_id)
    path = media_file(app, job)
    result = runner.invoke(args=["export", "purge"])
    assert result.exit_code == 0 and "已删除 0 个" in result.output and path.exists()
    with clock.freeze(clock.now() + timedelta(hours=25)):
        result = runner.invoke(args=["export", "purge"])
    assert result.exit_code == 0 and "已删除 1 个" in result.output and not path.exists()


def test_the_hourly_job_deletes_expired_files_too(job_export, db_session, app):
    from lms.core.jobs import huey
    from lms.exports.tasks import purge_expired_exports

    _, job_id = job_export
    path = media_file(app, db_session.get(ExportJob, job_id))
    assert purge_expired_exports.task_class in huey._registry._periodic_tasks  # run by `flask jobs worker`
    with app.app_context(), clock.freeze(clock.now() + timedelta(hours=25)):
        assert purge_expired_exports.call_local() == 1
    assert not path.exists()


def test_a_job_whose_worker_died_is_failed_with_a_message_by_the_minute_sweep(job_export, db_session, app):
    """A worker killed mid-export leaves its job running with no one to finish it: once it has made no
    progress for LMS_EXPORT_STALL_MINUTES the sweep fails it, once, and the page says to start again."""
    from lms.exports.tasks import requeue_waiting_exports

    client, job_id = job_export
    job = db_session.get(ExportJob, job_id)
    assert job.updated_at is not None and job.updated_at >= job.finished_at  # its writes are its sign of life
    job.status, job.finished_at, job.file_path = ExportStatus.RUNNING, None, None
    db_session.commit()
    stall = timedelta(minutes=app.config["LMS_EXPORT_STALL_MINUTES"])
    with app.app_context(), clock.freeze(clock.now() + stall - timedelta(seconds=30)):
        assert requeue_waiting_exports.call_local() == 0
    db_session.expire_all()
    assert db_session.get(ExportJob, job_id).status == ExportStatus.RUNNING  # slow, not dead
    with app.app_context(), clock.freeze(clock.now() + stall + timedelta(seconds=30)):
        requeue_waiting_exports.call_local()
        requeue_waiting_exports.call_local()  # a second sweep finds nothing more to do
    db_session.expire_all()
    job = db_session.get(ExportJob, job_id)
    assert job.status == ExportStatus.FAILED and "请重新发起导出" in job.error
    status = client.get(f"/exports/{job_id}/status").get_json()
    assert status["status"] == "failed" and "请重新发起导出" in status["error"]
    assert db_session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "records.export_interrupted", AuditEvent.target_id == str(job_id))) == 1
