"""The platform on object storage (LMS_STORAGE_URL=s3://...), against moto's S3 server on loopback:
upload in parts → transcode → play, with every video byte read from the store through signed
links (HLS playlists rewritten with signed segment links); storage unreachable: uploads fail with a
clear message and leave no row pointing at a missing object; a production node whose storage
cannot be reached refuses to start, naming the setting."""

import io
import os
import subprocess
import sys
from pathlib import Path, PurePosixPath
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import func, select

from lms.catalog.models import Course
from lms.core.storage import media_root, media_storage
from lms.media.models import MediaAsset, MediaStatus, Upload
from tests.conftest import ROOT
from tests.s3_helpers import aws_credentials, new_bucket, s3_server, stopped_endpoint
from tests.upload_helpers import PartUploader
from tests.web import test_credits_pages, test_export_pages


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory):
    with aws_credentials(), s3_server(tmp_path_factory.mktemp("moto") / "moto.log") as endpoint:
        yield endpoint


# Fixtures of the folder's own tests, reused here on the bucket.
learner_with_cert = test_credits_pages.learner_with_cert
job_export, people = test_export_pages.job_export, test_export_pages.people


def on_s3(app, monkeypatch, endpoint: str, bucket: str = "media") -> None:
    monkeypatch.setitem(app.config, "LMS_STORAGE_URL", f"s3://{bucket}/lms")
    monkeypatch.setitem(app.config, "LMS_S3_ENDPOINT_URL", endpoint)
    for name, value in (("AWS_ACCESS_KEY_ID", "lms-test-key"), ("AWS_SECRET_ACCESS_KEY", "lms-test-secret"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(name, value)


@pytest.fixture
def uploader(client, publisher, login, csrf_token):
    login(publisher)
    return PartUploader(client, csrf_token(client.get("/publish/media").get_data(as_text=True)))


def count(db_session, model) -> int:
    return db_session.scalar(select(func.count(model.id)))


def local_files(app) -> set:
    with app.app_context():
        return {p for p in media_root().rglob("*") if p.is_file()}


def test_upload_transcode_and_play_from_object_storage_through_signed_links(app, s3_endpoint, monkeypatch, uploader,
                                                                          clips, db_session):
    on_s3(app, monkeypatch, s3_endpoint, new_bucket(s3_endpoint))
    before_local = local_files(app)
    created = uploader.create(clips["video"], name="第五讲.mp4")
    assert created.status_code == 201, created.get_data(as_text=True)
    url = created.get_json()["upload"]["url"]
    uploader.send(url, clips["video"], part_size=created.get_json()["upload"]["part_size"])
    finished = uploader.finish(url)
    assert finished.status_code == 201, finished.get_data(as_text=True)
    asset = db_session.get(MediaAsset, finished.get_json()["asset"]["id"])
    assert asset.status == MediaStatus.READY and asset.hls_path  # transcoded at once by the test queue
    with app.app_context():
        storage = media_storage()
        for key in (asset.path, asset.mp4_path, asset.poster_path, asset.hls_path):
            assert storage.exists(key), key
    assert local_files(app) == before_local  # nothing of it on this node's disk
    assert count(db_session, Upload) == 0

    client = uploader.client
    video = client.get(f"/media/{asset.id}/video")
    assert video.status_code == 302 and video.headers["Cache-Control"] == "no-store"
    link = video.headers["Location"]
    assert link.startswith(s3_endpoint) and parse_qs(urlsplit(link).query)["X-Amz-Expires"] == ["300"]
    fetched = httpx.get(link)
    assert fetched.status_code == 200 and fetched.content[4:8] == b"ftyp" and len(fetched.content) > 1000

    master = client.get(f"/media/{asset.id}/hls/master.m3u8")
    assert master.status_code == 200 and master.headers["Cache-Control"] == "no-store"
    nested = [line for line in master.get_data(as_text=True).splitlines() if line and not line.startswith("#")]
    assert nested == [f"/media/{asset.id}/hls/index.m3u8"]  # playlists come back to the app
    index = client.get(nested[0]).get_data(as_text=True)
    segments = [line for line in index.splitlines() if line and not line.startswith("#")]
    assert segments and all(s.startswith(s3_endpoint) and "X-Amz-Signature=" in s for s in segments)
    assert all(parse_qs(urlsplit(s).query)["X-Amz-Expires"] == ["300"] for s in segments)
    assert PurePosixPath(urlsplit(segments[0]).path).name == "seg_0000.ts"
    segment = httpx.get(segments[0])
    assert segment.status_code == 200 and segment.content[:1] == b"G"  # an MPEG-TS sync byte
    # Someone who may not see the video gets no link.
    assert client.get(f"/media/{asset.id}/hls/../../x.m3u8").status_code == 404


def test_storage_unreachable_an_upload_fails_clearly_and_records_nothing(app, monkeypatch, uploader, clips,
                                                                         db_session):
    on_s3(app, monkeypatch, stopped_endpoint())
    uploads, assets = count(db_session, Upload), count(db_session, MediaAsset)
    refused = uploader.create(clips["video"])
    assert refused.status_code == 503
    error = refused.get_json()["error"]
    assert error["code"] == "storage_unavailable" and "文件存储暂时无法访问" in error["message"]
    assert (count(db_session, Upload), count(db_session, MediaAsset)) == (uploads, assets)


def test_storage_lost_before_the_finish_keeps_the_upload_and_records_no_video(app, monkeypatch, uploader, clips,
                                                                             db_session, tmp_path):
    with s3_server(tmp_path / "moto.log") as endpoint:
        on_s3(app, monkeypatch, endpoint, new_bucket(endpoint))
        created = uploader.create(clips["video"])
        url = created.get_json()["upload"]["url"]
        uploader.send(url, clips["video"], part_size=created.get_json()["upload"]["part_size"])
    assets = count(db_session, MediaAsset)  # the store is down from here
    refused = uploader.finish(url)
    assert refused.status_code == 503 and "文件存储暂时无法访问" in refused.get_json()["error"]["message"]
    assert count(db_session, MediaAsset) == assets  # no row naming a video that was never stored
    upload = db_session.scalar(select(Upload).where(Upload.id == int(url.rsplit("/", 1)[1])))
    assert upload is not None and upload.status == "receiving"  # finished again once the store is back
    assert uploader.client.delete(url, headers=uploader.headers).status_code == 503  # cancelling waits too


def test_storage_unreachable_a_cover_is_refused_and_the_course_names_none(app, monkeypatch, client, publisher,
                                                                          login, csrf_token, db_session):
    import io

    from PIL import Image

    from tests.web.test_publishing_pages import new_course

    login(publisher)
    assert new_course(client, csrf_token, code="GX-S3-001").status_code in (302, 303)
    course = db_session.scalar(select(Course).where(Course.code == "GX-S3-001"))
    picture = io.BytesIO()
    Image.new("RGB", (64, 36), (200, 30, 30)).save(picture, "JPEG")
    on_s3(app, monkeypatch, stopped_endpoint())
    page = client.get(f"/publish/courses/{course.id}")
    answer = client.post(f"/publish/courses/{course.id}/cover", data={
        "csrf_token": csrf_token(page.get_data(as_text=True)), "file": (io.BytesIO(picture.getvalue()), "cover.jpg")},
        content_type="multipart/form-data", follow_redirects=True)
    assert "文件存储暂时无法访问" in answer.get_data(as_text=True)
    db_session.expire_all()
    assert db_session.get(Course, course.id).cover_path is None


@pytest.fixture
def s3_on(app, s3_endpoint, monkeypatch):
    on_s3(app, monkeypatch, s3_endpoint, new_bucket(s3_endpoint))
    return s3_endpoint


def test_a_certificate_pdf_is_stored_in_the_bucket_and_downloaded_from_it(s3_on, app, learner_with_cert, client,
                                                                         login):
    user, cert = learner_with_cert
    with app.app_context(), media_storage().open(cert.pdf_path) as fh:
        stored = fh.read()
    assert stored.startswith(b"%PDF")
    local = media_root_of(app) / cert.pdf_path  # in the bucket, not on this node (a file there with the
    assert not local.exists() or local.read_bytes() != stored  # same number is an earlier test's, rolled back)
    login(user)
    answer = client.get(f"/certificates/{cert.number}.pdf")
    assert answer.status_code == 200 and answer.get_data() == stored


def test_a_job_export_is_stored_in_the_bucket_and_downloaded_through_a_signed_link(s3_on, job_export, db_session):
    import openpyxl

    from lms.exports.models import ExportJob

    client, job_id = job_export
    status = client.get(f"/exports/{job_id}/status").get_json()
    assert status["status"] == "done"
    answer = client.get(status["download_url"])
    assert answer.status_code == 302 and answer.headers["Cache-Control"] == "no-store"
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert query["X-Amz-Expires"] == ["300"] and query["response-content-disposition"][0].startswith("attachment;")
    fetched = httpx.get(answer.headers["Location"])
    assert fetched.status_code == 200 and "attachment" in fetched.headers["content-disposition"]
    assert openpyxl.load_workbook(io.BytesIO(fetched.content)).active.max_row == 3
    assert not (media_root_of(client.application) / db_session.get(ExportJob, job_id).file_path).exists()


def test_readiness_reports_an_unreachable_bucket_as_degraded_and_keeps_the_node(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "LMS_METRICS_TOKEN", "ready-secret-1234")
    on_s3(app, monkeypatch, stopped_endpoint())
    answer = client.get("/readyz", headers={"Authorization": "Bearer ready-secret-1234"})
    assert answer.status_code == 200 and answer.get_json()["status"] == "degraded"
    storage = answer.get_json()["checks"]["storage"]
    assert storage["status"] == "degraded" and "head_bucket" in storage["error"]
    assert client.get("/healthz").status_code == 200


def media_root_of(app) -> Path:
    return Path(app.config["LMS_MEDIA_ROOT"])


# ---------------------------------------------------------------- a misconfigured node refuses to start


def test_a_production_node_whose_storage_cannot_be_reached_refuses_to_start(tmp_path, s3_endpoint):
    keys = tmp_path / "signing-keys"

    def node(code: str, **settings) -> subprocess.CompletedProcess:
        env = {**os.environ, "LMS_ENV": "production", "SECRET_KEY": "s" * 43, "LMS_DATA_KEY": "d" * 43,
               "LMS_PUBLIC_URL": "https://lms.example.gov.cn", "LMS_INSTANCE_PATH": str(tmp_path / "instance"),
               "LMS_SIGNING_KEY_DIR": str(keys), "DATABASE_URL": f"sqlite:///{tmp_path / 'lms.sqlite3'}",
               "FLASK_APP": "wsgi", "AWS_ACCESS_KEY_ID": "lms-test-key", "AWS_SECRET_ACCESS_KEY": "lms-test-secret",
               "AWS_DEFAULT_REGION": "us-east-1", **settings}
        return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=120)

    made = node("from flask.cli import main; import sys; sys.argv = ['flask', 'credentials', 'rotate-key']; main()")
    assert made.returncode == 0, made.stderr[-2000:]
    down = {"LMS_STORAGE_URL": "s3://media", "LMS_S3_ENDPOINT_URL": stopped_endpoint()}
    for entry in ("import wsgi", "import lms.worker"):
        refused = node(entry, **down)
        assert refused.returncode != 0 and "LMS_STORAGE_URL=s3://media cannot be used" in refused.stderr, \
            refused.stderr[-2000:]
    no_bucket = node("import wsgi", LMS_STORAGE_URL="s3://no-such-bucket", LMS_S3_ENDPOINT_URL=s3_endpoint)
    assert no_bucket.returncode != 0 and "no bucket no-such-bucket" in no_bucket.stderr, no_bucket.stderr[-2000:]
    (tmp_path / "a-file").write_text("not a folder")
    bad_folder = node("import wsgi", LMS_STORAGE_URL=f"file://{tmp_path / 'a-file' / 'media'}")
    assert bad_folder.returncode != 0 and "LMS_STORAGE_URL" in bad_folder.stderr, bad_folder.stderr[-2000:]
    malformed = node("import wsgi", LMS_STORAGE_URL="minio://media")
    assert malformed.returncode != 0 and "LMS_STORAGE_URL must be" in malformed.stderr, malformed.stderr[-2000:]
    bucket = new_bucket(s3_endpoint)
    served = node("import wsgi; print('serving')", LMS_STORAGE_URL=f"s3://{bucket}", LMS_S3_ENDPOINT_URL=s3_endpoint)
    assert served.returncode == 0 and "serving" in served.stdout, served.stderr[-2000:]
