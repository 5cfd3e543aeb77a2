"""The loopback cluster on object storage (``LMS_CLUSTER_STORAGE=s3``: a bucket of an S3-protocol server
on loopback, moto's; MinIO, Ceph RGW or Alibaba OSS in production): the nodes and workers keep media and
certificates in the bucket and nothing on their disks; a learner reaches the video through haproxy by
short-lived signed links straight to the store; a backup of the cluster restores into a fresh cluster
with a fresh bucket, where its certificate verifies."""

import hashlib
import json
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.cluster.conftest import CLUSTER, PYTHON, ROOT, SCRIPT, cluster_env, part, ready, run_python, until
from tests.conftest import credit_code, id_number

pytestmark = CLUSTER
CLUSTER_SETTINGS = {"LMS_CLUSTER_STORAGE": "s3"}

LEARNER = """
import hashlib, json, re
from datetime import date
from decimal import Decimal
from wsgi import app
from lms.accounts import services as accounts
from lms.catalog.services import import_packages, load_packages
from lms.certificates import services as certificates
from lms.core.storage import media_storage
from lms.extensions import db
from lms.learning import services as learning
from tests.conftest import ROOT
with app.app_context():
    import_packages(None, load_packages([ROOT / "courses" / "GX-NS-001"]))
    db.session.commit()
with app.test_request_context():
    user = accounts.create_person(None, accounts.PersonData(
        real_name="孙对象", id_number="{id_number}", password="Study2026-cluster", mobile="13655500039",
        region_code="110000", employer_name="测试单位", employer_credit_code="{credit_code}"))
    enrollment = learning.enroll(user, "GX-NS-001")
    lesson = next(lesson for lesson in enrollment.course.lessons if lesson.kind == "video")
    cert = certificates.issue_programme_certificate(
        user, code="CP-000002", title="数字经济高级研修班", category="public", hours=Decimal(6), year=2026,
        completed_on=date(2026, 6, 12))
    db.session.commit()
    asset = lesson.media_asset
    with media_storage().open(cert.pdf_path) as fh:
        pdf = hashlib.sha256(fh.read()).hexdigest()
    keys = [cert.pdf_path, asset.path]
client = app.test_client()
page = client.get("/login", headers={{"User-Agent": "cluster-test"}}).get_data(as_text=True)
token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
assert client.post("/login", data={{"login": "13655500039", "password": "Study2026-cluster",
                                    "csrf_token": token}}, headers={{"User-Agent": "cluster-test"}}).status_code == 302
print(json.dumps({{"cookie": client.get_cookie("session").value, "asset": asset.id, "keys": keys,
                   "number": cert.number, "pdf_sha256": pdf}}))
"""


