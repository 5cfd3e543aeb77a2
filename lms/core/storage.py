"""Stored files: one interface (:class:`Storage`) for finished objects and for uploads that
arrive in parts, with the local-folder implementation the platform uses on one machine.

Keys are relative paths (``videos/ab/abcd….mp4``, ``uploads/17``). ``LMS_STORAGE_URL`` says where
they live (:func:`storage_from_url`): ``file:///path`` (the default: ``LMS_MEDIA_ROOT``), a folder
on this machine or on a volume every node mounts; or ``s3://bucket[/prefix]``, any S3-compatible
object store (MinIO, Ceph RGW, Alibaba OSS, AWS), with its endpoint in ``LMS_S3_ENDPOINT_URL``
and its credentials in the standard ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` variables
(read by boto3 itself, never by the platform).

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
- ``put_folder(folder, prefix)`` stores every file of a local folder (one made by
  ``work_folder()``) as ``prefix/<relative path>`` and removes the folder: the renditions of a
  transcode, published only once all of them are stored. ``delete(prefix)`` removes them again.
- ``url(key, seconds, ...)``: a link that reads the object directly for ``seconds`` (an S3
  presigned GET), or None when the app must serve the bytes itself (a local folder).
- ``check()`` answers whether the storage can be reached and written (readiness, start-up).
- A backend that cannot be reached raises :class:`StorageUnavailable`, a :class:`DomainError`
  (503) with a message for the user: the caller's transaction is rolled back, so no row points
  at an object that was never stored.
- Nothing is held whole in memory: streams are copied in blocks of ``BLOCK`` bytes.

:class:`S3Storage` maps these one to one onto CreateMultipartUpload (``begin_upload``, the
UploadId is the ref), UploadPart (``write_part``; PartBusy is not needed since a part is
atomic, and the ETags are kept by ListParts at ``complete``), CompleteMultipartUpload and
AbortMultipartUpload (plus a bucket lifecycle rule for uploads never aborted), and
GetObject/PutObject/CopyObject/DeleteObject/HeadObject for the rest.
"""

import base64
import fcntl
import hashlib
import math
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO, Protocol
from urllib.parse import quote, unquote, urlsplit

from flask import Response, abort, current_app, has_app_context, redirect, send_file
from flask_babel import gettext

from ..config import parse_storage_url
from .enums import N_
from .errors import DomainError

BLOCK = 1024 * 1024
WORK_FOLDER = ".work"  # LocalStorage: scratch folders of transcodes, beside what they become

_UNAVAILABLE = N_("文件存储暂时无法访问，本次操作没有保存任何内容。请稍后重试；如果持续出现，请联系平台管理员。")


class PartIncomplete(Exception):
    """The part's stream ended (or failed) before ``length`` bytes: nothing of it was kept."""


class PartBusy(Exception):
    """Another request is writing a part of this upload right now."""


class StorageUnavailable(DomainError):
    """The storage did not answer (or refused the platform's credentials): nothing was stored.
    ``reason`` says what happened, for logs and the readiness report."""

    status = 503
    code = "storage_unavailable"


