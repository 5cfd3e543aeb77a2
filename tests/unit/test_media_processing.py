"""Uploads, probing, transcoding and captions with the real ffmpeg."""

import io
import json
import subprocess

import pytest
from sqlalchemy import func, select

from lms.accounts.models import OrgKind
from lms.accounts.services import get_or_create_organization
from lms.core.errors import InvalidInput
from lms.core.storage import media_path, media_root
from lms.media import services
from lms.media.models import MediaAsset, MediaStatus

pytestmark = pytest.mark.usefixtures("ctx")


@pytest.fixture
def org(db_session):
    return get_or_create_organization("测试继续教育基地", OrgKind.PUBLISHER)


def files_under(root):
    return {p for p in root.rglob("*") if p.is_file()}


def upload(path, org, name=None, max_bytes=50 * 1024 * 1024):
    with open(path, "rb") as fh:
        return services.save_upload(fh, original_name=name or path.name, organization=org, max_bytes=max_bytes)


def test_upload_is_probed_and_stored_by_content_hash(clips, org, db_session):
    asset = upload(clips["video"], org)
    assert asset.status == MediaStatus.UPLOADED and asset.duration_seconds == 4
    assert (asset.width, asset.height) == (320, 240)
    assert asset.sha256 in asset.path and media_path(asset.path).read_bytes() == clips["video"].read_bytes()
    assert not list((media_root() / "incoming").iterdir())


@pytest.mark.parametrize("clip, reason", [
    ("not_video", "不是可以播放的视频文件"),
    ("truncated", "不是可以播放的视频文件|无法读出"),
    ("audio_only", "没有视频画面"),
])
def test_bad_uploads_are_refused_and_leave_nothing(clips, org, db_session, clip, reason):
    before_files = files_under(media_root())
    before_rows = db_session.scalar(select(func.count(MediaAsset.id)))
    with pytest.raises(InvalidInput, match=reason):
        upload(clips[clip], org)
    assert files_under(media_root()) == before_files
    assert db_session.scalar(select(func.count(MediaAsset.id))) == before_rows


def test_unsupported_extension_and_oversize(clips, org, db_session):
    before = files_under(media_root())
    with pytest.raises(InvalidInput, match="支持的视频格式"):
        upload(clips["video"], org, name="lecture.exe")
    with pytest.raises(services.UploadTooLarge, match="大小上限"):
        upload(clips["video"], org, max_bytes=10_000)
    with pytest.raises(InvalidInput, match="空文件"):
        services.save_upload(io.BytesIO(b""), original_name="empty.mp4", organization=org, max_bytes=1000)
    assert files_under(media_root()) == before


def ffprobe(path):
    out = subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
                         check=True, capture_output=True).stdout
    return json.loads(out)


def test_transcode_makes_h264_aac_mp4_hls_and_poster_with_progress(clips, org, db_session):
    asset = upload(clips["video"], org)
    seen = []
    services.transcode_asset(asset, report=seen.append)
    mp4 = ffprobe(media_path(asset.mp4_path))
    codecs = {s["codec_type"]: s["codec_name"] for s in mp4["streams"]}
    assert codecs == {"video": "h264", "audio": "aac"}
    assert abs(float(mp4["format"]["duration"]) - 4) < 0.5
    # faststart: the moov atom comes before the media data
    head = media_path(asset.mp4_path).read_bytes()[:4096]
    assert head.find(b"moov") != -1 and (head.find(b"mdat") == -1 or head.find(b"moov") < head.find(b"mdat"))
    master = media_path(asset.hls_path).read_text()
    assert master.startswith("#EXTM3U") and "index.m3u8" in master
    playlist = media_path(asset.hls_path).parent / "index.m3u8"
    assert "#EXT-X-ENDLIST" in playlist.read_text() and list(playlist.parent.glob("seg_*.ts"))
    assert media_path(asset.poster_path).read_bytes()[:2] == b"\xff\xd8"
    assert seen == sorted(seen) and seen[-1] == 1.0


def test_video_without_sound_transcodes_too(clips, org, db_session):
    asset = upload(clips["no_audio"], org)
    services.transcode_asset(asset, report=lambda f: None)
    assert {s["codec_type"] for s in ffprobe(media_path(asset.mp4_path))["streams"]} == {"video"}


def test_a_failed_transcode_says_why_and_leaves_no_partial_output(clips, org, db_session):
    asset = upload(clips["video"], org)
    media_path(asset.path).write_bytes(b"corrupted after upload")
    with pytest.raises(services.TranscodeError) as info:
        services.transcode_asset(asset, report=lambda f: None)
    assert str(info.value)
    assert not media_path(f"renditions/{asset.id}.partial").exists()
    assert asset.mp4_path is None


def test_stalled_job_can_be_retried(clips, org, db_session, app):
    from datetime import timedelta

    from lms.core import clock

    asset = upload(clips["video"], org)
    asset.status = MediaStatus.PROCESSING
    asset.updated_at = clock.utcnow_naive()
    with pytest.raises(Exception, match="正在转码"):
        services.mark_for_transcode(asset)
    with clock.freeze(clock.now() + timedelta(seconds=app.config["LMS_TRANSCODE_STALL_SECONDS"] + 1)):
        assert services.is_stalled(asset)
        services.mark_for_transcode(asset)
    assert asset.status == MediaStatus.UPLOADED and asset.progress == 0


def test_captions_srt_become_webvtt(clips, org, db_session):
    asset = upload(clips["video"], org)
    with open(clips["srt"], "rb") as fh:
        services.save_captions(asset, fh, original_name="captions.srt")
    text = media_path(asset.captions_path).read_text(encoding="utf-8")
    assert text.startswith("WEBVTT") and "00:00.000 --> 00:02.000" in text and "欢迎学习本课程" in text


@pytest.mark.parametrize("name, data, reason", [
    ("subs.txt", b"hello", "SRT 或 WebVTT"),
    ("subs.srt", "无时间轴的文字".encode("gbk"), "UTF-8"),
    ("subs.srt", "只是一段文字，没有时间轴。".encode(), "时间轴|没有字幕条目"),
])
def test_bad_captions_are_refused(clips, org, db_session, name, data, reason):
    asset = upload(clips["video"], org)
    with pytest.raises(InvalidInput, match=reason):
        services.save_captions(asset, io.BytesIO(data), original_name=name)
    assert asset.captions_path is None
