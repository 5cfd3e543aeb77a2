"""Uploads in parts (lms/media/uploads.py) through the page's HTTP calls: resume, wrong offsets,
other people's uploads, limits at creation, expiry, and refusals that leave nothing behind."""

import io
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from lms.accounts.models import Role
from lms.catalog.models import Course, CourseStatus
from lms.core import clock
from lms.core.audit import AuditEvent
from lms.media.models import MediaAsset, Upload
from tests.clips import pad_with_free_box
from tests.upload_helpers import PartUploader, files_under_uploads
from tests.web.test_publishing_pages import big_package, other_client

MB = 1024 * 1024


@pytest.fixture
def small_parts(app):
    """1 MiB parts, so a few-MB file goes up in several."""
    app.config["LMS_UPLOAD_CHUNK_MB"] = 1
    yield MB
    app.config["LMS_UPLOAD_CHUNK_MB"] = 8


@pytest.fixture
def uploader(client, publisher, login, csrf_token):
    login(publisher)
    return PartUploader(client, csrf_token(client.get("/publish/media").get_data(as_text=True)))


def all_media_files(app) -> set:
    from lms.core.storage import media_root

    with app.app_context():
        return {p for p in media_root().rglob("*") if p.is_file()}


def count(db_session, model):
    return db_session.scalar(select(func.count(model.id)))


def test_a_video_in_parts_resumes_after_a_cut_and_is_transcoded(app, uploader, clips, tmp_path, small_parts,
                                                               db_session, publisher):
    leftovers = files_under_uploads(app)  # from other tests, whose rows were rolled back
    video = pad_with_free_box(clips["video"], tmp_path / "第三讲.mp4", 5 * MB + 12345)
    created = uploader.create(video)
    assert created.status_code == 201, created.get_data(as_text=True)
    upload = created.get_json()["upload"]
    assert (upload["offset"], upload["part_size"], upload["size"]) == (0, MB, 5 * MB + 12345)
    url = upload["url"]
    assert uploader.send(url, video, part_size=MB, stop_after=2) == 2 * MB  # the connection drops here
    # A part cut off mid-way (the body ends before its Content-Length) is not kept.
    with open(video, "rb") as fh:
        fh.seek(2 * MB)
        half = fh.read(MB // 2)
    cut = uploader.client.patch(url, input_stream=io.BytesIO(half), headers={
        **uploader.headers, "Upload-Offset": str(2 * MB), "Content-Type": "application/offset+octet-stream"},
        environ_overrides={"CONTENT_LENGTH": str(MB)})
    assert cut.status_code == 400 and cut.get_json()["upload"]["offset"] == 2 * MB
    assert "连接中断" in cut.get_json()["error"]["message"]
    # After a reload the page asks where to carry on, and does.
    resumed_at = uploader.offset(url)
    assert resumed_at == 2 * MB
    assert uploader.send(url, video, part_size=MB, start=resumed_at) == 5 * MB + 12345
    before = count(db_session, MediaAsset)
    finished = uploader.finish(url)
    assert finished.status_code == 201, finished.get_data(as_text=True)
    asset = db_session.get(MediaAsset, finished.get_json()["asset"]["id"])
    assert (asset.original_name, asset.size_bytes, asset.duration_seconds) == ("第三讲.mp4", 5 * MB + 12345, 4)
    assert asset.status == "ready" and asset.hls_path  # the test queue runs the transcode at once
    assert count(db_session, MediaAsset) == before + 1
    assert count(db_session, Upload) == 0 and files_under_uploads(app) == leftovers
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "upload.finished"))
    assert event.actor_id == publisher.id and event.target_id == str(asset.id)
    assert event.detail["bytes"] == 5 * MB + 12345 and event.detail["kind"] == "media"
    assert uploader.client.get(url).status_code == 404  # the upload is over


def test_a_wrong_offset_is_refused_with_the_current_one(uploader, clips, tmp_path, small_parts):
    video = pad_with_free_box(clips["video"], tmp_path / "a.mp4", 3 * MB)
    url = uploader.create(video).get_json()["upload"]["url"]
    data = video.read_bytes()
    assert uploader.part(url, 0, data[:MB]).status_code == 200
    again = uploader.part(url, 0, data[:MB])  # a retry whose first answer was lost
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "offset_mismatch" and again.get_json()["upload"]["offset"] == MB
    ahead = uploader.part(url, 2 * MB, data[2 * MB:])
    assert ahead.status_code == 409 and ahead.get_json()["upload"]["offset"] == MB
    short = uploader.part(url, MB, data[MB:MB + 100])  # every part but the last is a whole part
    assert short.status_code == 400 and "分片长度" in short.get_json()["error"]["message"]
    early = uploader.finish(url)
    assert early.status_code == 400 and "尚未传完" in early.get_json()["error"]["message"]
    assert uploader.offset(url) == MB