def unavailable_message() -> str:
    return gettext(_UNAVAILABLE) if has_app_context() else _UNAVAILABLE


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
    def work_folder(self) -> Path: ...
    def put_folder(self, folder: Path, prefix: str) -> None: ...
    def url(self, key: str, seconds: int, *, content_type: str | None = None,
            download_name: str | None = None) -> str | None: ...
    def check(self) -> dict: ...
    def stored_keys(self) -> Iterator[str]: ...


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
        _check_part(offset, length, part_size)
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
        if not part.exists():
            raise PartIncomplete("the upload is gone")
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

    def stored_keys(self) -> Iterator[str]:
        """Every stored object's key, in order (a backup): not the transcodes' scratch folders, the
        parts of uploads under way or files being staged (named with a leading dot)."""
        root = self.root.resolve()
        for path in sorted(root.rglob("*")):
            key = path.relative_to(root).as_posix()
            if (path.is_file() and not key.endswith(".part") and not key.startswith(f"{WORK_FOLDER}/")
                    and not any(part.startswith(".") for part in key.split("/"))):
                yield key

    def size(self, key: str) -> int:
        return self.path(key).stat().st_size

    def work_folder(self) -> Path:
        """A fresh folder on the storage's own file system, so ``put_folder`` is a rename."""
        scratch = self.root / WORK_FOLDER
        scratch.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(dir=scratch))

    def put_folder(self, folder: Path, prefix: str) -> None:
        target = self.path(prefix)
        shutil.rmtree(target, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(folder, target)  # a rename when the folder came from work_folder()

    def url(self, key: str, seconds: int, *, content_type: str | None = None,
            download_name: str | None = None) -> str | None:
        return None  # the app serves the file (or hands it to nginx: LMS_ACCEL_REDIRECT)

    def check(self) -> dict:
        if not self.root.is_dir() or not os.access(self.root, os.W_OK):
            raise StorageUnavailable(unavailable_message(), reason="the media folder is missing or not writable")
        usage = os.statvfs(self.root)
        return {"backend": "file", "free_gb": round(usage.f_bavail * usage.f_frsize / 2**30, 1)}


def _check_part(offset: int, length: int, part_size: int) -> None:
    if offset % part_size or length > part_size or length <= 0:
        raise ValueError("parts are part_size bytes at multiples of part_size (the last one may be shorter)")


class S3Storage:
    """Objects in one bucket of an S3-compatible store (keys under an optional ``prefix``).

    Every call that cannot reach the store, or is refused by it for anything but a missing
    object, raises :class:`StorageUnavailable`. A part is spooled to a temporary file (in memory
    up to ``BLOCK``) until it is whole, then sent as one UploadPart: an S3 part is atomic, so a
    part cut off mid-way was never sent."""

    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None,
                 region: str | None = None, timeout: float = 10.0):
        try:
            # boto3 and botocore: only with an s3:// storage (the optional `s3` extra)
            import boto3
            from botocore.config import Config
        except ImportError:
            raise ValueError("LMS_STORAGE_URL=s3://... needs boto3: pip install -e '.[s3]'.") from None

        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.endpoint_url = endpoint_url

        def client(connect: float, read: float, attempts: int):
            return boto3.client(
                "s3", endpoint_url=endpoint_url or None, region_name=region or None,
                config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, connect_timeout=connect,
                              read_timeout=read, retries={"max_attempts": attempts, "mode": "standard"}))

        self.client = client(timeout, max(timeout, 60.0), 2)
        self.probe = client(2.0, 2.0, 1)  # readiness and start-up: a quick answer, not a patient one

    def name(self, key: str) -> str:
        """The object's name in the bucket; refuses keys that climb out of the prefix."""
        parts = key.split("/")
        if not key or key.startswith("/") or any(part in ("", ".", "..") for part in parts):
            raise ValueError(f"not a storage key: {key}")
        return f"{self.prefix}/{key}" if self.prefix else key

    def _call(self, operation: str, *, client=None, **params):
        from botocore.exceptions import BotoCoreError, ClientError  # the optional `s3` extra, as above

        try:
            return getattr(client or self.client, operation)(Bucket=self.bucket, **params)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("404", "NoSuchKey", "NoSuchUpload", "NotFound"):
                raise FileNotFoundError(params.get("Key", "")) from None
            raise StorageUnavailable(unavailable_message(), reason=f"{operation}: {code or exc}") from None
        except BotoCoreError as exc:
            raise StorageUnavailable(unavailable_message(), reason=f"{operation}: {type(exc).__name__}") from None

    # -------------------------------------------------------------- uploads in parts

    def begin_upload(self, key: str) -> str:
        return self._call("create_multipart_upload", Key=self.name(key))["UploadId"]

    def write_part(self, key: str, ref: str, offset: int, stream: BinaryIO, length: int, part_size: int) -> None:
        _check_part(offset, length, part_size)
        with tempfile.SpooledTemporaryFile(max_size=BLOCK) as spool:
            written = 0
            while written < length:
                block = stream.read(min(BLOCK, length - written))
                if not block:
                    raise PartIncomplete(f"{written} of {length} bytes received")
                spool.write(block)
                written += len(block)
            spool.seek(0)
            try:
                self._call("upload_part", Key=self.name(key), UploadId=ref, PartNumber=offset // part_size + 1,
                           Body=spool, ContentLength=length)
            except FileNotFoundError:
                raise PartIncomplete("the upload is gone") from None

    def _parts(self, key: str, ref: str) -> dict[int, dict]:
        parts, marker = {}, 0
        while True:
            page = self._call("list_parts", Key=self.name(key), UploadId=ref, PartNumberMarker=marker)
            parts.update({part["PartNumber"]: part for part in page.get("Parts", [])})
            if not page.get("IsTruncated"):
                return parts
            marker = page["NextPartNumberMarker"]

    def complete(self, key: str, ref: str, size: int, part_size: int) -> None:
        try:
            parts = self._parts(key, ref)
        except FileNotFoundError:
            if self.exists(key) and self.size(key) == size:
                return  # completed before (a retried finish)
            raise PartIncomplete("the upload is gone") from None
        count = max(1, math.ceil(size / part_size))
        expected = [min(part_size, size - (number - 1) * part_size) for number in range(1, count + 1)]
        stored = [parts[number]["Size"] if number in parts else 0 for number in range(1, count + 1)]
        if stored != expected:
            raise PartIncomplete(f"{sum(stored)} of {size} bytes stored")
        self._call("complete_multipart_upload", Key=self.name(key), UploadId=ref, MultipartUpload={
            "Parts": [{"PartNumber": number, "ETag": parts[number]["ETag"]} for number in range(1, count + 1)]})

    def abort(self, key: str, ref: str) -> None:
        if not ref:
            return
        with suppress(FileNotFoundError):
            self._call("abort_multipart_upload", Key=self.name(key), UploadId=ref)

    # -------------------------------------------------------------- objects

    def _transfer(self, operation: str, *args, **kwargs):
        """boto3's managed transfers (multipart above 8 MiB), their failures as for ``_call``."""
        # the optional `s3` extra, as above
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, operation)(*args, **kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("404", "NoSuchKey", "NotFound"):
                raise FileNotFoundError(str(args)) from None
            raise StorageUnavailable(unavailable_message(), reason=f"{operation}: {code or exc}") from None
        except (BotoCoreError, S3UploadFailedError) as exc:
            raise StorageUnavailable(unavailable_message(), reason=f"{operation}: {type(exc).__name__}") from None

    def save(self, key: str, stream: BinaryIO) -> int:
        counted = _Counting(stream)
        self._transfer("upload_fileobj", counted, self.bucket, self.name(key))
        return counted.count

    def open(self, key: str) -> BinaryIO:
        return _Body(self._call("get_object", Key=self.name(key))["Body"])

    @contextmanager
    def local_path(self, key: str) -> Iterator[Path]:
        with tempfile.TemporaryDirectory(prefix="lms-object-") as folder:
            path = Path(folder) / Path(key).name
            self._transfer("download_file", self.bucket, self.name(key), str(path))
            yield path

    def move(self, source: str, target: str) -> None:
        self._transfer("copy", {"Bucket": self.bucket, "Key": self.name(source)}, self.bucket, self.name(target))
        self._call("delete_object", Key=self.name(source))

    def _under(self, prefix: str) -> Iterator[str]:
        """Names of the objects under ``prefix/``."""
        token = None
        while True:
            page = self._call("list_objects_v2", Prefix=self.name(prefix) + "/",
                              **({"ContinuationToken": token} if token else {}))
            yield from (item["Key"] for item in page.get("Contents", []))
            if not page.get("IsTruncated"):
                return
            token = page["NextContinuationToken"]

    def stored_keys(self) -> Iterator[str]:
        """Every stored object's key (under the prefix), in the store's order (a backup)."""
        start = f"{self.prefix}/" if self.prefix else ""
        token = None
        while True:
            page = self._call("list_objects_v2", Prefix=start, **({"ContinuationToken": token} if token else {}))
            yield from (item["Key"][len(start):] for item in page.get("Contents", []))
            if not page.get("IsTruncated"):
                return
            token = page["NextContinuationToken"]

    def delete(self, key: str) -> None:
        """The object ``key`` and anything stored under ``key/`` (a folder of renditions)."""
        names = [self.name(key), *self._under(key)]
        for start in range(0, len(names), 1000):
            self._call("delete_objects", Delete={"Objects": [{"Key": name} for name in names[start:start + 1000]],
                                                 "Quiet": True})

    def exists(self, key: str) -> bool:
        try:
            self._call("head_object", Key=self.name(key))
        except FileNotFoundError:
            return False
        return True

    def size(self, key: str) -> int:
        return self._call("head_object", Key=self.name(key))["ContentLength"]

    def work_folder(self) -> Path:
        return Path(tempfile.mkdtemp(prefix="lms-work-"))

    def put_folder(self, folder: Path, prefix: str) -> None:
        """Every file is stored before the old ones that were not replaced go: a rendition being
        read keeps playing, and nothing half-written is ever referenced (the caller points the
        database at ``prefix`` only after this returns)."""
        folder = Path(folder)
        try:
            before = set(self._under(prefix))
            stored = set()
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                key = f"{prefix}/{path.relative_to(folder).as_posix()}"
                with open(path, "rb") as fh:
                    self.save(key, fh)
                stored.add(self.name(key))
            stale = sorted(before - stored)
            for start in range(0, len(stale), 1000):
                self._call("delete_objects", Delete={"Objects": [{"Key": n} for n in stale[start:start + 1000]],
                                                     "Quiet": True})
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def url(self, key: str, seconds: int, *, content_type: str | None = None,
            download_name: str | None = None) -> str | None:
        """A presigned GET (SigV4: ``X-Amz-Expires`` is ``seconds``), made without a request."""
        params = {"Bucket": self.bucket, "Key": self.name(key)}
        if content_type:
            params["ResponseContentType"] = content_type
        if download_name:
            params["ResponseContentDisposition"] = f"attachment; filename*=UTF-8''{quote(download_name)}"
        return self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=int(seconds))

    def origin(self) -> str:
        """Where signed links point (scheme and host): the page's Content-Security-Policy lets the
        player load media from there. Made without a request, once."""
        if not hasattr(self, "_origin"):
            parts = urlsplit(self.url("x", 60))
            self._origin = f"{parts.scheme}://{parts.netloc}"
        return self._origin

    def check(self) -> dict:
        try:
            self._call("head_bucket", client=self.probe)
        except FileNotFoundError:
            raise StorageUnavailable(unavailable_message(), reason=f"no bucket {self.bucket}") from None
        return {"backend": "s3", "bucket": self.bucket, **({"endpoint": self.endpoint_url} if self.endpoint_url else {})}


