"""Files people attach as evidence (a claim's proof, a base evaluation's report): PDF, JPEG or PNG
only, recognised by their content, never by their name.

A file's first bytes say what it is (``%PDF-``, the PNG signature, the JPEG start-of-image marker);
its name's extension must say the same, so a PNG renamed ``.pdf`` or an SVG renamed ``.png`` is
refused with a message naming the file. SVG is never taken (it can carry scripts). A PDF must end
with its ``%%EOF`` marker (a truncated upload is refused) and an image must open as an image of its
kind (Pillow), so a file that only starts like one is refused too. Files stream to the storage in
blocks, never whole into memory, and stop at the caller's size limit; a refused file leaves nothing
behind. They are served only as downloads (:func:`download`), with a policy that runs nothing.
"""

import hashlib
import logging
import secrets
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePath
from typing import BinaryIO

from flask import Response, abort, send_file
from flask_babel import gettext as _
from PIL import Image, UnidentifiedImageError
from sqlalchemy import event
from sqlalchemy.orm import Session

from .errors import InvalidInput
from .storage import BLOCK, media_storage

PDF, PNG, JPEG = "application/pdf", "image/png", "image/jpeg"
SIGNATURES = ((PDF, b"%PDF-"), (PNG, b"\x89PNG\r\n\x1a\n"), (JPEG, b"\xff\xd8\xff"))
EXTENSIONS = {".pdf": PDF, ".png": PNG, ".jpg": JPEG, ".jpeg": JPEG}
NAMES = {PDF: "PDF", PNG: "PNG", JPEG: "JPEG"}
SUFFIX = {PDF: ".pdf", PNG: ".png", JPEG: ".jpg"}
PDF_TAIL = 2048  # a PDF's %%EOF marker must be within its last bytes


@dataclass(frozen=True)
class Upload:
    """A file as it was sent: its name as the browser gave it and a stream of its bytes."""

    filename: str
    stream: BinaryIO


@dataclass(frozen=True)
class StoredFile:
    original_name: str
    content_type: str
    size_bytes: int
    sha256: str
    path: str


def sniff(head: bytes) -> str | None:
    return next((kind for kind, signature in SIGNATURES if head.startswith(signature)), None)


NAME_MAX = 200


def clean_name(filename: str) -> str:
    """The name to keep and show: its last path part, without control or format characters (Unicode
    Cc and Cf: CR/LF, NUL, zero-width and bidirectional controls such as U+202E, which would make
    ``\u202egnp.pdf`` read "fdp.png"), at most :data:`NAME_MAX` characters: a long name loses the end
    of its stem, never its extension."""
    name = PurePath((filename or "").replace("\\", "/")).name
    name = "".join(c for c in name if unicodedata.category(c) not in ("Cc", "Cf")).strip()
    if len(name) <= NAME_MAX:
        return name
    stem, suffix = name[: -len(PurePath(name).suffix) or None], PurePath(name).suffix
    if len(suffix) > 10:  # not an extension worth keeping
        return name[:NAME_MAX]
    return stem[: NAME_MAX - len(suffix)].rstrip() + suffix


def shown_name(filename: str) -> str:
    return clean_name(filename) or _("（未命名文件）")


def _is_svg(name: str, head: bytes) -> bool:
    start = head.lstrip()[:5].lower()
    return PurePath(name).suffix.lower() == ".svg" or start in (b"<?xml", b"<svg ", b"<svg>", b"<svg\n")


def check_name_and_head(filename: str, head: bytes, *, field: str) -> str:
    """The content type of a file whose first bytes and name agree; else InvalidInput naming it."""
    name = shown_name(filename)
    if _is_svg(name, head):
        raise InvalidInput(_("文件“%(name)s”：不接受 SVG 图片（其中可含脚本），请上传 PDF、JPG 或 PNG 文件。", name=name),
                           field=field)
    expected = EXTENSIONS.get(PurePath(name).suffix.lower())
    if expected is None:
        raise InvalidInput(_("文件“%(name)s”的类型不受支持：只接受 PDF、JPG 或 PNG 文件。", name=name), field=field)
    actual = sniff(head)
    if actual is None:
        raise InvalidInput(_("文件“%(name)s”不是有效的 %(kind)s 文件（按文件内容判断），请上传原始的 PDF、JPG 或 PNG 文件。",
                             name=name, kind=NAMES[expected]), field=field)
    if actual != expected:
        raise InvalidInput(_("文件“%(name)s”的内容是 %(actual)s，与扩展名不符。请不要修改扩展名，按原格式重新上传。",
                             name=name, actual=NAMES[actual]), field=field)
    return actual


