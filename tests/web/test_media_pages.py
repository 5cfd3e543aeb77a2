from lms.accounts.models import Role
from lms.catalog.models import Course, CourseStatus
from tests.conftest import TEST_PASSWORD


def _video_lesson(db_session, code="GX-NS-001"):
    course = db_session.query(Course).filter_by(code=code).one()
    return course, next(lesson for lesson in course.lessons if lesson.kind == "video")


def test_published_video_streams_with_range_requests(client, db_session, make_user, login):
    _, lesson = _video_lesson(db_session)
    url = f"/media/{lesson.media_asset_id}/video"
    assert client.get(url).status_code == 302  # sign in first
    login(make_user())
    with client.get(url) as full:
        assert full.status_code == 200 and full.mimetype == "video/mp4"
        assert full.data[4:8] == b"ftyp"
    with client.get(url, headers={"Range": "bytes=0-99"}) as partial:
        assert partial.status_code == 206 and len(partial.data) == 100


def test_unpublished_video_only_for_its_publisher(app, client, db_session, make_user, login, csrf_token):
    course, lesson = _video_lesson(db_session, "GX-DT-002")
    course.status = CourseStatus.DRAFT
    db_session.commit()
    url = f"/media/{lesson.media_asset_id}/video"
    login(make_user())
    assert client.get(url).status_code == 403
    publisher = make_user(roles=(Role.PUBLISHER,), organization=course.publisher)
    with app.test_client() as other:
        token = csrf_token(other.get("/login").get_data(as_text=True))
        other.post("/login", data={"login": publisher.mobile, "password": TEST_PASSWORD, "csrf_token": token})
        with other.get(url) as response:
            assert response.status_code == 200


def test_missing_asset_and_hls_paths(client, db_session, make_user, login):
    _, lesson = _video_lesson(db_session)
    login(make_user())
    assert client.get("/media/999999/video").status_code == 404
    assert client.get(f"/media/{lesson.media_asset_id}/hls/../../secret").status_code == 404
    assert client.get(f"/media/{lesson.media_asset_id}/poster").status_code == 404


def test_renditions_of_an_asset_that_is_not_ready_are_never_served(app, client, db_session, make_user, login):
    """While a transcode runs (or after it failed) the asset may name files being written, or those
    of an attempt that died half-way: none of them is served until the asset is ready again."""
    from lms.core.storage import media_path
    from lms.media.models import MediaStatus

    _, lesson = _video_lesson(db_session)
    asset = lesson.media_asset
    base = f"renditions/{asset.id}/7"
    with app.app_context():
        (media_path(base) / "hls").mkdir(parents=True, exist_ok=True)
        media_path(f"{base}/hls/master.m3u8").write_text("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nindex.m3u8\n")
        media_path(f"{base}/hls/seg_0000.ts").write_bytes(b"\x47" * 376)  # half of a segment
        media_path(f"{base}/poster.jpg").write_bytes(b"\xff\xd8\xff")
    asset.hls_path, asset.poster_path = f"{base}/hls/master.m3u8", f"{base}/poster.jpg"
    login(make_user())
    urls = [f"/media/{asset.id}/video", f"/media/{asset.id}/poster", f"/media/{asset.id}/hls/master.m3u8",
            f"/media/{asset.id}/hls/seg_0000.ts"]
    for status in (MediaStatus.PROCESSING, MediaStatus.FAILED, MediaStatus.UPLOADED):
        asset.status = status
        db_session.commit()
        for url in urls:
            with client.get(url) as answer:
                assert answer.status_code == 404, (status, url)
    asset.status = MediaStatus.READY
    db_session.commit()
    for url in urls:
        with client.get(url) as answer:
            assert answer.status_code == 200, url


def test_the_library_says_a_stalled_transcode_is_retried_by_itself_until_the_retries_are_spent(
        app, client, db_session, make_user, login):
    from datetime import timedelta

    from lms.core.clock import utcnow_naive
    from lms.media.models import MediaStatus

    course, lesson = _video_lesson(db_session)
    asset = lesson.media_asset
    asset.status, asset.progress, asset.transcode_retries = MediaStatus.PROCESSING, 40, 0
    asset.updated_at = utcnow_naive() - timedelta(seconds=app.config["LMS_TRANSCODE_STALL_SECONDS"] + 60)
    db_session.commit()
    login(make_user(roles=(Role.PUBLISHER,), organization=course.publisher))
    page = client.get("/publish/media").get_data(as_text=True)
    assert "转码中断" in page and "自动重试" in page and "重新转码" in page
    asset.transcode_retries = app.config["LMS_TRANSCODE_MAX_RETRIES"]
    asset.updated_at = utcnow_naive() - timedelta(seconds=app.config["LMS_TRANSCODE_STALL_SECONDS"] + 60)
    db_session.commit()
    page = client.get("/publish/media").get_data(as_text=True)
    assert "转码中断" in page and "自动重试" not in page and "重新转码" in page