def test_parts_need_the_csrf_header_and_the_right_content_type(uploader, clips, tmp_path, small_parts):
    video = pad_with_free_box(clips["video"], tmp_path / "a.mp4", 2 * MB)
    url = uploader.create(video).get_json()["upload"]["url"]
    data = video.read_bytes()[:MB]
    no_token = uploader.client.patch(url, data=data, headers={"Upload-Offset": "0", "Accept": "application/json",
                                                              "Content-Type": "application/offset+octet-stream"})
    assert no_token.status_code == 400 and no_token.get_json()["error"]["code"] == "csrf"
    form = uploader.client.patch(url, data=data, headers={**uploader.headers, "Upload-Offset": "0",
                                                          "Content-Type": "application/octet-stream"})
    assert form.status_code == 415
    no_create = uploader.client.post("/publish/uploads", json={"kind": "media", "filename": "a.mp4", "size": 5},
                                     headers={"Accept": "application/json"})
    assert no_create.status_code == 400
    assert uploader.offset(url) == 0


def test_another_persons_upload_is_not_there_for_them(app, uploader, clips, tmp_path, small_parts, client_factory,
                                                      make_user, org, csrf_token, db_session):
    video = pad_with_free_box(clips["video"], tmp_path / "a.mp4", 2 * MB)
    url = uploader.create(video).get_json()["upload"]["url"]
    colleague = other_client(client_factory, make_user(roles=(Role.PUBLISHER,), organization=org), csrf_token)
    theirs = PartUploader(colleague, csrf_token(colleague.get("/publish/media").get_data(as_text=True)))
    assert colleague.get(url).status_code == 404
    assert theirs.part(url, 0, video.read_bytes()[:MB]).status_code == 404
    assert theirs.finish(url).status_code == 404
    assert theirs.cancel(url).status_code == 404
    learner = other_client(client_factory, make_user(), csrf_token)
    assert learner.get(url).status_code == 403
    assert uploader.offset(url) == 0 and count(db_session, Upload) == 1


def test_limits_are_checked_when_the_upload_is_created(app, uploader, clips, tmp_path, db_session):
    video = clips["video"]
    huge = uploader.create(video, size=2048 * MB + 1)
    assert huge.status_code == 413 and "超过大小上限 2048 MB" in huge.get_json()["error"]["message"]
    app.config["LMS_PACKAGE_MAX_MB"] = 100
    try:
        package = uploader.create(video, kind="package", name="课程.zip", size=100 * MB + 1)
        assert package.status_code == 413 and "课程包" in package.get_json()["error"]["message"]
        assert uploader.create(video, kind="package", name="课程.zip", size=100 * MB).status_code == 201
    finally:
        app.config["LMS_PACKAGE_MAX_MB"] = 2048
    wrong_type = uploader.create(video, name="lecture.exe")
    assert wrong_type.status_code == 400 and "不是支持的视频格式" in wrong_type.get_json()["error"]["message"]
    assert uploader.create(video, kind="package", name="p.rar").status_code == 400
    assert uploader.create(video, size=0).status_code == 400
    app.config["LMS_UPLOAD_MAX_OPEN"] = 2
    try:
        assert uploader.create(video).status_code == 201
        too_many = uploader.create(video)
        assert too_many.status_code == 429 and "未完成的上传" in too_many.get_json()["error"]["message"]
    finally:
        app.config["LMS_UPLOAD_MAX_OPEN"] = 10
    assert count(db_session, Upload) == 2


def test_cancel_and_expiry_leave_nothing(app, uploader, clips, tmp_path, small_parts, db_session):
    leftovers = files_under_uploads(app)  # from other tests, whose rows were rolled back
    from lms.media.tasks import sweep_uploads

    video = pad_with_free_box(clips["video"], tmp_path / "a.mp4", 3 * MB)
    cancelled = uploader.create(video).get_json()["upload"]["url"]
    uploader.send(cancelled, video, part_size=MB, stop_after=1)
    assert len(files_under_uploads(app)) == len(leftovers) + 1
    assert uploader.cancel(cancelled).status_code == 204
    assert files_under_uploads(app) == leftovers and count(db_session, Upload) == 0

    abandoned = uploader.create(video).get_json()["upload"]["url"]
    uploader.send(abandoned, video, part_size=MB, stop_after=2)
    ttl = timedelta(hours=app.config["LMS_UPLOAD_TTL_HOURS"])
    with clock.freeze(clock.now() + ttl - timedelta(hours=1)), app.app_context():
        assert sweep_uploads.call_local() == 0  # still within its time
    with clock.freeze(clock.now() + ttl + timedelta(minutes=1)), app.app_context():
        assert sweep_uploads.call_local() == 1
    assert files_under_uploads(app) == leftovers and count(db_session, Upload) == 0
    assert uploader.client.get(abandoned).status_code == 404