class _Counting:
    """A stream that counts what was read from it."""

    def __init__(self, stream: BinaryIO):
        self.stream, self.count = stream, 0

    def read(self, size: int = -1) -> bytes:
        block = self.stream.read(size)
        self.count += len(block)
        return block


class _Body:
    """An object being read: a file-like StreamingBody usable in ``with``."""

    def __init__(self, body):
        self.body = body

    def read(self, size: int = -1) -> bytes:
        return self.body.read(None if size is None or size < 0 else size)

    def __iter__(self):
        return iter(lambda: self.body.read(BLOCK), b"")

    def close(self) -> None:
        self.body.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def storage_from_url(url: str, *, endpoint_url: str | None = None, region: str | None = None) -> Storage:
    parts = urlsplit(parse_storage_url(url))
    if parts.scheme == "file":
        return LocalStorage(Path(unquote(parts.path)))
    return S3Storage(parts.netloc, unquote(parts.path), endpoint_url=endpoint_url, region=region)


def media_root() -> Path:
    """The local media folder: the storage's own with ``file://``; with object storage, what is
    still kept on local disk (attachments of claims and bases, demo video cache)."""
    root = Path(current_app.config["LMS_MEDIA_ROOT"])
    root.mkdir(parents=True, exist_ok=True)
    return root


