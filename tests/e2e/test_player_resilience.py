"""Lost heartbeats and a server restart cost the honest learner nothing, and credit nothing twice.

A real browser plays a whole lesson (confirming the attention check asked when its coverage is
reached) while the network, by a fixed seed, drops 30 % of the heartbeat
requests and 10 % of the responses (the server credited the beat, the player never heard), and the
server process is stopped and started again once in the middle.
"""

import concurrent.futures
import contextlib
import random

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from lms.extensions import db
from lms.learning import crediting
from lms.learning.models import LessonProgress
from tests import app_process
from tests.conftest import build_database, fresh_database, make_test_app
from tests.e2e.conftest import enrolled_learner, until
from tests.e2e.test_learning_player import play, sign_in

pytestmark = pytest.mark.e2e
CODE = "GX-NS-001"
SEED = 20261129


def pump(page: Page, work, undo=None):
    """Run ``work`` in a thread while this one keeps serving the page's routes; return its result.
    When serving the page fails meanwhile, ``undo`` is given what ``work`` made (a started server)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(work)
        try:
            while not future.done():
                page.wait_for_timeout(50)
        except BaseException:
            if undo is not None and future.exception() is None:
                undo(future.result())
            raise
        return future.result()


def test_lost_beats_and_a_restart_cost_the_learner_nothing(page: Page, tmp_path_factory, live_server):
    tmp = tmp_path_factory.mktemp("resilience")
    with fresh_database(tmp, "resilience") as url:
        settings = {"LMS_HEARTBEAT_SECONDS": 2, "LMS_MEDIA_ROOT": str(tmp / "media"),
                    "LMS_SEARCH_INDEX": str(tmp / "search-index")}
        app = make_test_app(url, tmp, **settings)
        build_database(app, packages=(CODE,))
        user_id, mobile, lessons = enrolled_learner(app, CODE, name="断网测试")
        lesson_id = lessons[0]

        port = app_process.free_port()
        base = f"http://127.0.0.1:{port}"
        process_settings = {"database_url": url, "tmp_dir": str(tmp), **settings}
        server = app_process.start(process_settings, port, tmp / "server.log")
        try:
            rng = random.Random(SEED)
            fates = {"request lost": 0, "response lost": 0, "delivered": 0}

            def network(route):
                roll = rng.random()
                if roll < 0.30:
                    fates["request lost"] += 1
                    route.abort("connectionfailed")
                    return
                if roll < 0.40:
                    fates["response lost"] += 1
                    with contextlib.suppress(Exception):  # the server may be down: then the request is lost too
                        route.fetch()  # reaches the server, which credits it
                    route.abort("connectionfailed")
                    return
                fates["delivered"] += 1
                route.continue_()

            sign_in(page, base, mobile)
            page.route("**/api/v1/learning/heartbeat", network)
            page.goto(f"{base}/learn/{CODE}/{lesson_id}")
            # What was actually played: media time advancing in normal playback, summed in the page.
            until(page, "() => document.getElementById('lesson-video').readyState >= 1")
            page.evaluate("""() => {
                const v = document.getElementById('lesson-video');
                window.playedSeconds = 0; window.messages = [];
                let last = null;
                v.addEventListener('timeupdate', () => {
                    if (last !== null && !v.seeking && v.currentTime > last && v.currentTime - last < 1.5) {
                        window.playedSeconds += v.currentTime - last;
                    }
                    last = v.currentTime;
                });
                v.addEventListener('seeking', () => { last = null; });
                // Stay on this page: cancel the next lesson's countdown as soon as it shows.
                const next = document.getElementById('next-notice');
                if (next) {
                    new MutationObserver(() => {
                        if (!next.classList.contains('d-none')) { document.getElementById('next-cancel').click(); }
                    }).observe(next, {attributes: true, attributeFilter: ['class']});
                }
                new MutationObserver(() => window.messages.push(document.getElementById('player-message').textContent))
                    .observe(document.getElementById('player-message'), {childList: true, characterData: true, subtree: true});
            }""")
            play(page)
            until(page, "() => window.playedSeconds > 10", timeout=30)

            # The server goes away mid-lesson and comes back. Stopping and starting it block, so they
            # run beside the page: Playwright calls the route handler (the network) only while this
            # thread is inside one of its calls, and a blocked thread would hold the beats sent
            # meanwhile for seconds, a delay no network in this test is meant to add.
            pump(page, lambda: app_process.stop(server))
            expect(page.locator("#player-message")).to_contain_text("网络中断，恢复后将补记", timeout=15_000)
            server = pump(page, lambda: app_process.start(process_settings, port, tmp / "server.log"),
                          undo=app_process.stop)

            # Coverage reached with time still waiting: the learner confirms, as every learner does.
            try:
                page.get_by_role("button", name="我在学习，继续计时").click(timeout=90_000)
            except Exception:
                with app.app_context():  # say where the lesson stood when the check never came
                    row = db.session.scalar(select(LessonProgress).where(
                        LessonProgress.user_id == user_id, LessonProgress.lesson_id == lesson_id))
                    print(f"\nno check: credited {row.credited_seconds} pending {row.pending_seconds} "
                          f"watched {row.watched_seconds} not counted {row.not_counted}; beats {fates}; "
                          f"messages {page.evaluate('() => window.messages')}")
                    db.session.remove()
                raise
            until(page, "() => document.getElementById('lesson-video').ended", timeout=90)
            played = page.evaluate("() => window.playedSeconds")
            expect(page.locator("#st-state")).to_have_text("已完成", timeout=60_000)
            page.wait_for_timeout(3_000)  # any retry still under way lands

            with app.app_context():
                progress = db.session.scalar(select(LessonProgress).where(
                    LessonProgress.user_id == user_id, LessonProgress.lesson_id == lesson_id))
                counted = progress.credited_seconds + progress.pending_seconds
                duration = progress.lesson.duration_seconds
                watched, completed = progress.watched_seconds, progress.completed_at
                db.session.remove()
            messages = page.evaluate("() => window.messages")
            print(f"\nplayed {played:.1f} s, credited {counted:.1f} s; beats: {fates}")
            assert fates["request lost"] and fates["response lost"]  # the network really misbehaved
            assert completed is not None
            assert counted >= 0.95 * played, f"credited {counted:.1f} s of {played:.1f} s played"
            assert counted <= played + crediting.TOLERANCE_SECONDS, "credited more than was played"
            assert watched <= duration + 1e-6
            assert any("网络中断，恢复后将补记" in m for m in messages)
            assert any("网络已恢复" in m for m in messages)
        finally:
            app_process.stop(server)
            with app.app_context():
                db.engine.dispose()  # close the pool's connections before the database is dropped
