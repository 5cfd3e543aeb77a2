"""Media in a folder behind nginx (deploy/nginx-media.conf, rendered as deployed, nginx from Debian):
links signed by the app expire, checked by nginx's secure_link (moto cannot prove expiry for S3,
nginx can); X-Accel-Redirect lets nginx send a file only after the app's own check."""

import os
import pwd
import shutil
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from lms.core.storage import secure_link
from tests.app_process import free_port
from tests.conftest import ROOT, TEST_PASSWORD, _csrf_token, committed_app, credit_code, id_number, session_per_thread
from tests.e2e.conftest import serving

SECRET = "nginx-link-secret-for-tests"
PREFIX = "/signed-media/"

pytestmark = pytest.mark.skipif(shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists(),
                                reason="nginx is installed by scripts/system-deps.sh --browser")


@contextmanager
def nginx(tmp: Path, media_root: Path, upstream: str | None = None):
    """nginx on a free loopback port with deploy/nginx-media.conf included; yields its base URL."""
    port = free_port()
    media_conf = (ROOT / "deploy" / "nginx-media.conf").read_text()
    (tmp / "media.conf").write_text(media_conf.replace("@MEDIA_ROOT@", str(media_root))
                                    .replace("@SECURE_LINK_SECRET@", SECRET))
    proxy = (f"location / {{ proxy_pass {upstream}; proxy_set_header Host $http_host; }}" if upstream else "")
    # Workers as the test's own user (as root nginx would switch to "nobody", who cannot read tmp_path).
    user = f"user {pwd.getpwuid(os.getuid()).pw_name};" if os.getuid() == 0 else ""
    (tmp / "nginx.conf").write_text(f"""
{user}
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        include {tmp}/media.conf;
        {proxy}
    }}
}}
""")
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    with open(tmp / "nginx.out", "wb") as out:
        process = subprocess.Popen([binary, "-c", str(tmp / "nginx.conf"), "-p", str(tmp)],
                                   stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                raise RuntimeError((tmp / "nginx.out").read_text())
            try:
                httpx.get(base + "/signed-media/x", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_secure_links_work_until_they_expire_and_cannot_be_altered(tmp_path):
    media = tmp_path / "media"
    (media / "renditions" / "4" / "hls").mkdir(parents=True)
    (media / "renditions" / "4" / "hls" / "seg_0000.ts").write_bytes(b"G" + b"\x00" * 187)
    (media / "renditions" / "4" / "video.mp4").write_bytes(b"other video")
    with nginx(tmp_path, media) as base:
        link = secure_link("renditions/4/hls/seg_0000.ts", 60, secret=SECRET, prefix=PREFIX)
        fresh = httpx.get(base + link)
        assert fresh.status_code == 200 and fresh.content == b"G" + b"\x00" * 187
        assert fresh.headers["content-type"] == "video/mp2t"
        expired = secure_link("renditions/4/hls/seg_0000.ts", 60, secret=SECRET, prefix=PREFIX, now=time.time() - 61)
        assert httpx.get(base + expired).status_code == 410
        short = secure_link("renditions/4/hls/seg_0000.ts", 1, secret=SECRET, prefix=PREFIX)
        assert httpx.get(base + short).status_code == 200
        time.sleep(2.1)
        assert httpx.get(base + short).status_code == 410  # the same link, once its second has passed
        expires = link.split("expires=")[1]
        longer = link.replace(f"expires={expires}", f"expires={int(expires) + 86400}")
        assert httpx.get(base + longer).status_code == 403  # the expiry is signed
        other = link.replace("hls/seg_0000.ts", "video.mp4")
        assert httpx.get(base + other).status_code == 403  # so is the path
        wrong_secret = secure_link("renditions/4/video.mp4", 60, secret="guessed", prefix=PREFIX)
        assert httpx.get(base + wrong_secret).status_code == 403
        assert httpx.get(base + "/signed-media/renditions/4/video.mp4").status_code == 403
        assert httpx.get(base + "/protected-media/renditions/4/video.mp4").status_code == 404  # internal only


@pytest.fixture
def live(tmp_path, monkeypatch):
    from lms.core import jobs
    from lms.extensions import db

    previous = jobs._app
    monkeypatch.setattr(db, "session", db._make_scoped_session({}))
    try:
        with committed_app(tmp_path, "nginxmedia", LMS_ACCEL_REDIRECT="/protected-media/",
                           LMS_SECURE_LINK_SECRET=SECRET, LMS_PROXY_FIX=False) as app, serving(app) as base:
            session_per_thread(app, monkeypatch)
            yield app, base
    finally:
        if previous is not None:
            jobs.init_app(previous)


def test_behind_nginx_the_app_checks_and_nginx_sends_the_video(live, tmp_path, monkeypatch, request):
    from lms.accounts import services as accounts
    from lms.catalog.models import Lesson
    from lms.extensions import db

    app, upstream = live
    with app.test_request_context():
        accounts.create_person(None, accounts.PersonData(
            real_name="学员", id_number=id_number("11010519900101888"), password=TEST_PASSWORD,
            mobile="13700000888", region_code="110000", employer_name="测试单位",
            employer_credit_code=credit_code("91110105MA01ABCD6")))
        db.session.commit()
        lesson = db.session.scalars(select(Lesson).where(Lesson.media_asset_id.is_not(None))).first()
        asset = lesson.media_asset
        asset_id, key = asset.id, asset.mp4_path
        mp4 = Path(app.config["LMS_MEDIA_ROOT"]) / key
    (tmp_path / "nginx").mkdir()
    with nginx(tmp_path / "nginx", Path(app.config["LMS_MEDIA_ROOT"]), upstream) as base:
        anonymous = httpx.get(f"{base}/media/{asset_id}/video")
        assert anonymous.status_code == 302 and "/login" in anonymous.headers["location"]  # no file without the check
        http = httpx.Client(base_url=base, timeout=30)
        request.addfinalizer(http.close)
        token = _csrf_token(http.get("/login").text)
        assert http.post("/login", data={"login": "13700000888", "password": TEST_PASSWORD,
                                         "csrf_token": token}).status_code == 302
        # secure_link: a redirect to a link nginx serves, which says when it expires.
        answer = http.get(f"/media/{asset_id}/video")
        assert answer.status_code == 302 and answer.headers["location"].startswith(PREFIX)
        assert answer.headers["cache-control"] == "no-store"
        video = http.get(answer.headers["location"])
        assert video.status_code == 200 and video.content == mp4.read_bytes()
        # X-Accel-Redirect (no secure_link secret): nginx sends the file in the app's answer's place.
        monkeypatch.setitem(app.config, "LMS_SECURE_LINK_SECRET", None)
        accel = http.get(f"/media/{asset_id}/video", headers={"Range": "bytes=0-99"})
        assert accel.status_code == 206 and accel.content == mp4.read_bytes()[:100]
        assert "x-accel-redirect" not in accel.headers  # nginx consumed it
        direct = httpx.get(f"{upstream}/media/{asset_id}/video", cookies=http.cookies)
        assert direct.headers["X-Accel-Redirect"] == f"/protected-media/{key}" and direct.content == b""