def media_storage() -> Storage:
    """The storage of uploaded and generated media (``LMS_STORAGE_URL``; by default the local
    folder ``LMS_MEDIA_ROOT``). Kept per app and settings: a boto3 client is made once and is
    shared by threads."""
    app = current_app._get_current_object()
    config = app.config
    settings = (config.get("LMS_STORAGE_URL"), config["LMS_MEDIA_ROOT"], config.get("LMS_S3_ENDPOINT_URL"),
                config.get("LMS_S3_REGION"))
    kept = app.extensions.get("lms.storage")
    if kept is None or kept[0] != settings:
        url = settings[0]
        storage = (storage_from_url(url, endpoint_url=settings[2], region=settings[3]) if url
                   else LocalStorage(Path(settings[1])))
        kept = app.extensions["lms.storage"] = (settings, storage)
    return kept[1]


def is_local(storage: Storage) -> bool:
    return isinstance(storage, LocalStorage)


def storage_problem(app) -> str | None:
    """Why the configured storage cannot be used (it cannot be reached, written or is refused),
    naming the setting; None when it answers. Start-up refuses to serve with a problem."""
    with app.app_context():
        storage = media_storage()
        if isinstance(storage, LocalStorage):
            with suppress(OSError):  # a first start makes its folder; one it cannot make is refused below
                storage.root.mkdir(parents=True, exist_ok=True)
        try:
            storage.check()
        except StorageUnavailable as exc:
            where = app.config.get("LMS_STORAGE_URL") or f"file://{app.config['LMS_MEDIA_ROOT']}"
            return (f"LMS_STORAGE_URL={where} cannot be used ({exc.reason}): check the address, "
                    f"LMS_S3_ENDPOINT_URL and the AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY credentials, "
                    f"and that the bucket exists (or that the folder exists and is writable).")
    return None