def _learner(cluster) -> dict:
    script = LEARNER.format(id_number=id_number("11010519900103666"), credit_code=credit_code("91110105MA01ABCD3"))
    env = {**cluster_env(cluster), "LMS_DEMO_CACHE": str(ROOT / ".cache" / "demo-video")}
    made = subprocess.run([str(PYTHON), "-c", script], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert made.returncode == 0, made.stderr[-3000:]
    return json.loads(next(line for line in made.stdout.splitlines() if line.startswith("{")))


ASSET = """
import json, sys
from wsgi import app
from lms.extensions import db
from lms.media.models import MediaAsset
with app.app_context():
    asset = db.session.get(MediaAsset, int(sys.argv[1]))
    print(json.dumps({"status": asset.status, "keys": [asset.mp4_path, asset.hls_path]}, separators=(",", ":")))
"""


def _transcoded(cluster, asset_id: int) -> list[str]:
    """The renditions' keys, once the cluster's media worker has made them (the import queued it)."""
    state = {}

    def ready() -> bool:
        state.update(json.loads(run_python(cluster, ASSET, str(asset_id))))
        assert state["status"] != "failed", state
        return state["status"] == "ready"

    until(ready, seconds=300)
    return [key for key in state["keys"] if key]  # an imported lesson's MP4 is its rendition (no HLS)


def _bucket_keys(cluster) -> set[str]:
    import boto3

    settings = cluster_env(cluster)
    client = boto3.client("s3", endpoint_url=settings["LMS_S3_ENDPOINT_URL"],
                          aws_access_key_id=settings["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=settings["AWS_SECRET_ACCESS_KEY"], region_name="us-east-1")
    keys = set()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket="lms-media"):
        keys.update(item["Key"] for item in page.get("Contents", ()))
    return keys


def _files_under(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()] if folder.exists() else []


def test_media_and_certificates_live_in_the_bucket_and_reach_the_learner_by_signed_links(cluster):
    learner = _learner_or_existing(cluster)
    endpoint = cluster_env(cluster)["LMS_S3_ENDPOINT_URL"]
    renditions = _transcoded(cluster, learner["asset"])
    stored = _bucket_keys(cluster)
    assert set(learner["keys"] + renditions) <= stored, (learner["keys"], renditions, sorted(stored)[:20])
    assert _files_under(cluster["folder"] / "shared" / "media") == []  # nothing on the nodes' shared disk

    with httpx.Client(base_url=cluster["url"], timeout=30, cookies={"session": learner["cookie"]},
                      headers={"User-Agent": "cluster-test"}) as client:  # the session is bound to its browser
        video = client.get(f"/media/{learner['asset']}/video")
        assert video.status_code == 302 and video.headers["Cache-Control"] == "no-store"
        link = video.headers["Location"]
        assert link.startswith(endpoint) and parse_qs(urlsplit(link).query)["X-Amz-Expires"] == ["300"]
        fetched = httpx.get(link, timeout=30)
        assert fetched.status_code == 200 and fetched.content[4:8] == b"ftyp"

        pdf = client.get(f"/certificates/{learner['number']}.pdf")
        assert pdf.status_code == 200 and hashlib.sha256(pdf.content).hexdigest() == learner["pdf_sha256"]
    # Without the learner's session: no link to the store.
    anonymous = httpx.get(f"{cluster['url']}/media/{learner['asset']}/video", timeout=30)
    assert not anonymous.headers.get("Location", "").startswith(endpoint)


def test_a_backup_of_the_bucket_restores_into_a_fresh_cluster_and_bucket(cluster, tmp_path):
    learner = _learner_or_existing(cluster)
    backup = tmp_path / "backup"
    made = subprocess.run([str(SCRIPT), "backup", str(backup)], env=cluster["env"], capture_output=True, text=True,
                          timeout=300)
    assert made.returncode == 0, made.stdout + made.stderr
    assert (backup / "storage" / learner["keys"][-1]).is_file()  # the certificate's PDF, read from the bucket
    for step in (["down"], ["up", "--restore", str(backup)]):
        done = subprocess.run([str(SCRIPT), *step], env=cluster["env"], capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert set(learner["keys"]) <= _bucket_keys(cluster)  # a new server's bucket, filled from the backup
    page = httpx.get(f"{cluster['url']}/verify", params={"no": learner["number"]}, timeout=30).text
    assert "证书有效" in page and "孙*" in page
    checked = subprocess.run([str(ROOT / ".venv" / "bin" / "flask"), "--app", "wsgi", "backup", "check",
                              learner["number"]], env=cluster_env(cluster), cwd=ROOT, capture_output=True, text=True,
                             timeout=120)
    assert checked.returncode == 0 and "均可验证" in checked.stdout, checked.stdout + checked.stderr


_made: dict = {}


def _learner_or_existing(cluster) -> dict:
    """The learner of the module's first test, or a new one when this test runs alone."""
    if "learner" not in _made:
        _made["learner"] = _learner(cluster)
    return _made["learner"]


PUBLISHER = """
import json, re
from wsgi import app
from lms.accounts import services as accounts
from lms.accounts.models import OrgKind, Role
from lms.extensions import db
with app.test_request_context():
    user = accounts.create_person(None, accounts.PersonData(
        real_name="吴发布", id_number="{id_number}", password="Study2026-cluster", mobile="13655500049",
        region_code="110000"))
    accounts.grant_role(None, user, Role.PUBLISHER,
                        organization=accounts.get_or_create_organization("集群继续教育基地", OrgKind.PUBLISHER))
    db.session.commit()
client = app.test_client()
headers = {{"User-Agent": "cluster-test"}}
page = client.get("/login", headers=headers).get_data(as_text=True)
token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
assert client.post("/login", data={{"login": "13655500049", "password": "Study2026-cluster", "csrf_token": token}},
                   headers=headers).status_code == 302
page = client.get("/publish/media", headers=headers).get_data(as_text=True)
csrf = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)
print(json.dumps({{"cookie": client.get_cookie("session").value, "csrf": csrf}}, separators=(",", ":")))
"""

def _rows(cluster) -> tuple[int, int]:
    """Uploads and videos recorded, read from the primary itself (with its store gone, the platform's
    code refuses to start, as a misconfigured node must)."""
    import psycopg

    with psycopg.connect(host="127.0.0.1", port=cluster["port"](32), dbname="lms", user="postgres",
                         connect_timeout=5) as connection:
        return tuple(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                     for table in ("upload", "media_asset"))


def test_the_store_unreachable_refuses_uploads_in_words_records_nothing_and_fails_no_page(cluster):
    """Last in the module: the S3 server is stopped (moto's objects go with it)."""
    script = PUBLISHER.format(id_number=id_number("11010519900103777"))
    publisher = json.loads(run_python(cluster, script))
    before = _rows(cluster)
    part(cluster, "stop", "s3")
    headers = {"User-Agent": "cluster-test", "X-CSRFToken": publisher["csrf"], "Accept": "application/json"}
    with httpx.Client(base_url=cluster["url"], timeout=60, headers=headers,
                      cookies={"session": publisher["cookie"]}) as client:
        refused = client.post("/publish/uploads", json={"kind": "media", "filename": "第六讲.mp4", "size": 4_000_000})
        assert refused.status_code == 503, refused.text
        error = refused.json()["error"]
        assert error["code"] == "storage_unavailable" and "文件存储暂时无法访问" in error["message"]
        for path in ("/", "/courses", "/verify", "/help", "/publish/media"):
            assert client.get(path).status_code == 200, path
    assert _rows(cluster) == before  # no upload, no video recorded
    until(lambda: ready(cluster)["checks"]["storage"]["status"] == "degraded")  # the node stays in rotation
