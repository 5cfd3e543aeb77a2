"""Attacks on the credit budget over HTTP, as an outsider with a learner's account would script them:
no browser, no access to the server's internals, a real server on loopback and the real wall clock.

Each attack runs for a few seconds and prints the time charged to the learner (credited, plus time
waiting for an attention check) against the wall-clock seconds it ran. The learner's budget allows
at most the wall-clock time plus one tolerance, whatever the attack.
"""

import re
import threading
import time

import httpx
import pytest
from sqlalchemy import func, select

from lms.credits.models import RuleSet
from lms.extensions import db
from lms.learning import crediting
from lms.learning.models import LessonProgress
from tests.conftest import TEST_PASSWORD, build_database, fresh_database, make_test_app
from tests.e2e.conftest import enrolled_learner, serving

CODE = "GX-NS-001"
ATTACK_SECONDS = 4.0
CHECK_REGION = "310000"  # attention checks after 3 s of play, 3 s to answer


@pytest.fixture(scope="module")
def site(tmp_path_factory, live_server):
    """A server of its own. Depends on live_server only so the per-test rollback fixture stands aside
    (the server's requests must commit for real)."""
    tmp = tmp_path_factory.mktemp("attacks")
    with fresh_database(tmp, "attacks") as url:
        # The start and login limits aside: the budget alone must hold.
        app = make_test_app(url, tmp, LMS_SESSION_STARTS_PER_MINUTE=1000, LMS_LOGIN_RATE_LIMIT="1000 per minute")
        build_database(app, packages=(CODE,))
        with app.app_context():
            db.session.add(RuleSet(name="测试：频繁确认", region_code=CHECK_REGION, attention_check_min_seconds=3,
                                   attention_check_max_seconds=3, attention_window_seconds=3))
            db.session.commit()
        with serving(app) as base:
            yield app, base


def new_learner(app, region="110000"):
    return enrolled_learner(app, CODE, region=region, name="攻击测试")


class Attacker:
    """One signed-in browser-less client: the login form, then the player's JSON API."""

    def __init__(self, base: str, mobile: str, lesson_id: int):
        self.http = httpx.Client(base_url=base, timeout=30)
        page = self.http.get("/login").text
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"', page)
        form_token = next(g for g in token.groups() if g)
        response = self.http.post("/login", data={"csrf_token": form_token, "login": mobile, "password": TEST_PASSWORD})
        assert response.status_code in (302, 303), response.text[:500]
        player = self.http.get(f"/learn/{CODE}/{lesson_id}").text
        self.csrf = re.search(r'data-csrf="([^"]+)"', player).group(1)
        self.lesson_id = lesson_id

    def post(self, path: str, body: dict) -> httpx.Response:
        return self.http.post(f"/api/v1/learning/{path}", json=body, headers={"X-CSRFToken": self.csrf})

    def start(self, lesson_id: int | None = None) -> dict | None:
        response = self.post("sessions", {"lesson_id": lesson_id or self.lesson_id})
        return response.json() if response.status_code == 200 else None

    def beat(self, session_id: str, seq: int, segments, *, rate=1.5, event="pause", resend=()) -> httpx.Response:
        return self.post("heartbeat", {"session_id": session_id, "seq": seq, "position": 0, "segments": segments,
                                       "rate": rate, "visible": True, "event": event, "resend": list(resend)})


def charged(app, user_id: int) -> float:
    with app.app_context():
        total = db.session.scalar(select(func.coalesce(func.sum(
            LessonProgress.credited_seconds + LessonProgress.pending_seconds), 0)).where(
            LessonProgress.user_id == user_id))
        db.session.remove()
        return float(total)


def report(name: str, app, user_id: int, started: float) -> None:
    wall = time.monotonic() - started
    got = charged(app, user_id)
    print(f"\n[{name}] credited {got:.2f} s in {wall:.2f} s of wall clock: ratio {got / wall:.3f} "
          f"(allowed: 1 + {crediting.TOLERANCE_SECONDS:.0f} s tolerance)")
    assert got <= wall + crediting.TOLERANCE_SECONDS + 1e-3, f"{name}: {got:.2f} s credited in {wall:.2f} s"


