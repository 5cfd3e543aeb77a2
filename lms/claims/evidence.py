"""Evidence files of a claim: PDF, JPEG or PNG only, recognised by their content, never by their name.

A file's first bytes say what it is (``%PDF-``, the PNG signature, the JPEG start-of-image marker);
its name's extension must say the same, so a PNG renamed ``.pdf`` or an SVG renamed ``.png`` is
refused with a message naming the file. Images must also open as images (Pillow), so a file that
only starts like one is refused too. Files stream to the media root in blocks, never whole into
memory, and stop at :data:`MAX_BYTES`. They are served only as attachments (lms/claims/routes.py).
"""

import hashlib
import secrets
from dataclasses import dataclass
from pathlib import PurePath
from typing import BinaryIO

from flask_babel import gettext as _
from PIL import Image, UnidentifiedImageError

from ..core.errors import InvalidInput
from ..core.storage import BLOCK, media_storage

MAX_BYTES = 5 * 1024 * 1024
MAX_FILES = 3
FOLDER = "claims"

PDF, PNG, JPEG = "application/pdf", "image/png", "image/jpeg"
SIGNATURES = ((PDF, b"%PDF-"), (PNG, b"\x89PNG\r\n\x1a\n"), (JPEG, b"\xff\xd8\xff"))
EXTENSIONS = {".pdf": PDF, ".png": PNG, ".jpg": JPEG, ".jpeg": JPEG}
NAMES = {PDF: "PDF", PNG: "PNG", JPEG: "JPEG"}
SUFFIX = {PDF: ".pdf", PNG: ".png", JPEG: ".jpg"}


@dataclass(frozen=True)
class Upload:
    """A file as the learner sent it."""

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


def _name(filename: str) -> str:
    name = PurePath((filename or "").replace("\\", "/")).name.strip()
    return name[:200] or _("（未命名文件）")


class _Limited:
    """Reads ``stream`` in blocks, hashing and counting; refuses past ``limit`` bytes."""

    def __init__(self, stream: BinaryIO, head: bytes, limit: int, name: str):
        self.stream, self.pending, self.limit, self.name = stream, head, limit, name
        self.size, self.hash = 0, hashlib.sha256()

    def read(self, n: int = BLOCK) -> bytes:
        if self.pending:
            block, self.pending = self.pending, b""
        else:
            block = self.stream.read(n)
        self.size += len(block)
        if self.size > self.limit:
            raise InvalidInput(_("文件“%(name)s”超过 %(mb)s MB，请压缩或拆分后重新上传。", name=self.name,
                                 mb=self.limit // (1024 * 1024)), field="evidence")
        self.hash.update(block)
        return block


def check_name_and_head(upload: Upload, head: bytes) -> str:
    """The content type of a file whose first bytes and name agree; else InvalidInput naming it."""
    name = _name(upload.filename)
    expected = EXTENSIONS.get(PurePath(name).suffix.lower())
    actual = sniff(head)
    if expected is None:
        raise InvalidInput(_("文件“%(name)s”的类型不受支持：证明材料只接受 PDF、JPG 或 PNG 文件。", name=name),
                           field="evidence")
    if actual is None:
        raise InvalidInput(_("文件“%(name)s”不是有效的 %(kind)s 文件（按文件内容判断），请上传原始的 PDF、JPG 或 PNG 文件。",
                             name=name, kind=NAMES[expected]), field="evidence")
    if actual != expected:
        raise InvalidInput(_("文件“%(name)s”的内容是 %(actual)s，与扩展名不符。请不要修改扩展名，按原格式重新上传。",
                             name=name, actual=NAMES[actual]), field="evidence")
    return actual


def store(upload: Upload, owner_id: int, *, limit: int | None = None) -> StoredFile:
    """Check and store one file under ``claims/<owner>/``; nothing is left behind when it is refused."""
    name = _name(upload.filename)
    head = upload.stream.read(16)
    if not head:
        raise InvalidInput(_("文件“%(name)s”是空文件，请重新选择。", name=name), field="evidence")
    content_type = check_name_and_head(upload, head)
    storage = media_storage()
    key = f"{FOLDER}/{owner_id}/{secrets.token_hex(16)}{SUFFIX[content_type]}"
    reader = _Limited(upload.stream, head, MAX_BYTES if limit is None else limit, name)
    try:
        storage.save(key, reader)
        if content_type != PDF:
            _check_image(storage, key, name, content_type)
    except BaseException:
        storage.delete(key)
        raise
    return StoredFile(original_name=name, content_type=content_type, size_bytes=reader.size,
                      sha256=reader.hash.hexdigest(), path=key)


def _check_image(storage, key: str, name: str, content_type: str) -> None:
    try:
        with storage.open(key) as fh, Image.open(fh) as image:
            image.verify()
            if NAMES.get(content_type) != image.format:
                raise UnidentifiedImageError(image.format)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise InvalidInput(_("文件“%(name)s”无法作为图片打开（可能已损坏），请重新导出后上传。", name=name),
                           field="evidence") from None


def discard(paths: list[str]) -> None:
    storage = media_storage()
    for path in paths:
        storage.delete(path)
