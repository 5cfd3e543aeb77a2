"""Uploads in parts: large videos and course packages go up in chunks, resume after a dropped
connection, and leave nothing behind when they fail, are cancelled or are abandoned.

The protocol (JSON, routes in ``lms/publishing/routes.py``, client in ``static/js/publisher.js``;
every changing request carries the CSRF token in the ``X-CSRFToken`` header):

1. ``POST /publish/uploads`` ``{"kind": "media"|"package", "filename", "size", "organization_id"}``
   → 201 ``{"upload": {"id", "url", "offset": 0, "size", "part_size", "expires_at"}}``. The size is
   checked here, against the limit of the kind (``LMS_MAX_UPLOAD_MB`` for media,
   ``LMS_PACKAGE_MAX_MB`` for packages: 413), and so is the file name's type (400).
2. ``PATCH <url>`` with header ``Upload-Offset: <n>``, ``Content-Type:
   application/offset+octet-stream`` and ``part_size`` bytes (the last part: the rest) →
   200 ``{"upload": {..., "offset": <n + length>}}``. An offset other than the one the server
   holds is refused with 409 and the current offset (``error.code == "offset_mismatch"``), so a
   client that lost an answer carries on from there. A part cut off mid-way is not kept.
3. ``GET`` (or ``HEAD``) ``<url>`` → the upload with its current ``offset`` (also in the
   ``Upload-Offset`` header): how a page reloaded after a dropped connection resumes.
4. ``POST <url>/finish`` → the file is assembled and handed to the existing pipeline (a video:
   probed, stored, transcode queued; a package: validated, imported as drafts) and audited;
   201 with the asset, or with where the imported course is. A refused file answers 400 with
   the reasons, and its upload is gone: parts, file and row.
5. ``DELETE <url>`` cancels: parts and row are deleted (204).

An upload belongs to the person who created it; anyone else gets 404. Uploads idle for
``LMS_UPLOAD_TTL_HOURS`` expire: the media worker sweeps them every hour, and so does each
creation (a few at a time). One person may have ``LMS_UPLOAD_MAX_OPEN`` open uploads.

Parts go through :class:`lms.core.storage.Storage` (``begin_upload``/``write_part``/``complete``/
``abort``), so object storage with multipart uploads can take them; the offset lives in the
``upload`` row, which is the one truth about how far an upload got.
"""

import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select, update

from ..core.clock import utcnow_naive
from ..core.errors import Conflict, DomainError, InvalidInput, TooMany
from ..core.storage import PartBusy, PartIncomplete, media_storage
from ..extensions import db
from .models import Upload, UploadKind, UploadStatus
from .services import VIDEO_TYPES, UploadTooLarge

MB = 1024 * 1024


class OffsetMismatch(Conflict):
    code = "offset_mismatch"

    def __init__(self, message: str, *, offset: int):
        super().__init__(message)
        self.offset = offset


def size_limit(kind: str) -> int:
    """Bytes allowed for an upload of ``kind``: the setting of the route the file is for."""
    setting = "LMS_MAX_UPLOAD_MB" if kind == UploadKind.MEDIA else "LMS_PACKAGE_MAX_MB"
    return current_app.config[setting] * MB


def part_size() -> int:
    return current_app.config["LMS_UPLOAD_CHUNK_MB"] * MB


def _check_name(kind: str, filename: str) -> str:
    name = Path((filename or "").replace("\\", "/")).name.strip()
    if not name:
        raise InvalidInput(_("请选择要上传的文件。"))
    suffix = Path(name).suffix.lower()
    if kind == UploadKind.MEDIA and suffix not in VIDEO_TYPES:
        raise InvalidInput(_("“%(name)s”不是支持的视频格式，请上传 MP4、MOV、MKV 或 WebM 视频。", name=name))
    if kind == UploadKind.PACKAGE and suffix != ".zip":
        raise InvalidInput(_("课程包应为 .zip 文件。"))
    if len(name) > 255 or not name.isprintable():
        raise InvalidInput(_("文件名过长或含有控制字符，请改用简短的文件名（255 个字符以内）后重新选择文件。"))
    return name