@pytest.mark.parametrize("clip, reason", [("not_video", "不是可以播放的视频文件"), ("audio_only", "没有视频画面"),
                                          ("truncated", "")])
def test_a_refused_video_leaves_no_parts_no_file_no_row(app, uploader, clips, small_parts, db_session, clip, reason):
    leftovers = files_under_uploads(app)  # from other tests, whose rows were rolled back
    media_before = all_media_files(app)
    assets, events = count(db_session, MediaAsset), count(db_session, AuditEvent)
    url = uploader.create(clips[clip], name="第一讲.mp4").get_json()["upload"]["url"]
    uploader.send(url, clips[clip], part_size=MB)
    refused = uploader.finish(url)
    assert refused.status_code == 400
    message = refused.get_json()["error"]["message"]
    assert reason in message and "上传的文件已清除" in message and "Traceback" not in message
    assert files_under_uploads(app) == leftovers and count(db_session, Upload) == 0
    assert count(db_session, MediaAsset) == assets and count(db_session, AuditEvent) == events
    assert all_media_files(app) == media_before  # no file anywhere under the media root


def test_a_package_in_parts_is_imported_and_a_bad_one_leaves_nothing(app, client, uploader, clips, tmp_path,
                                                                       small_parts, db_session):
    leftovers = files_under_uploads(app)  # from other tests, whose rows were rolled back
    import zipfile

    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr("../escape.txt", "x")
    url = uploader.create(bad, kind="package").get_json()["upload"]["url"]
    uploader.send(url, bad, part_size=MB)
    refused = uploader.finish(url)
    assert refused.status_code == 400 and "未导入任何内容" in refused.get_json()["error"]["message"]
    assert any("包外的路径" in p for p in refused.get_json()["error"]["problems"])
    assert files_under_uploads(app) == leftovers and count(db_session, Upload) == 0

    package = big_package(app, db_session, clips, tmp_path, "GX-NS-903", 3 * MB)
    created = uploader.create(package, kind="package")
    url = created.get_json()["upload"]["url"]
    uploader.send(url, package, part_size=MB)
    finished = uploader.finish(url)
    assert finished.status_code == 201, finished.get_data(as_text=True)
    course = db_session.scalar(select(Course).where(Course.code == "GX-NS-903"))
    assert course.status == CourseStatus.DRAFT and finished.get_json()["redirect"].endswith(f"/{course.id}")
    assert files_under_uploads(app) == leftovers and count(db_session, Upload) == 0


def test_an_empty_part_after_the_last_and_odd_names_are_refused_cleanly(uploader, clips, tmp_path, small_parts,
                                                                         db_session):
    video = pad_with_free_box(clips["video"], tmp_path / "a.mp4", 2 * MB)
    url = uploader.create(video).get_json()["upload"]["url"]
    total = uploader.send(url, video, part_size=MB)
    assert uploader.offset(url) == total
    empty = uploader.part(url, total, b"")  # every byte is in: an empty part at the end is a 409, not a 500
    assert empty.status_code == 409 and "完成上传" in empty.get_json()["error"]["message"]
    for name in ("a" * 300 + ".mp4", "a\x00b.mp4", "名\x07.mp4"):
        refused = uploader.create(video, name=name)
        assert refused.status_code == 400 and "文件名" in refused.get_json()["error"]["message"], name


def test_an_upload_being_finished_cannot_be_cancelled(uploader, clips, tmp_path, small_parts, db_session):
    from lms.media.models import UploadStatus

    video = pad_with_free_box(clips["video"], tmp_path / "a.mp4", 2 * MB)
    url = uploader.create(video).get_json()["upload"]["url"]
    uploader.send(url, video, part_size=MB)
    upload = db_session.scalar(select(Upload))
    upload.status = UploadStatus.FINISHING  # as while another request assembles it
    db_session.flush()
    refused = uploader.cancel(url)
    assert refused.status_code == 409 and count(db_session, Upload) == 1
