"""Stored files: one interface (:class:`Storage`) for finished objects and for uploads that
arrive in parts, with the local-folder implementation the platform uses on one machine.

Keys are relative paths (``videos/ab/abcd….mp4``, ``uploads/17``) under ``LMS_MEDIA_ROOT``.

Contract of a :class:`Storage` (what callers may rely on, whatever the backend):

- **Parts.** ``begin_upload(key)`` starts a multipart upload and returns a reference the caller
  keeps (in the database) with the key. ``write_part(key, ref, offset, stream, length,
  part_size)`` stores ``length`` bytes read from ``stream`` as the part starting at ``offset``.
  Every part but the last is exactly ``part_size`` bytes and ``offset`` is a multiple of it, so
  the part number is ``offset // part_size + 1`` (S3 parts are 5 MiB–5 GiB, at most 10,000).
  A part is taken whole or not at all: when the stream ends early or fails, nothing past
  ``offset`` remains and :class:`PartIncomplete` is raised. Writing the part at an offset again
  replaces it (a retry after a lost answer). The caller records the offset reached; the storage
  trusts it and never reports its own (a resumed upload asks the database, not the storage).
  Two writes to one upload at once are refused with :class:`PartBusy`.
- ``complete(key, ref, size, part_size)`` joins the parts into the object ``key``; ``abort(key,
  ref)`` throws the parts away. Both are idempotent as far as the backend allows: abort of an
  unknown upload does nothing.
- **Objects.** ``save(key, stream)`` stores a whole stream; ``open(key)`` reads one;
  ``local_path(key)`` is a context manager yielding a file path for tools that need one (ffprobe,
  zip): the object itself here, a temporary download on object storage; ``move(src, dst)``
  renames (copy + delete on object storage); ``delete(key)`` is idempotent; ``exists``, ``size``.
- Nothing is held whole in memory: streams are copied in blocks of ``BLOCK`` bytes.

An S3 implementation maps these one to one onto CreateMultipartUpload (``begin_upload``, the
UploadId is the ref), UploadPart (``write_part``; PartBusy is not needed since a part is
atomic, and the ETags are kept by ListParts at ``complete``), CompleteMultipartUpload and
AbortMultipartUpload (plus a bucket lifecycle rule for uploads never aborted), and
GetObject/PutObject/CopyObject/DeleteObject/HeadObject for the rest.
"""

import fcntl
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Protocol

from flask import current_app

BLOCK = 1024 * 1024


class PartIncomplete(Exception):
    """The part's stream ended (or failed) before ``length`` bytes: nothing of it was kept."""


class PartBusy(Exception):
    """Another request is writing a part of this upload right now."""


class Storage(Protocol):
    def begin_upload(self, key: str) -> str: ...
    def write_part(self, key: str, ref: str, offset: int, stream: BinaryIO, length: int, part_size: int) -> None: ...
    def complete(self, key: str, ref: str, size: int, part_size: int) -> None: ...
    def abort(self, key: str, ref: str) -> None: ...
    def save(self, key: str, stream: BinaryIO) -> int: ...
    def open(self, key: str) -> BinaryIO: ...
    def local_path(self, key: str): ...
    def move(self, source: str, target: str) -> None: ...
    def delete(self, key: str) -> None: ...
    def exists(self, key: str) -> bool: ...
    def size(self, key: str) -> int: ...


class LocalStorage:
    """Files under one folder. An upload's parts are written in place into ``<key>.part`` (a
    part at ``offset`` truncates the file there first, so a part cut off mid-way, or a retry,
    leaves exactly ``offset`` bytes); ``complete`` renames it to ``key``: no copying, however
    large the file."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, key: str) -> Path:
        """Absolute path of a key; refuses anything that escapes the root."""
        root = self.root.resolve()
        path = (root / key).resolve()
        if not path.is_relative_to(root) or path == root:
            raise ValueError(f"path outside media root: {key}")
        return path

    # -------------------------------------------------------------- uploads in parts

    def begin_upload(self, key: str) -> str:
        part = self.path(key + ".part")
        part.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.close(fd)
        return part.name

    def write_part(self, key: str, ref: str, offset: int, stream: BinaryIO, length: int, part_size: int) -> None:
        if offset % part_size or length > part_size or length <= 0:
            raise ValueError("parts are part_size bytes at multiples of part_size (the last one may be shorter)")
        part = self.path(key + ".part")
        try:
            fd = os.open(part, os.O_WRONLY)
        except FileNotFoundError:
            raise PartIncomplete("the upload is gone") from None
        with os.fdopen(fd, "r+b") as out:
            try:
                fcntl.flock(out, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise PartBusy() from None
            out.truncate(offset)
            out.seek(offset)
            written = 0
            try:
                while written < length:
                    block = stream.read(min(BLOCK, length - written))
                    if not block:
                        raise PartIncomplete(f"{written} of {length} bytes received")
                    out.write(block)
                    written += len(block)
                out.flush()
            except BaseException:
                out.flush()
                out.truncate(offset)  # the part whole or not at all
                raise

    def complete(self, key: str, ref: str, size: int, part_size: int) -> None:
        part, target = self.path(key + ".part"), self.path(key)
        if not part.exists() and target.exists() and target.stat().st_size == size:
            return  # completed before (a retried finish)
        if part.stat().st_size != size:
            raise PartIncomplete(f"{part.stat().st_size} of {size} bytes stored")
        os.replace(part, target)

    def abort(self, key: str, ref: str) -> None:
        self.path(key + ".part").unlink(missing_ok=True)

    # -------------------------------------------------------------- objects

    def save(self, key: str, stream: BinaryIO) -> int:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        size = 0
        with open(target, "wb") as out:
            for block in iter(lambda: stream.read(BLOCK), b""):
                out.write(block)
                size += len(block)
        return size

    def open(self, key: str) -> BinaryIO:
        return open(self.path(key), "rb")

    @contextmanager
    def local_path(self, key: str) -> Iterator[Path]:
        yield self.path(key)

    def move(self, source: str, target: str) -> None:
        destination = self.path(target)
        destination.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.path(source), destination)

    def delete(self, key: str) -> None:
        path = self.path(key)
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self.path(key).exists()

    def size(self, key: str) -> int:
        return self.path(key).stat().st_size


def media_root() -> Path:
    root = Path(current_app.config["LMS_MEDIA_ROOT"])
    root.mkdir(parents=True, exist_ok=True)
    return root


def media_storage() -> Storage:
    """The storage of uploaded and generated media (the local folder ``LMS_MEDIA_ROOT``)."""
    return LocalStorage(media_root())


def media_path(relative: str) -> Path:
    """Absolute path of a stored file; refuses anything that escapes the media root."""
    root = media_root().resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise ValueError(f"path outside media root: {relative}")
    return path
