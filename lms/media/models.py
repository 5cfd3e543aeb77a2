from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..core.clock import utcnow_naive
from ..extensions import db


class MediaStatus(StrEnum):
    UPLOADED = "uploaded"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


class MediaAsset(db.Model):
    __tablename__ = "media_asset"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"), index=True)
    original_name: Mapped[str] = mapped_column(String(255))
    path: Mapped[str] = mapped_column(String(512))  # relative to LMS_MEDIA_ROOT
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(64), default="video/mp4")
    duration_seconds: Mapped[int]
    width: Mapped[int | None]
    height: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(16), default=MediaStatus.READY)
    # Renditions and companions, relative to LMS_MEDIA_ROOT: a faststart H.264/AAC MP4, an HLS
    # master playlist, a poster image and WebVTT captions.
    mp4_path: Mapped[str | None] = mapped_column(String(512))
    hls_path: Mapped[str | None] = mapped_column(String(512))
    poster_path: Mapped[str | None] = mapped_column(String(512))
    captions_path: Mapped[str | None] = mapped_column(String(512))
    progress: Mapped[int] = mapped_column(default=0)  # transcoding, 0–100
    error: Mapped[str | None] = mapped_column(Text)  # why the last transcode failed, in ffmpeg's words
    # Every start of a transcode takes the next number (never reset): the job owns the asset only
    # while it is the latest attempt, and stores its renditions under renditions/<id>/<attempt>.
    transcode_attempt: Mapped[int] = mapped_column(default=0, server_default="0")
    # Automatic retries of stalled transcodes (tasks.sweep_stalled_transcodes) since a publisher or
    # the upload last started one; past LMS_TRANSCODE_MAX_RETRIES the asset fails.
    transcode_retries: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow_naive)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow_naive, onupdate=utcnow_naive)

    @property
    def is_playable(self) -> bool:
        return self.status == MediaStatus.READY and bool(self.mp4_path or self.hls_path)


class UploadKind(StrEnum):
    MEDIA = "media"        # a video for the media library
    PACKAGE = "package"    # a course package (.zip) to import


class UploadStatus(StrEnum):
    RECEIVING = "receiving"  # parts arriving; ``received_bytes`` is the offset to send next
    FINISHING = "finishing"  # being assembled and handed to the media or package pipeline
    ASSEMBLED = "assembled"  # assembled, but handing it on failed unexpectedly: finish may be retried


class Upload(db.Model):
    """A file arriving in parts (lms/media/uploads.py). The row lives only while the upload is
    open: a finished upload becomes a media asset or imported courses (and an audit event), a
    refused, cancelled or expired one is deleted with its parts."""

    __tablename__ = "upload"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    filename: Mapped[str] = mapped_column(String(255))
    total_bytes: Mapped[int] = mapped_column(BigInteger)
    received_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    part_bytes: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default=UploadStatus.RECEIVING)
    storage_key: Mapped[str] = mapped_column(String(512))
    storage_ref: Mapped[str] = mapped_column(String(255), default="")  # the multipart upload's id in the storage
    created_at: Mapped[datetime] = mapped_column(default=utcnow_naive)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow_naive)
    expires_at: Mapped[datetime] = mapped_column(index=True)
