"""One contract (lms/core/storage.py's docstring), two backends: a local folder and an S3 bucket on an
S3-protocol server on loopback (moto's standalone server, over HTTP). Every test runs on both."""

import io
import os
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from lms.core.storage import LocalStorage, PartIncomplete, S3Storage, StorageUnavailable, storage_from_url
from tests.s3_helpers import aws_credentials, new_bucket, s3_server, stopped_endpoint

PART = 5 * 1024 * 1024  # S3's smallest part but the last


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory):
    with aws_credentials(), s3_server(tmp_path_factory.mktemp("moto") / "moto.log") as endpoint:
        yield endpoint


@pytest.fixture(params=["file", "s3"])
def storage(request, tmp_path):
    if request.param == "file":
        (tmp_path / "media").mkdir()
        return storage_from_url(f"file://{tmp_path / 'media'}")
    endpoint = request.getfixturevalue("s3_endpoint")
    return storage_from_url(f"s3://{new_bucket(endpoint)}/media", endpoint_url=endpoint)


def payload(size: int, seed: int = 7) -> bytes:
    return bytes((i * seed + i // 251) % 256 for i in range(size))


class ShortStream(io.BytesIO):
    """Ends (or fails) after ``cut`` bytes: a connection lost mid-part."""

    def __init__(self, data: bytes, cut: int, fail: bool = False):
        super().__init__(data[:cut])
        self.fail = fail

    def read(self, size=-1):
        block = super().read(size)
        if not block and self.fail:
            raise ConnectionResetError("client went away")
        return block


def read_all(storage, key: str) -> bytes:
    with storage.open(key) as fh:
        return fh.read()


def test_objects_are_saved_read_sized_moved_and_deleted(storage):
    data = payload(3 * 1024 * 1024 + 17)
    assert storage.save("videos/ab/one.mp4", io.BytesIO(data)) == len(data)
    assert storage.exists("videos/ab/one.mp4") and storage.size("videos/ab/one.mp4") == len(data)
    assert read_all(storage, "videos/ab/one.mp4") == data
    storage.move("videos/ab/one.mp4", "videos/cd/two.mp4")
    assert not storage.exists("videos/ab/one.mp4") and read_all(storage, "videos/cd/two.mp4") == data
    storage.delete("videos/cd/two.mp4")
    storage.delete("videos/cd/two.mp4")  # idempotent
    assert not storage.exists("videos/cd/two.mp4")
    with pytest.raises(FileNotFoundError):
        storage.size("videos/cd/two.mp4")
    with pytest.raises(FileNotFoundError):
        storage.open("videos/cd/two.mp4")


def test_stored_keys_list_every_object_and_nothing_under_way(storage):
    for key in ("videos/ab/one.mp4", "renditions/7/720p/seg-0001.ts", "certificates/2026/GX1.pdf"):
        storage.save(key, io.BytesIO(b"x"))
    ref = storage.begin_upload("uploads/big.mp4")  # an upload under way is not an object yet
    storage.write_part("uploads/big.mp4", ref, 0, io.BytesIO(payload(PART)), PART, PART)
    scratch = storage.work_folder()
    (scratch / "half.ts").write_bytes(b"half")  # a transcode's scratch file
    assert sorted(storage.stored_keys()) == ["certificates/2026/GX1.pdf", "renditions/7/720p/seg-0001.ts",
                                      "videos/ab/one.mp4"]
    storage.abort("uploads/big.mp4", ref)


def test_a_local_path_holds_the_object_while_it_is_used(storage):
    storage.save("packages/course.zip", io.BytesIO(b"PK\x03\x04 zip"))
    with storage.local_path("packages/course.zip") as path:
        assert Path(path).read_bytes() == b"PK\x03\x04 zip" and Path(path).suffix == ".zip"
    if isinstance(storage, S3Storage):
        assert not Path(path).exists()  # the temporary download is gone
    assert storage.exists("packages/course.zip")


def test_an_upload_in_parts_becomes_one_object(storage):
    data = payload(2 * PART + 1234)
    ref = storage.begin_upload("uploads/7-abc.mp4")
    for offset in range(0, len(data), PART):
        chunk = data[offset:offset + PART]
        storage.write_part("uploads/7-abc.mp4", ref, offset, io.BytesIO(chunk), len(chunk), PART)
    storage.complete("uploads/7-abc.mp4", ref, len(data), PART)
    assert read_all(storage, "uploads/7-abc.mp4") == data
    storage.complete("uploads/7-abc.mp4", ref, len(data), PART)  # a retried finish: already joined
    assert storage.size("uploads/7-abc.mp4") == len(data)


@pytest.mark.parametrize("fail", [False, True])
def test_a_part_cut_off_is_not_kept_and_can_be_sent_again(storage, fail):
    data = payload(PART + 999, seed=11)
    ref = storage.begin_upload("uploads/8-def.mov")
    storage.write_part("uploads/8-def.mov", ref, 0, io.BytesIO(data[:PART]), PART, PART)
    with pytest.raises((PartIncomplete, ConnectionResetError)):
        storage.write_part("uploads/8-def.mov", ref, PART, ShortStream(data[PART:], 500, fail), 999, PART)
    with pytest.raises(PartIncomplete):  # the cut part counts for nothing
        storage.complete("uploads/8-def.mov", ref, len(data), PART)
    storage.write_part("uploads/8-def.mov", ref, PART, io.BytesIO(data[PART:]), 999, PART)
    storage.write_part("uploads/8-def.mov", ref, PART, io.BytesIO(data[PART:]), 999, PART)  # a retry replaces it
    storage.complete("uploads/8-def.mov", ref, len(data), PART)
    assert read_all(storage, "uploads/8-def.mov") == data


def test_parts_must_sit_on_part_boundaries(storage):
    ref = storage.begin_upload("uploads/9.mp4")
    with pytest.raises(ValueError):
        storage.write_part("uploads/9.mp4", ref, 10, io.BytesIO(b"x" * 10), 10, PART)
    with pytest.raises(ValueError):
        storage.write_part("uploads/9.mp4", ref, 0, io.BytesIO(b""), PART + 1, PART)


def test_an_aborted_upload_leaves_nothing_and_abort_is_idempotent(storage):
    ref = storage.begin_upload("uploads/10.mp4")
    storage.write_part("uploads/10.mp4", ref, 0, io.BytesIO(b"abc"), 3, PART)
    storage.abort("uploads/10.mp4", ref)
    storage.abort("uploads/10.mp4", ref)
    assert not storage.exists("uploads/10.mp4")
    with pytest.raises(PartIncomplete):
        storage.complete("uploads/10.mp4", ref, 3, PART)


def test_a_folder_of_renditions_replaces_the_last_one_whole(storage):
    def folder(files: dict[str, bytes]) -> Path:
        made = storage.work_folder()
        for name, content in files.items():
            (made / name).parent.mkdir(parents=True, exist_ok=True)
            (made / name).write_bytes(content)
        return made

    first = folder({"video.mp4": b"v1", "hls/index.m3u8": b"#EXTM3U 1", "hls/seg_0000.ts": b"s0", "hls/seg_0001.ts": b"s1"})
    storage.put_folder(first, "renditions/5")
    assert not first.exists()
    assert read_all(storage, "renditions/5/hls/seg_0001.ts") == b"s1"
    storage.put_folder(folder({"video.mp4": b"v2", "hls/index.m3u8": b"#EXTM3U 2", "hls/seg_0000.ts": b"t0"}),
                       "renditions/5")
    assert read_all(storage, "renditions/5/video.mp4") == b"v2"
    assert not storage.exists("renditions/5/hls/seg_0001.ts")  # nothing of the old one is left
    storage.delete("renditions/5")
    assert not storage.exists("renditions/5/video.mp4") and not storage.exists("renditions/5/hls/index.m3u8")


@pytest.mark.parametrize("key", ["../outside", "/etc/passwd", "a/../../b", ""])
def test_keys_cannot_leave_the_storage(storage, key):
    with pytest.raises(ValueError):
        storage.save(key, io.BytesIO(b"x"))


def test_links_read_objects_directly_and_expire(storage):
    storage.save("renditions/3/video.mp4", io.BytesIO(b"\x00\x00\x00\x18ftypmp42"))
    link = storage.url("renditions/3/video.mp4", 120, content_type="video/mp4")
    if isinstance(storage, LocalStorage):
        assert link is None  # the app (or nginx) serves local files
        return
    query = parse_qs(urlsplit(link).query)
    # moto does not enforce expiry: the signed parameters are what a real store checks.
    assert query["X-Amz-Expires"] == ["120"] and query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert "X-Amz-Signature" in query and "X-Amz-Date" in query
    answer = httpx.get(link)
    assert answer.status_code == 200 and answer.content == b"\x00\x00\x00\x18ftypmp42"
    assert answer.headers["content-type"] == "video/mp4"
    named = storage.url("renditions/3/video.mp4", 60, download_name="学时证明.pdf")
    assert parse_qs(urlsplit(named).query)["X-Amz-Expires"] == ["60"]
    assert "filename%2A%3DUTF-8%27%27" in named  # the download name travels signed, RFC 5987-encoded


def test_the_storage_answers_its_check(storage):
    assert storage.check()["backend"] in ("file", "s3")


# ---------------------------------------------------------------- unreachable


def test_an_unreachable_bucket_raises_storage_unavailable_for_every_call(tmp_path):
    with aws_credentials():
        down = storage_from_url("s3://media", endpoint_url=stopped_endpoint())
        calls = [lambda: down.begin_upload("uploads/1.mp4"), lambda: down.save("x/1", io.BytesIO(b"1")),
                 lambda: down.check(), lambda: down.exists("x/1"), lambda: down.delete("x/1"),
                 lambda: down.write_part("uploads/1.mp4", "ref", 0, io.BytesIO(b"1"), 1, PART)]
        for call in calls:
            with pytest.raises(StorageUnavailable) as refused:
                call()
            assert refused.value.status == 503 and "文件存储暂时无法访问" in refused.value.message


def test_a_missing_bucket_and_a_missing_folder_fail_the_check(s3_endpoint, tmp_path):
    with pytest.raises(StorageUnavailable):
        storage_from_url("s3://no-such-bucket", endpoint_url=s3_endpoint).check()
    with pytest.raises(StorageUnavailable):
        storage_from_url(f"file://{tmp_path / 'not-there'}").check()
    read_only = tmp_path / "read-only"
    read_only.mkdir(mode=0o500)
    if os.geteuid() != 0:  # root writes anywhere
        with pytest.raises(StorageUnavailable):
            storage_from_url(f"file://{read_only}").check()


@pytest.mark.parametrize("url", ["http://bucket", "s3://", "file://relative/path", "minio://b", "s3://b?x=1"])
def test_a_storage_url_of_another_kind_is_refused_naming_the_setting(url):
    with pytest.raises(ValueError, match="LMS_STORAGE_URL"):
        storage_from_url(url)
