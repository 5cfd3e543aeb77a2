"""A 1.2 GB lecture video through the page's HTTP calls on a live server: parts of 8 MiB, the
connection cut in the middle of a part, a resume from the offset the server reports, then the
finish (probe → asset → transcode job). Prints the throughput and the server's peak memory."""

import os
import resource
import time

import httpx
import pytest
from sqlalchemy import select

from lms.accounts.models import OrgKind, Role
from lms.extensions import db
from lms.media.models import MediaAsset, Upload
from tests.clips import pad_with_free_box
from tests.conftest import TEST_PASSWORD, _csrf_token, committed_app, credit_code, id_number, session_per_thread
from tests.e2e.conftest import serving

MB = 1024 * 1024
SIZE = 1200 * MB + 4321  # not a whole number of parts


@pytest.fixture
def live(tmp_path, monkeypatch):
    """A live server on a database of its own with real commits (the per-test rolled-back session
    stands aside); the transcode job runs at once in the finishing request, as in the other tests."""
    from lms.core import jobs

    previous = jobs._app
    # The app's own kind of session in place of the test's rolled-back one (bound to another database).
    monkeypatch.setattr(db, "session", db._make_scoped_session({}))
    try:
        with committed_app(tmp_path, "bigupload", packages=()) as app, serving(app) as base:
            session_per_thread(app, monkeypatch)
            yield app, base
    finally:
        if previous is not None:
            jobs.init_app(previous)


def sign_in(app, base) -> httpx.Client:
    from lms.accounts import services as accounts

    with app.test_request_context():
        user = accounts.create_person(None, accounts.PersonData(
            real_name="发布员", id_number=id_number("11010519850101777"), password=TEST_PASSWORD,
            mobile="13700000777", region_code="110000", employer_name="测试单位",
            employer_credit_code=credit_code("91110105MA01ABCD5")))
        accounts.grant_role(None, user, Role.PUBLISHER,
                            organization=accounts.get_or_create_organization("北京市应急管理培训中心", OrgKind.PUBLISHER))
        db.session.commit()
    http = httpx.Client(base_url=base, timeout=120)
    token = _csrf_token(http.get("/login").text)
    assert http.post("/login", data={"login": "13700000777", "password": TEST_PASSWORD,
                                     "csrf_token": token}).status_code == 302
    token = _csrf_token(http.get("/publish/media").text)
    http.headers.update({"X-CSRFToken": token, "Accept": "application/json"})
    return http


def send_part(http, url, fh, offset, length):
    fh.seek(offset)
    return http.patch(url, content=fh.read(length), headers={"Upload-Offset": str(offset),
                                                             "Content-Type": "application/offset+octet-stream"})


def test_a_1_2_gb_video_uploads_in_parts_resumes_after_a_cut_and_is_queued(live, clips, tmp_path, capsys):
    app, base = live
    video = pad_with_free_box(clips["video"], tmp_path / "全程录像.mp4", SIZE)
    assert os.stat(video).st_blocks * 512 < 10 * MB  # sparse: the padding costs no disk
    http = sign_in(app, base)
    started = time.monotonic()
    created = http.post("/publish/uploads", json={"kind": "media", "filename": video.name, "size": SIZE})
    assert created.status_code == 201, created.text
    upload = created.json()["upload"]
    url, part = upload["url"], upload["part_size"]
    assert part == 8 * MB
    with open(video, "rb") as fh:
        offset = 0
        while offset < SIZE // 2:
            response = send_part(http, url, fh, offset, min(part, SIZE - offset))
            assert response.status_code == 200, response.text
            offset = response.json()["upload"]["offset"]
        # The connection drops half-way through a part: the client sends its headers and 3 MiB, then dies.
        fh.seek(offset)
        partial = fh.read(3 * MB)

        def dying():
            yield partial
            raise ConnectionResetError("网络中断")

        with pytest.raises((httpx.TransportError, ConnectionResetError)):
            httpx.patch(base + url, content=dying(), cookies=http.cookies, timeout=30, headers={
                **http.headers, "Upload-Offset": str(offset), "Content-Length": str(part),
                "Content-Type": "application/offset+octet-stream"})
        http.close()
        http = httpx.Client(base_url=base, timeout=120, cookies=http.cookies, headers=http.headers)  # "reload"
        deadline = time.monotonic() + 10
        while True:  # the server notices the cut and throws the partial part away
            state = http.get(url)
            assert state.status_code == 200
            if state.json()["upload"]["offset"] == offset or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        resumed = state.json()["upload"]["offset"]
        assert resumed == offset and int(state.headers["Upload-Offset"]) == offset
        while resumed < SIZE:
            response = send_part(http, url, fh, resumed, min(part, SIZE - resumed))
            assert response.status_code == 200, response.text
            resumed = response.json()["upload"]["offset"]
    sent_at = time.monotonic()
    finished = http.post(url + "/finish")
    done = time.monotonic()
    assert finished.status_code == 201, finished.text
    asset_json = finished.json()["asset"]
    with app.app_context():
        asset = db.session.get(MediaAsset, asset_json["id"])
        assert (asset.size_bytes, asset.duration_seconds, asset.width, asset.height) == (SIZE, 4, 320, 240)
        assert asset.content_type == "video/mp4"
        assert asset.status in ("uploaded", "processing", "ready")  # a transcode job was queued
        assert db.session.scalar(select(Upload.id)) is None
        stored = app.config["LMS_MEDIA_ROOT"] + "/" + asset.path
        db.session.remove()
    assert os.path.getsize(stored) == SIZE
    assert not os.listdir(os.path.join(app.config["LMS_MEDIA_ROOT"], "uploads"))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with capsys.disabled():
        print(f"\n1.2 GB upload: {SIZE / MB:.0f} MiB in {sent_at - started:.1f} s "
              f"({SIZE / MB / (sent_at - started):.0f} MiB/s over loopback, parts of 8 MiB), finish "
              f"(assemble + probe + hash + record) {done - sent_at:.1f} s; peak RSS of the test process "
              f"(client and server) {peak_mb:.0f} MiB")
    os.unlink(stored)