def test_a_new_session_before_every_beat(site):
    """The probe that once earned ~70× real time: start, one beat at the furthest point at 1.5×
    flagged as a pause, and again."""
    app, base = site
    user_id, mobile, lessons = new_learner(app)
    attacker = Attacker(base, mobile, lessons[0])
    started, beats = time.monotonic(), 0
    while time.monotonic() - started < ATTACK_SECONDS:
        session = attacker.start()
        if session is None:
            continue
        far = session["furthest_point"]
        attacker.beat(session["session_id"], 1, [[far, far + 45]])
        beats += 1
    assert beats > 20  # the attack really ran
    report("restart before every beat", app, user_id, started)


def test_many_parallel_sessions(site):
    """Four clients (four logins of the same learner) start sessions and beat at once."""
    app, base = site
    user_id, mobile, lessons = new_learner(app)
    clients = [Attacker(base, mobile, lessons[i % len(lessons)]) for i in range(4)]
    started = time.monotonic()
    errors = []

    def run(client: Attacker):
        try:
            seq, session = 0, None
            while time.monotonic() - started < ATTACK_SECONDS:
                if session is None or seq % 3 == 0:
                    session, seq = client.start(), 0
                    if session is None:
                        continue
                seq += 1
                far = session["furthest_point"] + 10 * (seq - 1)
                response = client.beat(session["session_id"], seq, [[far, far + 20]], event="tick")
                if response.status_code == 409:
                    session = None
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(client,)) for client in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    report("parallel sessions", app, user_id, started)


def test_pause_only_beats_around_an_attention_check(site):
    """A learner whose rule asks for a check every 3 s: every beat calls itself a pause, the check is
    never answered; then the session is restarted to shake the check off."""
    app, base = site
    user_id, mobile, lessons = new_learner(app, region=CHECK_REGION)
    attacker = Attacker(base, mobile, lessons[0])
    started, seq = time.monotonic(), 0
    session = attacker.start()
    far, checks_seen = session["furthest_point"], 0
    while time.monotonic() - started < ATTACK_SECONDS * 2:
        time.sleep(0.25)
        seq += 1
        body = attacker.beat(session["session_id"], seq, [[far, far + 2]], rate=1.0,
                             event=("pause", "ended", "unload")[seq % 3]).json()
        far = body.get("furthest_point", far)
        if body.get("attention_check"):
            checks_seen += 1
            if checks_seen % 4 == 0:  # shake it off with a fresh session
                session, seq = attacker.start(), 0
    assert checks_seen > 0  # the check came due whatever the beats were called
    report("pause-only beats around a check", app, user_id, started)
    with app.app_context():
        credited = db.session.scalar(select(func.sum(LessonProgress.credited_seconds)).where(
            LessonProgress.user_id == user_id))
        db.session.remove()
    assert not credited  # no check was ever answered: nothing was credited


def test_replayed_and_reordered_beats(site):
    """An honest-looking stream of beats, each also replayed, sent again after the next one, and resent
    in the batches of every later beat."""
    app, base = site
    user_id, mobile, lessons = new_learner(app)
    attacker = Attacker(base, mobile, lessons[0])
    started = time.monotonic()
    session = attacker.start()
    sid, far, seq, sent = session["session_id"], session["furthest_point"], 0, []
    previous = None
    while time.monotonic() - started < ATTACK_SECONDS:
        time.sleep(0.3)
        seq += 1
        segments = [[far, far + 6]]  # 6 media s for 0.3 s of wall clock
        resend = [{"seq": s, "segments": segs} for s, segs in sent]
        body = attacker.beat(sid, seq, segments, event="tick", resend=resend).json()
        attacker.beat(sid, seq, segments, event="tick", resend=resend)  # replayed
        if previous is not None:
            attacker.beat(sid, *previous, event="tick", resend=resend)  # the one before, again, out of order
        far = body.get("furthest_point", far)
        previous = (seq, segments)
        sent = (sent + [(seq, segments)])[-40:]
    report("replayed and reordered beats", app, user_id, started)
