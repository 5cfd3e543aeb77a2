"""The player in Chromium with the platform on object storage (moto's S3 server on loopback): the
course's videos are imported into the bucket, a transcode worker reads the source from it and stores
the renditions there, and the lesson plays with every byte of video fetched from the store through
signed links (the MP4 by redirect, HLS segments named in the rewritten playlist); the page's
Content-Security-Policy lets in the store's origin and nothing else."""

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from lms.catalog.models import Lesson
from lms.extensions import db
from lms.learning.models import LessonProgress
from lms.media import services as media
from lms.media.models import MediaAsset, MediaStatus
from tests.conftest import build_database, fresh_database, make_test_app
from tests.e2e.conftest import enrolled_learner, serving, until
from tests.e2e.test_learning_player import play, sign_in
from tests.s3_helpers import aws_credentials, new_bucket, s3_server

pytestmark = pytest.mark.e2e
CODE = "GX-NS-001"


@pytest.fixture(scope="module")
def site(tmp_path_factory, live_server):
    tmp = tmp_path_factory.mktemp("s3player")
    with aws_credentials(), s3_server(tmp / "moto.log") as endpoint, fresh_database(tmp, "s3player") as url:
        bucket = new_bucket(endpoint)
        app = make_test_app(url, tmp, LMS_HEARTBEAT_SECONDS=2, LMS_STORAGE_URL=f"s3://{bucket}",
                            LMS_S3_ENDPOINT_URL=endpoint)
        build_database(app, packages=(CODE,))
        with serving(app) as base:
            yield app, base, endpoint


def watched(app, user_id, lesson_id) -> int:
    with app.app_context():
        row = db.session.scalar(select(LessonProgress).where(LessonProgress.user_id == user_id,
                                                             LessonProgress.lesson_id == lesson_id))
        db.session.remove()
        return row.watched_seconds if row else 0


def requests_of(page: Page) -> list[str]:
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url))
    return seen


def test_an_imported_mp4_plays_from_the_bucket(page: Page, site):
    app, base, endpoint = site
    user_id, mobile, lessons = enrolled_learner(app, CODE)
    with app.app_context():
        asset = db.session.get(Lesson, lessons[0]).media_asset
        assert asset.hls_path is None and asset.mp4_path  # imported clips play as they are
        db.session.remove()
    assert not list(Path(app.config["LMS_MEDIA_ROOT"]).glob("videos/*/*"))  # nothing on the node's disk
    seen = requests_of(page)
    sign_in(page, base, mobile)
    answer = page.goto(f"{base}/learn/{CODE}/{lessons[0]}")
    assert endpoint in answer.headers["content-security-policy"]
    play(page)
    until(page, "document.getElementById('lesson-video').currentTime > 1.5", timeout=20)
    # The element asked the app (currentSrc stays /media/<id>/video), which redirected it to the store.
    assert any(url.startswith(endpoint) and "X-Amz-Signature=" in url and "/videos/" in url for url in seen)
    expect(page.locator("#st-watched")).not_to_have_text("0", timeout=10_000)
    assert watched(app, user_id, lessons[0]) >= 1


def test_a_transcoded_lesson_fetches_its_hls_segments_from_the_bucket(page: Page, site):
    """(Whether this headless Chromium then decodes the HLS rendition is not what is checked here: it
    does not reach readyState 1 on it; the MP4 test above checks playback and credit.)"""
    app, base, endpoint = site
    _user_id, mobile, lessons = enrolled_learner(app, CODE)
    assert len(lessons) >= 2  # the first stays as imported (the test above)
    with app.app_context():
        asset = db.session.get(Lesson, lessons[-1]).media_asset
        asset_id = asset.id
        media.transcode_asset(asset, report=lambda fraction: None)  # what the media worker runs
        asset.status = MediaStatus.READY
        db.session.commit()
        hls_path = db.session.get(MediaAsset, asset_id).hls_path
        assert hls_path and media.media_storage().exists(hls_path.replace("master.m3u8", "seg_0000.ts"))
        db.session.remove()
    seen = requests_of(page)
    sign_in(page, base, mobile)
    page.goto(f"{base}/learn/{CODE}/{lessons[-1]}")
    page.evaluate("() => { const v = document.getElementById('lesson-video'); v.muted = true; v.play().catch(() => {}); }")
    for _ in range(150):  # up to 30 s, waiting through Playwright so its handlers keep running
        if any("seg_0000.ts" in url for url in seen):
            break
        page.wait_for_timeout(200)
    # The playlists come from the app, rewritten; the first segment from the bucket, by a signed link.
    assert f"{base}/media/{asset_id}/hls/master.m3u8" in seen and f"{base}/media/{asset_id}/hls/index.m3u8" in seen
    segments = [url for url in seen if "seg_" in url]
    assert segments and all(url.startswith(endpoint) and "X-Amz-Expires=300" in url and "X-Amz-Signature=" in url
                            for url in segments)
    assert not any(url.startswith(f"{base}/media/") and ".ts" in url for url in seen)  # no video byte via the app
