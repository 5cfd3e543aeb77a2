"""A media worker SIGKILLed mid-transcode, on the loopback cluster (two media workers): the other
worker retries the job without anyone pressing a button and completes it; the killed worker's ffmpeg
dies with it; nothing half-written is served meanwhile; the finished video plays through haproxy.
And a video uploaded while Redis is down is kept, and transcoded once Redis is back, with no button."""

import json
import os
import re
import signal
import subprocess
import threading
from pathlib import Path

import httpx

from tests.clips import make_lecture
from tests.cluster.conftest import CLUSTER, SCRIPT, part, pid_of, run_python, until
from tests.conftest import id_number

pytestmark = CLUSTER

# A transcode silent for 20 s is stalled (its progress is committed at least every 5 s while ffmpeg
# runs); the workers sweep every minute.
CLUSTER_SETTINGS = {"LMS_TRANSCODE_STALL_SECONDS": "20"}
UA = {"User-Agent": "cluster-test"}

PUBLISHER = """
import json, re
from wsgi import app
from lms.accounts import services as accounts
from lms.accounts.models import OrgKind, Role
from lms.extensions import db
with app.test_request_context():
    org = accounts.get_or_create_organization("集群转码测试机构", OrgKind.PUBLISHER)
    user = accounts.create_person(None, accounts.PersonData(
        real_name="吴发布", id_number="{id_number}", password="Study2026-cluster", mobile="{mobile}",
        region_code="110000"))
    accounts.grant_role(None, user, Role.PUBLISHER, organization=org)
    db.session.commit()
client = app.test_client()
ua = {{"User-Agent": "cluster-test"}}
page = client.get("/login", headers=ua).get_data(as_text=True)
token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
signed = client.post("/login", data={{"login": "{mobile}", "password": "Study2026-cluster", "csrf_token": token}},
                     headers=ua)
assert signed.status_code == 302, signed.status_code
page = client.get("/publish/media", headers=ua).get_data(as_text=True)
csrf = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)
print(json.dumps({{"cookie": client.get_cookie("session").value, "csrf": csrf}}, separators=(",", ":")))
"""

AUDIT = """
import sys
from sqlalchemy import func, select
from wsgi import app
from lms.core.audit import AuditEvent
from lms.extensions import db
from lms.media.models import MediaAsset
with app.app_context():
    asset = db.session.get(MediaAsset, int(sys.argv[1]))
    retried = db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "media.transcode_retried", AuditEvent.target_id == sys.argv[1]))
    print(f"{asset.status},{asset.transcode_attempt},{asset.transcode_retries},{retried},{asset.hls_path}")
"""