def create_upload(actor, organization, *, kind: str, filename: str, total_bytes: int) -> Upload:
    """Open an upload of ``total_bytes`` for ``actor`` (who must be allowed to publish for
    ``organization``: the caller checks). Flushes; the caller commits."""
    sweep_expired_uploads(limit=20)
    if kind not in (UploadKind.MEDIA, UploadKind.PACKAGE):
        raise InvalidInput(_("上传类型不正确，请刷新页面后重试。"))
    name = _check_name(kind, filename)
    if not isinstance(total_bytes, int) or isinstance(total_bytes, bool) or total_bytes <= 0:
        raise InvalidInput(_("“%(name)s”是空文件。", name=name))
    limit = size_limit(kind)
    if total_bytes > limit:
        what = _("视频") if kind == UploadKind.MEDIA else _("课程包")
        raise UploadTooLarge(_("%(what)s“%(name)s”有 %(size)s MB，超过大小上限 %(limit)s MB，请压缩或拆分后再上传。",
                               what=what, name=name, size=format(total_bytes / MB, ".0f"), limit=limit // MB))
    open_count = db.session.scalar(select(func.count(Upload.id)).where(Upload.owner_id == actor.id))
    if open_count >= current_app.config["LMS_UPLOAD_MAX_OPEN"]:
        raise TooMany(_("您已有 %(n)s 个未完成的上传。请先完成或取消其中一些（未完成的上传 %(hours)s 小时无进展后自动清除）。",
                        n=open_count, hours=current_app.config["LMS_UPLOAD_TTL_HOURS"]))
    now = utcnow_naive()
    upload = Upload(owner_id=actor.id, organization_id=organization.id, kind=kind, filename=name,
                    total_bytes=total_bytes, received_bytes=0, part_bytes=part_size(),
                    status=UploadStatus.RECEIVING, storage_key="", storage_ref="", created_at=now, updated_at=now,
                    expires_at=now + timedelta(hours=current_app.config["LMS_UPLOAD_TTL_HOURS"]))
    db.session.add(upload)
    db.session.flush()
    # A random name: ids can come back after a rollback, a key never does.
    upload.storage_key = f"uploads/{upload.id}-{secrets.token_hex(8)}{Path(name).suffix.lower()}"
    upload.storage_ref = media_storage().begin_upload(upload.storage_key)
    db.session.flush()
    return upload


@dataclass(frozen=True)
class Part:
    """What a part needs to know about its upload, read before the body streams in (so no
    transaction or row is held meanwhile)."""

    upload_id: int
    offset: int
    length: int
    part_bytes: int
    storage_key: str
    storage_ref: str


def check_part(upload: Upload, offset: int | None, length: int | None) -> Part:
    """Refuse a part that does not continue the upload where it stands."""
    if upload.status != UploadStatus.RECEIVING:
        raise Conflict(_("这个文件已上传完毕，正在处理，不能再追加内容。"))
    if offset is None:
        raise InvalidInput(_("缺少上传位置（Upload-Offset），请刷新页面后继续上传。"))
    if upload.received_bytes >= upload.total_bytes:
        raise Conflict(_("这个文件的内容已全部收到，请点击完成上传。"))
    if offset != upload.received_bytes:
        raise OffsetMismatch(_("上传位置不一致：服务器已收到 %(received_bytes)s 字节，请从该位置继续。", received_bytes=upload.received_bytes),
                             offset=upload.received_bytes)
    if length is None:
        raise InvalidInput(_("缺少分片长度（Content-Length），请刷新页面后继续上传。"))
    expected = min(upload.part_bytes, upload.total_bytes - offset)
    if length != expected:
        raise InvalidInput(_("分片长度应为 %(expected)s 字节，实际为 %(length)s 字节。请刷新页面后继续上传。", expected=expected, length=length))
    return Part(upload.id, offset, length, upload.part_bytes, upload.storage_key, upload.storage_ref)


class PartNotKept(DomainError):
    status = 400
    code = "part_incomplete"


def write_part(part: Part, stream: BinaryIO) -> None:
    """Stream the part into storage (no database work: call it with no transaction open)."""
    try:
        media_storage().write_part(part.storage_key, part.storage_ref, part.offset, stream, part.length,
                                   part.part_bytes)
    except PartBusy:
        raise Conflict(_("这个文件的另一个分片正在写入，请稍候重试。")) from None
    except PartIncomplete:
        raise PartNotKept(_("分片未完整送达（连接中断），已丢弃这一片，请从原位置重试。")) from None


def record_part(part: Part) -> Upload:
    """Move the upload's offset past a part that was stored; Conflict if it moved meanwhile."""
    now = utcnow_naive()
    moved = db.session.execute(
        update(Upload).where(Upload.id == part.upload_id, Upload.received_bytes == part.offset,
                             Upload.status == UploadStatus.RECEIVING)
        .values(received_bytes=part.offset + part.length, updated_at=now,
                expires_at=now + timedelta(hours=current_app.config["LMS_UPLOAD_TTL_HOURS"]))
        .execution_options(synchronize_session=False))
    upload = db.session.get(Upload, part.upload_id, populate_existing=True)
    if moved.rowcount != 1 or upload is None:
        raise Conflict(_("这个上传已被取消或已过期，请重新上传。"))
    return upload


def begin_finish(upload: Upload) -> bool:
    """Claim a complete upload for assembly, one finish at a time (a conditional update, so two
    requests cannot both claim it). Returns whether it was assembled by an earlier attempt."""
    if upload.status == UploadStatus.FINISHING:
        raise Conflict(_("这个文件正在处理，请稍候。"))
    if upload.received_bytes != upload.total_bytes:
        raise InvalidInput(_("文件尚未传完（已收到 %(received)s / %(total)s 字节），请继续上传。",
                             received=upload.received_bytes, total=upload.total_bytes))
    was_assembled = upload.status == UploadStatus.ASSEMBLED
    claimed = db.session.execute(
        update(Upload).where(Upload.id == upload.id, Upload.status == upload.status)
        .values(status=UploadStatus.FINISHING, updated_at=utcnow_naive())
        .execution_options(synchronize_session=False))
    if claimed.rowcount != 1:
        raise Conflict(_("这个文件正在处理，请稍候。"))
    db.session.refresh(upload)
    return was_assembled


def assemble(upload: Upload, *, was_assembled: bool) -> str:
    """Join the parts into the stored object ``upload.storage_key`` and return the key (a retried
    finish finds it joined). Its name keeps the file's suffix, so the pipeline sees what it is."""
    if not was_assembled:
        media_storage().complete(upload.storage_key, upload.storage_ref, upload.total_bytes, upload.part_bytes)
    return upload.storage_key


def finish_failed(upload_id: int, *, assembled: bool) -> None:
    """After an unexpected error (not a refusal): let the publisher try the finish again."""
    upload = db.session.get(Upload, upload_id)
    if upload is not None:
        upload.status = UploadStatus.ASSEMBLED if assembled else UploadStatus.RECEIVING
        db.session.flush()


def forget_upload(upload: Upload) -> None:
    """The upload was handed on: only the row goes (the pipeline took or removed the file)."""
    db.session.delete(upload)
    db.session.flush()


def discard_upload(upload: Upload) -> None:
    """Cancelled, refused or expired: parts, assembled file and row, all gone."""
    storage = media_storage()
    storage.abort(upload.storage_key, upload.storage_ref)
    storage.delete(upload.storage_key)
    db.session.delete(upload)
    db.session.flush()


def sweep_expired_uploads(*, limit: int | None = None) -> int:
    """Delete uploads idle past their expiry, with their parts. Returns how many."""
    query = select(Upload).where(Upload.expires_at < utcnow_naive()).order_by(Upload.expires_at)
    if limit is not None:
        query = query.limit(limit)
    expired = list(db.session.scalars(query))
    for upload in expired:
        discard_upload(upload)
    return len(expired)


def upload_json(upload: Upload, url: str) -> dict:
    return {"id": upload.id, "url": url, "kind": upload.kind, "filename": upload.filename,
            "size": upload.total_bytes, "offset": upload.received_bytes, "part_size": upload.part_bytes,
            "status": upload.status, "expires_at": upload.expires_at.isoformat() + "Z"}
