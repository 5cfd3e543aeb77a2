"""The job queue down (Redis stopped) while publishers upload and administrators ask for exports:
the work is saved, the page says it will start by itself, nothing answers 500; when the queue is
back, the sweeps queue what waited (once, however often they run) and a real consumer does it,
with no button pressed. On both databases."""

import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.app_process import free_port
from tests.conftest import TEST_PASSWORD, _csrf_token, credit_code, id_number
from tests.queue_helpers import queue_site, start_consumer, stop


@pytest.fixture
def site(app, tmp_path):
    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there: every queue call fails
    with queue_site(app, tmp_path, "queuedown", use_redis=False, REDIS_URL=dead,
                    LMS_EXPORT_INLINE_MAX_ROWS=-1) as queued:
        yield queued


def people(queue_app, session) -> dict:
    from lms.accounts import services as accounts
    from lms.accounts.models import OrgKind, Role

    made = {}
    with queue_app.test_request_context():
        org = accounts.get_or_create_organization("队列停机测试机构", OrgKind.PUBLISHER)
        for n, (name, role, grant) in enumerate([("publisher", Role.PUBLISHER, {"organization": org}),
                                                 ("admin", Role.ADMIN, {})], start=1):
            user = accounts.create_person(None, accounts.PersonData(
                real_name=f"队列{name}", id_number=id_number(f"11010519900301{n:03d}"), password=TEST_PASSWORD,
                mobile=f"1375552{n:04d}", email=None, region_code="110000", employer_name="队列停机单位",
                employer_credit_code=credit_code("91110108MA00DQWN0")), roles=())
            accounts.grant_role(None, user, role, **grant)
            made[name] = user.mobile
        session.commit()
    return made


def signed_in(queue_app, mobile):
    client = queue_app.test_client()
    token = _csrf_token(client.get("/login").get_data(as_text=True))
    assert client.post("/login", data={"login": mobile, "password": TEST_PASSWORD,
                                       "csrf_token": token}).status_code == 302
    return client


def test_with_the_queue_down_work_is_kept_and_the_sweeps_queue_it_when_it_is_back(site, clips, tmp_path):
    from lms.core import clock, jobs
    from lms.core.jobs import pending_args
    from lms.exports import tasks as export_tasks
    from lms.exports.models import ExportJob
    from lms.media import tasks as media_tasks
    from lms.media.models import MediaAsset

    queue_app, env, session = site
    who = people(queue_app, session)

    # A publisher uploads a video: saved, and told the transcode will start by itself.
    publisher = signed_in(queue_app, who["publisher"])
    token = _csrf_token(publisher.get("/publish/media").get_data(as_text=True))
    with open(clips["video"], "rb") as fh:
        response = publisher.post("/publish/media", data={"file": (fh, "讲座.mp4"), "csrf_token": token},
                                  content_type="multipart/form-data")
    assert response.status_code == 302
    page = publisher.get("/publish/media").get_data(as_text=True)
    assert "后台转码队列暂时不可用" in page and "无需重新上传" in page
    session.rollback()
    asset = session.scalar(select(MediaAsset).order_by(MediaAsset.id.desc()))
    assert asset.status == "uploaded" and asset.original_name == "讲座.mp4"

    # The retry button says the same, and changes nothing else.
    response = publisher.post(f"/publish/media/{asset.id}/retry", data={"csrf_token": token})
    assert response.status_code == 302
    assert "后台转码队列暂时不可用" in publisher.get("/publish/media").get_data(as_text=True)

    # An administrator asks for an export too large to download at once: recorded, and told so.
    admin = signed_in(queue_app, who["admin"])
    token = _csrf_token(admin.get("/exports/new").get_data(as_text=True))
    response = admin.post("/exports/new", data={"year": "2026", "format": "csv", "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)[-800:]
    job_page = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "后台队列暂时不可用" in job_page
    session.rollback()
    job = session.scalar(select(ExportJob).order_by(ExportJob.id.desc()))
    assert job.status == "queued"
    asset_id, job_id = asset.id, job.id

    # The queue is back (here: the SQLite queue file the consumer below reads).
    queue_app.config["REDIS_URL"] = None
    jobs.init_app(queue_app)
    consumer_env = {key: value for key, value in env.items() if key != "REDIS_URL"}
    later = clock.now() + timedelta(seconds=queue_app.config["LMS_TRANSCODE_STALL_SECONDS"]) + \
        export_tasks.REQUEUE_AFTER + timedelta(minutes=1)
    with queue_app.app_context(), clock.freeze(later):
        assert media_tasks.sweep_stalled_transcodes.call_local() == 1
        assert export_tasks.requeue_waiting_exports.call_local() == 1
        assert pending_args(media_tasks.transcode_job) == {asset_id}
        assert pending_args(export_tasks.export_job) == {job_id}
        # Swept again while the jobs wait: nothing is queued twice.
        assert media_tasks.sweep_stalled_transcodes.call_local() == 0
        assert export_tasks.requeue_waiting_exports.call_local() == 0
    assert jobs.media_huey.pending_count() == 2

    consumer = start_consumer(consumer_env, tmp_path)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            session.rollback()
            asset, job = session.get(MediaAsset, asset_id), session.get(ExportJob, job_id)
            if asset.status in ("ready", "failed") and job.status in ("done", "failed"):
                break
            time.sleep(0.2)
    finally:
        log = stop(consumer)
    assert (asset.status, job.status) == ("ready", "done"), log