def _children(pid: int, name: str) -> list[int]:
    """Processes called ``name`` whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            comm, rest = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
            if comm == name and int(rest[1]) == pid and rest[0] != "Z":
                found.append(int(entry.name))
    return found


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_media_worker_killed_mid_transcode_is_retried_by_the_other_and_nothing_half_written_is_served(
        cluster, tmp_path):
    clip = make_lecture(tmp_path / "集群讲座.mp4", 90)  # long enough to be caught half-way
    publisher = json.loads(run_python(cluster, PUBLISHER.format(id_number=id_number("11010519900108666"),
                                                                mobile="13655500061")))
    workers = {name: pid_of(cluster, name) for name in ("worker-media", "worker-media2")}
    client = httpx.Client(base_url=cluster["url"], timeout=60, cookies={"session": publisher["cookie"]},
                          headers={**UA, "X-CSRFToken": publisher["csrf"]})
    with client, open(clip, "rb") as fh:
        uploaded = client.post("/publish/media", data={"csrf_token": publisher["csrf"]},
                               files={"file": (clip.name, fh, "video/mp4")}, headers={"Accept": "application/json"})
        assert uploaded.status_code == 201, uploaded.text
        asset_id = uploaded.json()["asset"]["id"]
        renditions = [f"/media/{asset_id}/video", f"/media/{asset_id}/poster", f"/media/{asset_id}/hls/master.m3u8",
                      f"/media/{asset_id}/hls/index.m3u8", f"/media/{asset_id}/hls/seg_0000.ts"]

        def status() -> str:
            return client.get(f"/publish/media/{asset_id}/status").json()["asset"]["status"]

        # Watch as a learner's player would, all along: a rendition answered while the asset was not
        # ready (before and after the request) would be a half-written one.
        served_early, watching = [], threading.Event()

        def watch() -> None:
            with httpx.Client(base_url=cluster["url"], timeout=60, cookies={"session": publisher["cookie"]},
                              headers=UA) as player:
                while not watching.is_set():
                    before = player.get(f"/publish/media/{asset_id}/status").json()["asset"]["status"]
                    codes = {url: player.get(url).status_code for url in renditions}
                    after = player.get(f"/publish/media/{asset_id}/status").json()["asset"]["status"]
                    if before != "ready" and after != "ready":
                        served_early.extend((url, code, before) for url, code in codes.items() if code != 404)
                    watching.wait(0.5)

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            # A worker's ffmpeg is running, and the transcode has reported progress.
            def busy() -> tuple[str, list[int]] | None:
                for name, pid in workers.items():
                    children = _children(pid, "ffmpeg")
                    if children:
                        return name, children
                return None

            until(lambda: busy() is not None and client.get(f"/publish/media/{asset_id}/status")
                  .json()["asset"]["progress"] > 0, seconds=300)
            victim, orphans = busy()
            survivor = next(name for name in workers if name != victim)
            os.kill(workers[victim], signal.SIGKILL)  # no chance to clean up or mark anything
            until(lambda: not _running(workers[victim]), seconds=30)  # its threads end, then it is gone
            until(lambda: not any(_running(pid) for pid in orphans), seconds=30)  # its ffmpeg died with it
            assert status() == "processing"  # what the killed attempt left: nobody will report on it

            # No button: the survivor's sweep finds the stall and retries; the survivor transcodes.
            until(lambda: status() in ("ready", "failed"), seconds=600)
        finally:
            watching.set()
            watcher.join(120)
        assert status() == "ready"
        assert not served_early, served_early
        state, attempt, retries, audited, hls_path = run_python(cluster, AUDIT, str(asset_id)).split(",")
        assert (state, attempt, retries, audited) == ("ready", "2", "1", "1")  # retried once, by the sweep
        assert _running(workers[survivor])
        log = (cluster["folder"] / f"{survivor}.log").read_text(errors="replace")
        assert f"media asset {asset_id}: transcode attempt 2 published" in log, log[-3000:]
        # Only the retry's renditions exist; the killed attempt's never reached the final keys.
        media = cluster["folder"] / "shared" / "media" / "renditions" / str(asset_id)
        assert sorted(p.name for p in media.iterdir()) == ["2"] and hls_path.startswith(f"renditions/{asset_id}/2/")

        # It plays: the HLS playlists and every segment, the MP4 and the poster answer 200.
        master = client.get(f"/media/{asset_id}/hls/master.m3u8")
        assert master.status_code == 200 and "index.m3u8" in master.text
        playlist = client.get(f"/media/{asset_id}/hls/index.m3u8")
        assert playlist.status_code == 200 and "#EXT-X-ENDLIST" in playlist.text
        segments = re.findall(r"^(seg_\d+\.ts)$", playlist.text, re.M)
        assert len(segments) >= 10  # 90 s in ~6 s segments
        for segment in segments:
            answer = client.get(f"/media/{asset_id}/hls/{segment}")
            assert answer.status_code == 200 and answer.content[:1] == b"\x47", segment  # MPEG-TS sync byte
        video = client.get(f"/media/{asset_id}/video")
        assert video.status_code == 200 and video.content[4:8] == b"ftyp"
        assert client.get(f"/media/{asset_id}/poster").status_code == 200

    part(cluster, "start", victim)
    shown = subprocess.run([str(SCRIPT), "status"], env=cluster["env"], capture_output=True, text=True,
                           timeout=60).stdout
    assert "up    worker-media " in shown and "up    worker-media2 " in shown, shown


def test_a_video_uploaded_while_redis_is_down_is_transcoded_when_it_is_back_without_a_button(cluster, tmp_path):
    """The upload commits, its job cannot be queued: the answer says the transcode will start by
    itself; once Redis is back, a media worker's sweep finds the video waiting with no job in the
    queue (LMS_TRANSCODE_STALL_SECONDS) and queues it, once."""
    clip = make_lecture(tmp_path / "停机讲座.mp4", 4)
    publisher = json.loads(run_python(cluster, PUBLISHER.format(id_number=id_number("11010519900108777"),
                                                                mobile="13655500062")))
    client = httpx.Client(base_url=cluster["url"], timeout=60, cookies={"session": publisher["cookie"]},
                          headers={**UA, "X-CSRFToken": publisher["csrf"]})
    with client:
        part(cluster, "stop", "redis")
        try:
            with open(clip, "rb") as fh:
                uploaded = client.post("/publish/media", data={"csrf_token": publisher["csrf"]},
                                       files={"file": (clip.name, fh, "video/mp4")},
                                       headers={"Accept": "application/json"})
            assert uploaded.status_code == 201, uploaded.text
            asset = uploaded.json()["asset"]
            assert asset["status"] == "uploaded" and "后台转码队列暂时不可用" in asset["notice"]
            assert client.get("/publish/media").status_code == 200
        finally:
            part(cluster, "start", "redis")

        def status() -> str:
            return client.get(f"/publish/media/{asset['id']}/status").json()["asset"]["status"]

        until(lambda: status() in ("ready", "failed"), seconds=300)
        assert status() == "ready"
    state, attempt, retries, _audited, _hls = run_python(cluster, AUDIT, str(asset["id"])).split(",")
    assert (state, attempt, retries) == ("ready", "1", "0")  # one transcode: queued once, by one sweep
    logs = "".join((cluster["folder"] / f"{name}.log").read_text(errors="replace")
                   for name in ("worker-media", "worker-media2"))
    assert logs.count(f"media asset {asset['id']} was waiting for a transcode with no job in the queue") == 1, \
        logs[-3000:]
