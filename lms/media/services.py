"""Probing, storing and generating video with ffmpeg (through ffmpeg-python)."""

import ctypes
import ctypes.util
import functools
import hashlib
import io
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import ffmpeg
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select, update

from ..core.audit import record_event
from ..core.clock import utcnow_naive
from ..core.errors import Conflict, InvalidInput
from ..core.storage import is_local, media_root, media_storage
from ..extensions import db
from .models import MediaAsset, MediaStatus

log = logging.getLogger(__name__)

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
    unplayable = _("“%(name)s”不是可以播放的视频文件（无法识别其格式），请上传 MP4、MOV、MKV 或 WebM 视频。", name=name)
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
        raise InvalidInput(_("“%(name)s”中没有视频画面（可能是纯音频文件），请上传包含画面的视频。", name=name))
    try:
        duration = float(info.get("format", {}).get("duration") or video[0].get("duration") or 0)
    except ValueError:
        duration = 0
    if duration <= 0:
        raise InvalidInput(_("无法读出“%(name)s”的时长，文件可能已损坏或不完整，请重新导出后上传。", name=name))
    return ProbeResult(duration_seconds=duration, width=int(video[0].get("width") or 0),
                       height=int(video[0].get("height") or 0),
                       has_audio=any(s.get("codec_type") == "audio" for s in info["streams"]))


def cjk_font() -> str:
    configured = current_app.config["LMS_CJK_FONT"]
    for candidate in ([configured] if configured else []) + list(_FONT_CANDIDATES):
        if candidate and os.path.exists(candidate):
            return candidate
    raise RuntimeError(_("未找到中文字体，请安装 fonts-wqy-zenhei（make setup 会自动安装）。"))


def generate_demo_video(out_path: Path, *, title: str, subtitle: str, seconds: int) -> None:
    """A silent title card with a running clock: the stand-in for missing courseware video. Cheap at
    any length (a lesson's worth of minutes): one frame a second, a keyframe every 30 s, no sound;
    about 0.5 MB for 40 minutes."""
    font = cjk_font()
    with tempfile.TemporaryDirectory() as tmp:
        title_file, subtitle_file = Path(tmp, "title.txt"), Path(tmp, "subtitle.txt")
        title_file.write_text(title, encoding="utf-8")
        subtitle_file.write_text(subtitle, encoding="utf-8")
        video = (
            ffmpeg.input(f"color=c=0x1d3b6f:s=640x360:r=1:d={seconds}", f="lavfi")
            .drawtext(fontfile=font, textfile=str(title_file), fontsize=30, fontcolor="white",
                      x="(w-text_w)/2", y="(h-text_h)/2-40")
            .drawtext(fontfile=font, textfile=str(subtitle_file), fontsize=20, fontcolor="0xd0dcf0",
                      x="(w-text_w)/2", y="(h-text_h)/2+10")
            .drawtext(fontfile=font, text="%{pts:hms}", fontsize=18, fontcolor="0xd0dcf0",
                      x="(w-text_w)/2", y="h-50")
        )
        partial = Path(tmp, "out.mp4")
        (
            ffmpeg.output(video, str(partial), vcodec="libx264", preset="veryfast", tune="stillimage", crf=35,
                          pix_fmt="yuv420p", movflags="+faststart", g=30)
            .global_args("-hide_banner", "-loglevel", "error")
            .overwrite_output()
            .run(capture_stdout=True, capture_stderr=True)
        )
        out_path.parent.mkdir(parents=True, exist_ok=True)
        # Whole or not at all under its name: another process may be reading the shared demo cache.
        staged = out_path.with_name(f".{out_path.name}.{os.getpid()}.partial")
        shutil.move(partial, staged)
        os.replace(staged, out_path)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def store_video(source: Path, *, original_name: str, organization=None,
                created_files: list[Path] | None = None) -> MediaAsset:
    """Probe a video, copy it into the media root under its content hash, and record it.

    Keys of objects this call stores are appended to ``created_files`` so a caller whose
    transaction fails can remove them (:func:`lms.core.storage.remove_created`).
    """
    probe = probe_video(source, display_name=original_name)
    digest = sha256_file(source)
    suffix = Path(original_name).suffix.lower() or ".mp4"
    relative = f"videos/{digest[:2]}/{digest}{suffix}"
    storage = media_storage()
    if not storage.exists(relative):
        with open(source, "rb") as fh:
            storage.save(relative, fh)
        if created_files is not None:
            created_files.append(relative)
    asset = MediaAsset(
        organization_id=getattr(organization, "id", None), original_name=original_name[:255], path=relative, sha256=digest,
        size_bytes=os.path.getsize(source), content_type=VIDEO_TYPES[suffix], duration_seconds=max(1, round(probe.duration_seconds)),
        width=probe.width, height=probe.height, status=MediaStatus.READY,
        # Generated and packaged clips are H.264/AAC with faststart already, so they play as they are.
        mp4_path=relative if suffix in (".mp4", ".m4v") else None, progress=100,
    )
    db.session.add(asset)
    return asset


