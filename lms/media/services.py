"""Probing, storing and generating video with ffmpeg (through ffmpeg-python)."""

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import ffmpeg
from flask import current_app
from sqlalchemy import select

from ..core.errors import InvalidInput
from ..core.storage import media_path, media_root
from ..extensions import db
from .models import MediaAsset, MediaStatus

_FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
)


# Containers accepted as courseware video, by file suffix and by what ffprobe finds inside.
VIDEO_TYPES = {".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime", ".mkv": "video/x-matroska",
               ".webm": "video/webm"}
_CONTAINERS = {"mov", "mp4", "matroska", "webm"}


@dataclass(frozen=True)
class ProbeResult:
    duration_seconds: float
    width: int
    height: int
    has_audio: bool


def probe_video(path: Path, *, display_name: str | None = None) -> ProbeResult:
    """Read duration and size; refuse anything that is not a playable video, saying why."""
    name = display_name or Path(path).name
    unplayable = f"“{name}”不是可以播放的视频文件（无法识别其格式），请上传 MP4、MOV、MKV 或 WebM 视频。"
    if Path(name).suffix.lower() not in VIDEO_TYPES:
        raise InvalidInput(unplayable)
    try:
        # Local files only: a playlist must not make ffprobe open other files or URLs.
        info = ffmpeg.probe(str(path), protocol_whitelist="file")
    except ffmpeg.Error:
        raise InvalidInput(unplayable) from None
    if not _CONTAINERS & set(info.get("format", {}).get("format_name", "").split(",")):
        raise InvalidInput(unplayable)
    video = [s for s in info.get("streams", []) if s.get("codec_type") == "video"
             and s.get("disposition", {}).get("attached_pic") != 1]
    if not video:
        raise InvalidInput(f"“{name}”中没有视频画面（可能是纯音频文件），请上传包含画面的视频。")
    try:
        duration = float(info.get("format", {}).get("duration") or video[0].get("duration") or 0)
    except ValueError:
        duration = 0
    if duration <= 0:
        raise InvalidInput(f"无法读出“{name}”的时长，文件可能已损坏或不完整，请重新导出后上传。")
    return ProbeResult(duration_seconds=duration, width=int(video[0].get("width") or 0),
                       height=int(video[0].get("height") or 0),
                       has_audio=any(s.get("codec_type") == "audio" for s in info["streams"]))


def cjk_font() -> str:
    configured = current_app.config.get("LMS_CJK_FONT")
    for candidate in ([configured] if configured else []) + list(_FONT_CANDIDATES):
        if candidate and os.path.exists(candidate):
            return candidate
    raise RuntimeError("未找到中文字体，请安装 fonts-wqy-zenhei（make setup 会自动安装）。")


def generate_demo_video(out_path: Path, *, title: str, subtitle: str, seconds: int) -> None:
    """A title card with a running clock and a quiet tone: the stand-in for missing courseware video."""
    font = cjk_font()
    with tempfile.TemporaryDirectory() as tmp:
        title_file, subtitle_file = Path(tmp, "title.txt"), Path(tmp, "subtitle.txt")
        title_file.write_text(title, encoding="utf-8")
        subtitle_file.write_text(subtitle, encoding="utf-8")
        video = (
            ffmpeg.input(f"color=c=0x1d3b6f:s=640x360:r=10:d={seconds}", f="lavfi")
            .drawtext(fontfile=font, textfile=str(title_file), fontsize=30, fontcolor="white",
                      x="(w-text_w)/2", y="(h-text_h)/2-40")
            .drawtext(fontfile=font, textfile=str(subtitle_file), fontsize=20, fontcolor="0xd0dcf0",
                      x="(w-text_w)/2", y="(h-text_h)/2+10")
            .drawtext(fontfile=font, text="%{pts:hms}", fontsize=18, fontcolor="0xd0dcf0",
                      x="(w-text_w)/2", y="h-50")
        )
        audio = ffmpeg.input(f"sine=frequency=440:sample_rate=44100:duration={seconds}", f="lavfi").filter(
            "volume", 0.1)
        partial = Path(tmp, "out.mp4")
        (
            ffmpeg.output(video, audio, str(partial), vcodec="libx264", preset="veryfast", pix_fmt="yuv420p",
                          acodec="aac", audio_bitrate="64k", movflags="+faststart", g=20)
            .global_args("-hide_banner", "-loglevel", "error")
            .overwrite_output()
            .run(capture_stdout=True, capture_stderr=True)
        )
        out_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(partial, out_path)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def store_video(source: Path, *, original_name: str, organization=None,
                created_files: list[Path] | None = None) -> MediaAsset:
    """Probe a video, copy it into the media root under its content hash, and record it.

    Paths of files this call creates are appended to ``created_files`` so a caller whose
    transaction fails can remove them.
    """
    probe = probe_video(source, display_name=original_name)
    digest = sha256_file(source)
    suffix = Path(original_name).suffix.lower() or ".mp4"
    relative = f"videos/{digest[:2]}/{digest}{suffix}"
    target = media_path(relative)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        if created_files is not None:
            created_files.append(target)
    asset = MediaAsset(
        organization_id=getattr(organization, "id", None), original_name=original_name[:255], path=relative, sha256=digest,
        size_bytes=target.stat().st_size, content_type=VIDEO_TYPES[suffix], duration_seconds=max(1, round(probe.duration_seconds)),
        width=probe.width, height=probe.height, status=MediaStatus.READY,
        # Generated and packaged clips are H.264/AAC with faststart already, so they play as they are.
        mp4_path=relative if suffix in (".mp4", ".m4v") else None, progress=100,
    )
    db.session.add(asset)
    return asset


def demo_cache_dir() -> Path:
    configured = current_app.config.get("LMS_DEMO_CACHE")
    path = Path(configured) if configured else media_root() / "demo-cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


def can_view(actor, asset: MediaAsset) -> bool:
    """Published courseware is open to signed-in users; anything else only to its organization's
    publishers, reviewers and admins."""
    from ..accounts.models import Role
    from ..catalog.models import Chapter, Course, CourseStatus, Lesson

    if actor is None or not getattr(actor, "is_authenticated", False):
        return False
    published = db.session.scalar(
        select(Lesson.id).join(Chapter).join(Course)
        .where(Lesson.media_asset_id == asset.id, Course.status == CourseStatus.PUBLISHED).limit(1)
    )
    if published is not None:
        return True
    if actor.has_role(Role.ADMIN) or actor.has_role(Role.REVIEWER):
        return True
    return any(g.organization_id == asset.organization_id for g in actor.grants_for(Role.PUBLISHER))