class _Limited:
    """Reads ``stream`` in blocks, hashing, counting and keeping the last bytes; refuses past ``limit``."""

    def __init__(self, stream: BinaryIO, head: bytes, limit: int, name: str, field: str):
        self.stream, self.pending, self.limit, self.name, self.field = stream, head, limit, name, field
        self.size, self.hash, self.tail = 0, hashlib.sha256(), b""

    def read(self, n: int = BLOCK) -> bytes:
        if self.pending:
            block, self.pending = self.pending, b""
        else:
            block = self.stream.read(n)
        self.size += len(block)
        if self.size > self.limit:
            raise InvalidInput(_("文件“%(name)s”超过 %(mb)s MB，请压缩或拆分后重新上传。", name=self.name,
                                 mb=self.limit // (1024 * 1024)), field=self.field)
        self.hash.update(block)
        self.tail = (self.tail + block)[-PDF_TAIL:]
        return block


def store(upload: Upload, folder: str, *, limit: int, field: str) -> StoredFile:
    """Check and store one file under ``folder/``; nothing is left behind when it is refused."""
    name = shown_name(upload.filename)
    head = upload.stream.read(16)
    if not head:
        raise InvalidInput(_("文件“%(name)s”是空文件，请重新选择。", name=name), field=field)
    content_type = check_name_and_head(upload.filename, head, field=field)
    storage = media_storage()
    key = f"{folder}/{secrets.token_hex(16)}{SUFFIX[content_type]}"
    reader = _Limited(upload.stream, head, limit, name, field)
    try:
        storage.save(key, reader)
        if content_type == PDF:
            if b"%%EOF" not in reader.tail:
                raise InvalidInput(_("文件“%(name)s”不是完整的 PDF 文件（缺少结束标记，可能上传不完整或已损坏），"
                                     "请重新导出后上传。", name=name), field=field)
        else:
            _check_image(storage, key, name, content_type, field)
    except BaseException:
        storage.delete(key)
        raise
    return StoredFile(original_name=name, content_type=content_type, size_bytes=reader.size,
                      sha256=reader.hash.hexdigest(), path=key)


def store_all(uploads: Iterable[Upload], folder: str, *, limit: int, field: str) -> list[StoredFile]:
    """Store every file or none: when one is refused, those stored before it are deleted again."""
    stored: list[StoredFile] = []
    try:
        for upload in uploads:
            stored.append(store(upload, folder, limit=limit, field=field))
    except BaseException:
        discard(item.path for item in stored)
        raise
    return stored


def _check_image(storage, key: str, name: str, content_type: str, field: str) -> None:
    try:
        with storage.open(key) as fh, Image.open(fh) as image:
            if NAMES.get(content_type) != image.format:
                raise UnidentifiedImageError(image.format)
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise InvalidInput(_("文件“%(name)s”无法作为图片打开（可能已损坏），请重新导出后上传。", name=name),
                           field=field) from None


def discard(paths: Iterable[str]) -> None:
    storage = media_storage()
    for path in paths:
        storage.delete(path)


_WRITTEN = "attachments_written"  # Session.info: files written for rows of the open transaction
log = logging.getLogger(__name__)


def discard_on_rollback(session: Session, stored: Iterable[StoredFile]) -> None:
    """Tie files just written to the rows of ``session``'s transaction: kept when it commits, deleted
    when it ends any other way (a refusal, an error, a commit that fails), so that no file is left
    behind that no row leads to."""
    session.info.setdefault(_WRITTEN, []).extend(item.path for item in stored)


def _committed(session: Session) -> None:
    session.info.pop(_WRITTEN, None)


def _ended(session: Session, transaction) -> None:
    if transaction.parent is not None:  # a savepoint: the outermost transaction decides
        return
    written = session.info.pop(_WRITTEN, None)
    if written:
        try:
            discard(written)
        except Exception:  # the rollback stands; the files are only unreachable
            log.exception("could not delete %d attachment files of a rolled-back transaction", len(written))


if not event.contains(Session, "after_commit", _committed):
    event.listen(Session, "after_commit", _committed)
    event.listen(Session, "after_transaction_end", _ended)


def download(path: str, content_type: str, filename: str) -> Response:
    """A stored attachment as a download only: the type it was checked to be, never shown inline,
    never cached, under a policy that runs nothing."""
    storage = media_storage()
    if not storage.exists(path):
        abort(404)
    # Through the app on every backend (the files are small), so these headers always come with them.
    response = send_file(storage.open(path), mimetype=content_type, as_attachment=True, download_name=filename,
                         max_age=0)
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