def demo_cache_dir() -> Path:
    configured = current_app.config["LMS_DEMO_CACHE"]
    path = Path(configured) if configured else media_root() / "demo-cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


# ---------------------------------------------------------------- uploads and transcoding

class UploadTooLarge(InvalidInput):
    status = 413


def save_upload(stream, *, original_name: str, organization, max_bytes: int) -> MediaAsset:
    """Copy an uploaded video to disk in chunks (never whole into memory), probe it, and record it.

    The single-request form's path (uploads in parts end in :func:`ingest_video` too).
    A refused file leaves neither a file nor a row behind.
    """
    name = Path(original_name or "video").name
    suffix = Path(name).suffix.lower()
    if suffix not in VIDEO_TYPES:
        raise InvalidInput(_("“%(name)s”不是支持的视频格式，请上传 MP4、MOV、MKV 或 WebM 视频。", name=name))
    storage = media_storage()
    local = is_local(storage)
    incoming = media_root() / "incoming" if local else Path(tempfile.gettempdir())
    incoming.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=incoming, suffix=suffix)
    temp = Path(temp_name)
    digest, size = hashlib.sha256(), 0
    try:
        with os.fdopen(fd, "wb") as out:
            for block in iter(lambda: stream.read(1 << 20), b""):
                size += len(block)
                if size > max_bytes:
                    raise UploadTooLarge(_("视频超过大小上限 %(mb)s MB，请压缩后再上传。", mb=max_bytes // (1024 * 1024)))
                digest.update(block)
                out.write(block)
        if size == 0:
            raise InvalidInput(_("“%(name)s”是空文件。", name=name))
        if not local:  # into the object store, then gone from this node
            with open(temp, "rb") as fh:
                storage.save(f"incoming/{temp.name}", fh)
            temp.unlink()
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return ingest_video(f"incoming/{temp.name}", original_name=name, organization=organization,
                        sha256=digest.hexdigest())


@dataclass(frozen=True)
class PreparedVideo:
    original_name: str
    path: str  # the storage key, under the content hash
    sha256: str
    size_bytes: int
    suffix: str
    probe: ProbeResult


def prepare_video(key: str, *, original_name: str, sha256: str | None = None) -> PreparedVideo:
    """Probe the stored object ``key`` (an upload, whole) and move it under its content hash; no
    database work, so a long hash of a large file holds no transaction. A refused file is
    deleted and InvalidInput says why."""
    storage = media_storage()
    name = Path(original_name or "video").name
    suffix = Path(name).suffix.lower()
    try:
        if suffix not in VIDEO_TYPES:
            raise InvalidInput(_("“%(name)s”不是支持的视频格式，请上传 MP4、MOV、MKV 或 WebM 视频。", name=name))
        size = storage.size(key)
        if size == 0:
            raise InvalidInput(_("“%(name)s”是空文件。", name=name))
        with storage.local_path(key) as local:
            probe = probe_video(local, display_name=name)
        if sha256 is None:
            digest = hashlib.sha256()
            with storage.open(key) as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
            sha256 = digest.hexdigest()
        relative = f"videos/{sha256[:2]}/{sha256}{suffix}"
        storage.move(key, relative)
    except BaseException:
        storage.delete(key)
        raise
    return PreparedVideo(name[:255], relative, sha256, size, suffix, probe)


def record_video(prepared: PreparedVideo, *, organization) -> MediaAsset:
    """The media asset of a prepared video, waiting to be transcoded. Flushes."""
    asset = MediaAsset(
        organization_id=organization.id, original_name=prepared.original_name, path=prepared.path,
        sha256=prepared.sha256, size_bytes=prepared.size_bytes, content_type=VIDEO_TYPES[prepared.suffix],
        duration_seconds=max(1, round(prepared.probe.duration_seconds)), width=prepared.probe.width,
        height=prepared.probe.height, status=MediaStatus.UPLOADED, progress=0,
    )
    db.session.add(asset)
    db.session.flush()
    return asset


def ingest_video(key: str, *, original_name: str, organization, sha256: str | None = None) -> MediaAsset:
    """:func:`prepare_video` then :func:`record_video`: a stored upload into the media library."""
    return record_video(prepare_video(key, original_name=original_name, sha256=sha256), organization=organization)


def is_stalled(asset: MediaAsset) -> bool:
    """A job that stopped reporting (its worker died) can be retried instead of waiting forever."""
    if asset.status != MediaStatus.PROCESSING:
        return False
    limit = current_app.config["LMS_TRANSCODE_STALL_SECONDS"]
    return (utcnow_naive() - asset.updated_at).total_seconds() > limit


def mark_for_transcode(asset: MediaAsset) -> None:
    if asset.status == MediaStatus.PROCESSING and not is_stalled(asset):
        raise Conflict(_("这段视频正在转码，请等待完成。"))
    asset.status, asset.progress, asset.error = MediaStatus.UPLOADED, 0, None
    asset.transcode_retries = 0  # a publisher's start: the automatic retries count afresh
    asset.updated_at = utcnow_naive()


class Superseded(Exception):
    """This transcode is no longer the asset's latest attempt (the sweep retried it, or a publisher
    started another): it stops and publishes nothing."""


def claim_transcode(asset_id: int) -> MediaAsset | None:
    """Start the next transcode attempt of an asset waiting for one (uploaded, failed, or stalled),
    under the row's lock: of two jobs for one asset, one claims it. None when there is nothing to
    do (missing, ready, or being transcoded by a live job). The caller commits."""
    asset = db.session.scalar(select(MediaAsset).where(MediaAsset.id == asset_id).with_for_update()
                              .execution_options(populate_existing=True))
    if asset is None or asset.status == MediaStatus.READY or (asset.status == MediaStatus.PROCESSING
                                                              and not is_stalled(asset)):
        return None
    asset.status, asset.progress, asset.error = MediaStatus.PROCESSING, 0, None
    asset.transcode_attempt += 1
    asset.updated_at = utcnow_naive()
    log.info("transcoding media asset %s, attempt %s", asset.id, asset.transcode_attempt)
    return asset


def report_progress(asset_id: int, attempt: int, percent: int) -> None:
    """The progress of attempt ``attempt``, and its sign of life for the stall sweep; raises
    Superseded when the attempt no longer owns the asset. The caller commits."""
    owned = db.session.execute(
        update(MediaAsset).where(MediaAsset.id == asset_id, MediaAsset.transcode_attempt == attempt,
                                 MediaAsset.status == MediaStatus.PROCESSING)
        .values(progress=percent, updated_at=utcnow_naive()).execution_options(synchronize_session=False)).rowcount
    if owned != 1:
        raise Superseded(asset_id)


def rendition_base(asset: MediaAsset) -> str:
    """Where an attempt's renditions are published: a folder of their own per attempt, so a
    retried (or repeated) transcode never writes over files that are, or were, named."""
    return f"renditions/{asset.id}/{asset.transcode_attempt}"


def publish_transcode(asset_id: int, attempt: int, paths: dict[str, str]) -> bool:
    """Attempt ``attempt`` finished and stored its renditions: the asset names them and is ready,
    if the attempt still owns it (under the row's lock). Older renditions go after the caller's
    commit (:func:`discard_old_renditions`). False when superseded: the caller deletes its files."""
    asset = db.session.scalar(select(MediaAsset).where(MediaAsset.id == asset_id).with_for_update()
                              .execution_options(populate_existing=True))
    if asset is None or asset.transcode_attempt != attempt or asset.status != MediaStatus.PROCESSING:
        return False
    asset.mp4_path, asset.hls_path, asset.poster_path = paths["mp4"], paths["hls"], paths["poster"]
    asset.status, asset.progress, asset.error = MediaStatus.READY, 100, None
    return True


def discard_old_renditions(asset: MediaAsset) -> None:
    """Renditions of the asset's earlier attempts (finished, or cut off half-way by a dead worker),
    and those stored before attempts had folders of their own: none of them is named any more."""
    storage = media_storage()
    keep = rendition_base(asset)
    if asset.mp4_path is None or not asset.mp4_path.startswith(f"{keep}/"):
        return
    for legacy in ("video.mp4", "poster.jpg", "hls"):
        storage.delete(f"renditions/{asset.id}/{legacy}")
    for earlier in range(asset.transcode_attempt):
        storage.delete(f"renditions/{asset.id}/{earlier}")


def _stall_cutoff(now):
    return now - timedelta(seconds=current_app.config["LMS_TRANSCODE_STALL_SECONDS"])


def _stalled(cutoff):
    return (MediaAsset.status == MediaStatus.PROCESSING) & (MediaAsset.updated_at < cutoff)


def _waiting(cutoff, queued: set[int]):
    """Waiting for a transcode since before ``cutoff`` with no job in the queue: its job was never
    queued (the queue was down when the video was uploaded) or was lost with it."""
    waiting = (MediaAsset.status == MediaStatus.UPLOADED) & (MediaAsset.updated_at < cutoff)
    return waiting & MediaAsset.id.not_in(queued) if queued else waiting


def any_transcode_to_sweep(queued: set[int]) -> bool:
    """Whether a transcode has stopped reporting or waits without a job (``queued``: the assets with
    a job in the queue): a read, so the minute's sweep takes the write lock (SQLite's, for the whole
    database) only when it has something to claim."""
    cutoff = _stall_cutoff(utcnow_naive())
    return db.session.scalar(select(select(MediaAsset.id).where(_stalled(cutoff) | _waiting(cutoff, queued))
                                    .exists()))


def sweep_waiting_transcodes(queued: set[int]) -> list[int]:
    """Videos waiting for a transcode for LMS_TRANSCODE_STALL_SECONDS with no job in the queue
    (``queued``): the caller queues a job for each after its commit. Each is claimed by one
    conditional UPDATE of its time, so of several workers sweeping at once one queues it, and not
    again for another stall period. The caller commits."""
    now = utcnow_naive()
    cutoff = _stall_cutoff(now)
    requeued = []
    for asset_id in db.session.scalars(select(MediaAsset.id).where(_waiting(cutoff, queued)).order_by(MediaAsset.id)):
        claimed = db.session.execute(
            update(MediaAsset).where(MediaAsset.id == asset_id, MediaAsset.status == MediaStatus.UPLOADED,
                                     MediaAsset.updated_at < cutoff)
            .values(updated_at=now).execution_options(synchronize_session=False)).rowcount
        if claimed == 1:
            log.warning("media asset %s was waiting for a transcode with no job in the queue: queued again", asset_id)
            requeued.append(asset_id)
    return requeued


def sweep_stalled_transcodes() -> list[int]:
    """Transcodes whose worker stopped reporting for LMS_TRANSCODE_STALL_SECONDS (it died: SIGKILL,
    a lost machine): each is put back to wait for a transcode (the caller enqueues the returned ids
    after its commit), or, past LMS_TRANSCODE_MAX_RETRIES automatic retries, failed with a message
    for the publisher. Each stall is claimed by one conditional UPDATE, so of several workers
    sweeping at once exactly one retries it; each claim is audited. The caller commits."""
    now = utcnow_naive()
    cutoff = _stall_cutoff(now)
    limit = current_app.config["LMS_TRANSCODE_MAX_RETRIES"]
    stalled = db.session.execute(select(MediaAsset.id, MediaAsset.transcode_attempt, MediaAsset.transcode_retries)
                                 .where(_stalled(cutoff)).order_by(MediaAsset.id)).all()
    retried = []
    for asset_id, attempt, retries in stalled:
        give_up = retries >= limit
        if give_up:
            values = {"status": MediaStatus.FAILED, "error": _(
                "转码多次中断（处理它的后台进程停止响应，已自动重试 %(n)s 次）。请点击“重新转码”再试一次；"
                "如果仍然失败，请检查视频文件后重新上传。", n=retries)}
        else:
            values = {"status": MediaStatus.UPLOADED, "progress": 0, "transcode_retries": retries + 1}
        claimed = db.session.execute(
            update(MediaAsset).where(MediaAsset.id == asset_id, MediaAsset.status == MediaStatus.PROCESSING,
                                     MediaAsset.transcode_attempt == attempt, MediaAsset.updated_at < cutoff)
            .values(updated_at=now, **values).execution_options(synchronize_session=False)).rowcount
        if claimed != 1:
            continue  # another sweep, or the job itself, got there first
        target = db.session.get(MediaAsset, asset_id)
        if give_up:
            record_event(None, "media.transcode_given_up", target, attempt=attempt, retries=retries)
            log.warning("media asset %s: transcode attempt %s stalled, %s retries spent: failed",
                        asset_id, attempt, retries)
        else:
            record_event(None, "media.transcode_retried", target, attempt=attempt, retry=retries + 1)
            log.warning("media asset %s: transcode attempt %s stalled (its worker stopped reporting): "
                        "retry %s of %s", asset_id, attempt, retries + 1, limit)
            retried.append(asset_id)
    return retried


# ffmpeg runs as a child of the worker: when the worker dies without a word (SIGKILL, the OOM
# killer), the child must not go on writing renditions nobody will publish, holding a core.
PR_SET_PDEATHSIG = 1


@functools.cache
def _libc():
    return ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def _dies_with_parent():
    """A ``preexec_fn`` that has the kernel SIGKILL the child when the thread that started it
    ends (Linux's PR_SET_PDEATHSIG; a worker's threads live as long as the worker), or None
    elsewhere. If the parent died before the child set it, the child ends itself."""
    if not sys.platform.startswith("linux"):
        return None
    prctl, parent = _libc().prctl, os.getpid()  # resolved before the fork: the child only calls it

    def set_death_signal() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)

    return set_death_signal


def ffmpeg_process(stream, **popen) -> subprocess.Popen:
    """The command ``stream`` compiles to, started as a child that dies with this process."""
    return subprocess.Popen(ffmpeg.compile(stream), preexec_fn=_dies_with_parent(), **popen)


def _run_to_end(stream) -> None:
    """``stream.run(capture_stdout=True, capture_stderr=True)``, as a child that dies with this process."""
    process = ffmpeg_process(stream, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = process.communicate()
    except BaseException:
        process.kill()
        process.wait()
        raise
    if process.returncode != 0:
        raise ffmpeg.Error("ffmpeg", out, err)


class _ProgressReader:
    """Reads ffmpeg's ``-progress pipe:1`` lines and its stderr (for the failure reason) in threads,
    so neither pipe fills up; the caller's thread reads ``fraction`` and reports it."""

    def __init__(self, process, duration: float):
        self.process, self.duration = process, max(duration, 0.001)
        self.fraction = 0.0
        self.stderr_tail: list[str] = []
        self._threads = [threading.Thread(target=self._read_stdout, daemon=True),
                         threading.Thread(target=self._read_stderr, daemon=True)]
        for thread in self._threads:
            thread.start()

    def _read_stdout(self):
        for raw in self.process.stdout:
            line = raw.decode(errors="replace").strip()
            if line.startswith("out_time_us=") and line[12:].isdigit():
                self.fraction = min(1.0, int(line[12:]) / 1_000_000 / self.duration)

    def _read_stderr(self):
        for raw in self.process.stderr:
            self.stderr_tail = (self.stderr_tail + [raw.decode(errors="replace").rstrip()])[-12:]

    def join(self) -> None:
        for thread in self._threads:
            thread.join(timeout=5)


def _run_ffmpeg(stream, duration: float, on_progress, *, interval: float = 0.5) -> None:
    process = ffmpeg_process(stream.global_args("-hide_banner", "-nostats", "-progress", "pipe:1", "-loglevel", "error")
                             .overwrite_output(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    reader = _ProgressReader(process, duration)
    try:
        while True:
            try:
                process.wait(timeout=interval)
                break
            except subprocess.TimeoutExpired:
                on_progress(reader.fraction)
    except BaseException:
        process.kill()
        process.wait()
        raise
    finally:
        reader.join()
        process.stdout.close()
        process.stderr.close()
    if process.returncode != 0:
        raise TranscodeError("\n".join(line for line in reader.stderr_tail if line)
                             or _("ffmpeg 退出码 %(code)s", code=process.returncode))
    on_progress(1.0)


class TranscodeError(RuntimeError):
    pass


def rendition_commands(source: Path, work: Path, *, has_audio: bool, duration: float):
    """The three ffmpeg commands behind a transcode: MP4, HLS from that MP4, and a poster.

    Kept apart so the benchmark runs exactly these commands on their own.
    """
    inp = ffmpeg.input(str(source))
    streams = [inp.video] + ([inp.audio] if has_audio else [])
    mp4 = ffmpeg.output(*streams, str(work / "video.mp4"), vcodec="libx264", preset="veryfast", crf=23,
                        pix_fmt="yuv420p", vf="scale=trunc(min(iw\\,1280)/2)*2:-2", acodec="aac",
                        # a key frame every 2 s, so HLS can cut ~6 s segments when it copies the stream
                        force_key_frames="expr:gte(t,n_forced*2)",
                        audio_bitrate="128k", movflags="+faststart")
    hls = ffmpeg.output(ffmpeg.input(str(work / "video.mp4")), str(work / "hls" / "index.m3u8"), c="copy",
                        f="hls", hls_time=6, hls_playlist_type="vod",
                        hls_segment_filename=str(work / "hls" / "seg_%04d.ts"), master_pl_name="master.m3u8")
    poster = ffmpeg.input(str(work / "video.mp4"), ss=min(duration * 0.1, 5.0)).output(
        str(work / "poster.jpg"), vframes=1, vf="scale=640:-2")
    return mp4, hls, poster


def transcode_asset(asset: MediaAsset, *, report) -> None:
    """H.264/AAC faststart MP4, an HLS rendition with a master playlist, and a poster.

    ``report(fraction)`` is called as ffmpeg reports progress; the caller persists it (and may
    raise to stop ffmpeg: the work is thrown away). Output goes to a fresh work folder, stored under
    :func:`rendition_base` (the attempt's own folder) only when everything succeeded; the asset's
    paths are set in memory only: a job publishes them with :func:`publish_transcode`.
    """
    storage = media_storage()
    work = storage.work_folder()
    (work / "hls").mkdir(parents=True)
    duration = float(asset.duration_seconds)
    base = rendition_base(asset)
    try:
        with storage.local_path(asset.path) as source:
            try:
                has_audio = probe_video(source, display_name=asset.original_name).has_audio
            except InvalidInput as exc:
                raise TranscodeError(exc.message) from None
            mp4, hls, poster = rendition_commands(source, work, has_audio=has_audio, duration=duration)
            _run_ffmpeg(mp4, duration, lambda f: report(0.85 * f))
        _run_ffmpeg(hls, duration, lambda f: report(0.85 + 0.1 * f))
        _run_to_end(poster.global_args("-hide_banner", "-loglevel", "error").overwrite_output())
    except ffmpeg.Error as exc:
        shutil.rmtree(work, ignore_errors=True)
        raise TranscodeError((exc.stderr or b"").decode(errors="replace").strip()[-1500:] or str(exc)) from None
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    # Every rendition is stored before the asset names them (and the routes serve a ready asset's
    # only): nothing half-written is ever served.
    storage.put_folder(work, base)
    report(1.0)  # before the paths are set: a report may commit, and the paths are not to be flushed by it
    asset.mp4_path, asset.hls_path, asset.poster_path = f"{base}/video.mp4", f"{base}/hls/master.m3u8", f"{base}/poster.jpg"


def save_captions(asset: MediaAsset, stream, *, original_name: str, max_bytes: int = 2 * 1024 * 1024) -> None:
    """SRT or WebVTT in, WebVTT stored (converted by ffmpeg, which also rejects what is not captions)."""
    name = Path(original_name or "captions").name
    suffix = Path(name).suffix.lower()
    if suffix not in (".srt", ".vtt"):
        raise InvalidInput(_("字幕文件应为 SRT 或 WebVTT（.srt / .vtt）。"))
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise InvalidInput(_("字幕文件过大（上限 2 MB）。"))
    try:
        data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(_("字幕文件应为 UTF-8 编码，请另存为 UTF-8 后上传。")) from None
    with tempfile.TemporaryDirectory() as tmp:
        source, out = Path(tmp, "in" + suffix), Path(tmp, "out.vtt")
        source.write_bytes(data)
        try:
            ffmpeg.input(str(source)).output(str(out), f="webvtt").global_args(
                "-hide_banner", "-loglevel", "error").overwrite_output().run(capture_stdout=True, capture_stderr=True)
        except ffmpeg.Error:
            raise InvalidInput(_("无法读取字幕文件“%(name)s”，请检查时间轴格式。", name=name)) from None
        text = out.read_text(encoding="utf-8")
        if not text.startswith("WEBVTT") or "-->" not in text:
            raise InvalidInput(_("字幕文件“%(name)s”中没有字幕条目。", name=name))
        relative = f"captions/{asset.id}.vtt"
        media_storage().save(relative, io.BytesIO(text.encode("utf-8")))
    asset.captions_path = relative