def secure_link(key: str, seconds: int, *, secret: str, prefix: str, now: float | None = None) -> str:
    """A link nginx's ``secure_link`` module checks (deploy/nginx-media.conf): ``md5`` is the
    unpadded base64url MD5 of ``"<expires><uri> <secret>"`` (``secure_link_md5 "$secure_link_expires$uri
    <secret>"``), so the path and the expiry cannot be changed; nginx answers 410 once it has passed."""
    expires = int(now if now is not None else time.time()) + int(seconds)
    uri = prefix.rstrip("/") + "/" + key
    digest = hashlib.md5(f"{expires}{uri} {secret}".encode(), usedforsecurity=False).digest()  # nginx's scheme
    token = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return f"{quote(uri)}?md5={token}&expires={expires}"


def media_link(key: str, *, content_type: str | None = None, download_name: str | None = None) -> str | None:
    """A link that reads the object without the app, expiring after ``LMS_MEDIA_LINK_SECONDS``: a
    presigned URL on object storage; on a folder behind nginx with ``LMS_SECURE_LINK_SECRET``, a
    secure_link URL (not for named downloads: nginx would not name them); else None."""
    config = current_app.config
    storage, seconds = media_storage(), config["LMS_MEDIA_LINK_SECONDS"]
    link = storage.url(key, seconds, content_type=content_type, download_name=download_name)
    if link is None and download_name is None and config.get("LMS_SECURE_LINK_SECRET"):
        link = secure_link(key, seconds, secret=config["LMS_SECURE_LINK_SECRET"],
                           prefix=config["LMS_SECURE_LINK_PREFIX"])
    return link


def link_origin() -> str | None:
    """The origin of the links :func:`media_link` hands out when it is not this site's own."""
    storage = media_storage()
    return storage.origin() if isinstance(storage, S3Storage) else None


def send_stored(key: str, *, mimetype: str, download_name: str | None = None, max_age: int = 0,
                conditional: bool = True):
    """The response that hands a stored object to the browser, after the caller's checks:
    - a link that expires (:func:`media_link`): a redirect to it, the redirect never cached (the
      app never streams the bytes);
    - a folder behind nginx (``LMS_ACCEL_REDIRECT``): ``X-Accel-Redirect`` to its internal
      location, nginx sends the file (ranges included);
    - a folder: the file, with ranges (players seek without downloading everything).
    A missing object is a 404."""
    link = media_link(key, content_type=mimetype, download_name=download_name)
    if link is not None:
        response = redirect(link, 302)
        response.headers["Cache-Control"] = "no-store"
        return response
    storage = media_storage()
    try:
        path = storage.path(key)
    except ValueError:
        abort(404)
    if not path.is_file():
        abort(404)
    prefix = current_app.config.get("LMS_ACCEL_REDIRECT")
    if prefix:
        response = Response(status=200, mimetype=mimetype)
        response.headers["X-Accel-Redirect"] = quote(prefix.rstrip("/") + "/" + key)
        if download_name:
            response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(download_name)}"
        response.headers["Cache-Control"] = f"private, max-age={max_age}" if max_age else "no-store"
        return response
    return send_file(path, mimetype=mimetype, conditional=conditional, max_age=max_age,
                     as_attachment=download_name is not None, download_name=download_name)


def remove_created(created: list) -> None:
    """Undo what a failed import made: objects stored (their keys) and local files (paths)."""
    for item in created:
        if isinstance(item, Path):
            item.unlink(missing_ok=True)
        else:
            media_storage().delete(item)


def media_path(relative: str) -> Path:
    """Absolute path of a file in the local media folder; refuses anything that escapes it.
    (Claims and programme attachments; everything else goes through :func:`media_storage`.)"""
    root = media_root().resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise ValueError(f"path outside media root: {relative}")
    return path
