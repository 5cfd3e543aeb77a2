"""Course certificates attacked over HTTP, on a real gunicorn server (two workers with threads, so
requests really run at once) with jobs queued (``LMS_JOBS_IMMEDIATE`` off) on Redis and issued by a
real ``huey_consumer``, on a committed database (SQLite, or PostgreSQL with
LMS_TEST_DATABASE=postgresql). Learners are set up in the database up to the completing act (every
lesson watched, the final exam drawn); the exam is then submitted over HTTP: by one learner from
many clients at once and again afterwards, by many learners at once while ``flask certificates
sweep --all`` (the app's CLI runner, in a thread, on the same database) and the consumer both
issue, and while the certificate is pending and its page is refreshed at once. Every race is judged
by the rows in the database, not by the answers: one ledger entry and one course certificate per
learner and course. Then every certificate route with another learner's number, anonymously and
without a CSRF token, and hostile certificate numbers and years (full-width, look-alike,
zero-width, over-long, SQL-ish): refusals and not-found pages in Chinese, the public page shows
masked personal data only, and nothing is ever a 500."""

import os
import re
import threading
import time
from datetime import timedelta

import pytest
import redis
from sqlalchemy import select

from tests.app_process import served_by_gunicorn
from tests.conftest import ROOT, TEST_PASSWORD, build_database, credit_code, fresh_database, id_number, make_test_app
from tests.http_site import HttpSite, csrf, in_parallel, not_500
from tests.queue_helpers import REDIS_URL, start_consumer, stop

SETTINGS = {"LMS_LOGIN_RATE_LIMIT": "100000 per minute", "LMS_VERIFY_RATE_LIMIT": "100000 per minute",
            "LMS_TRANSFER_RATE_LIMIT": "100000 per minute", "LMS_SECURE_COOKIES": False,
            "LMS_JOBS_IMMEDIATE": False, "REDIS_URL": REDIS_URL}
COURSE = "GX-NS-001"
MANY = [f"many{n}" for n in range(8)]
# Prepared up to the exam: the exam is theirs to submit over HTTP.
STUDYING = ["solo", "waiting", "carol", *MANY]
HOLDERS = ["alice", "dora"]  # hold a course certificate from the start
PEOPLE = [*HOLDERS, "bob", "admin", *STUDYING]


class Site(HttpSite):
    """The site, its consumer's environment and what the certificates and the ledger hold."""

    env: dict
    tmp_path = None

    def certificates(self, who) -> list:
        from lms.certificates.models import Certificate

        return [row[0] for row in self.rows(select(Certificate.number).where(
            Certificate.user_id == self.people[who]["id"], Certificate.kind == "course",
            Certificate.course_code == COURSE))]

    def entries(self, who) -> int:
        from lms.credits.models import CreditRecord

        return self.count(CreditRecord, CreditRecord.user_id == self.people[who]["id"],
                          CreditRecord.course_code == COURSE, CreditRecord.origin == "online_course")

    def pending(self) -> list:
        """The ledger entries still without their certificate (what the sweep would issue)."""
        from lms.certificates import services

        with self.app.app_context():
            return [record.user_id for record in services.pending_course_records()]

    def consumer(self):
        return start_consumer(self.env, self.tmp_path, "huey")

    def submit(self, who, client=None):
        """Submit the learner's open exam attempt with the right answers, over HTTP."""
        attempt = self.ids[f"attempt:{who}"]
        answers = {f"q-{q}": letters for q, letters in self.ids[f"answers:{who}"].items()}
        own = client is None
        client = client or self.client(who)
        try:
            token = csrf(client.get(f"/learn/exam/{attempt}").text)
            return client.post(f"/learn/exam/{attempt}", data={**answers, "csrf_token": token})
        finally:
            if own:
                client.close()


@pytest.fixture(autouse=True)
def db_session():
    """Not the rolled-back test session: the server and the consumer commit, and this module reads
    what they did."""
    yield None


def _person(n, name):
    from lms.accounts import services as accounts

    return accounts.create_person(None, accounts.PersonData(
        real_name=f"证书{name}", id_number=id_number(f"11010519850301{n:03d}"), password=TEST_PASSWORD,
        mobile=f"1367770{n:04d}", email=None, region_code="110000", employer_name="证书攻防单位",
        employer_credit_code=credit_code("91110108MA00CATK0")), roles=())


def _build_world(app):
    """Alice holds a course certificate (the one others try to reach); the others have watched
    every lesson and drawn the exam, which they submit over HTTP."""
    from lms.accounts import services as accounts
    from lms.accounts.models import Role
    from lms.certificates import services as certificates
    from lms.credits import services as ledger
    from lms.extensions import db
    from lms.learning import exam
    from lms.learning import services as learning
    from tests.learning_helpers import Clock, correct_answers, course, study_all_lessons

    people, ids = {}, {}
    for n, name in enumerate(PEOPLE, start=1):
        user = _person(n, name)
        people[name] = {"id": user.id, "mobile": user.mobile, "real_name": user.real_name,
                        "id_number": id_number(f"11010519850301{n:03d}")}
    db.session.commit()
    accounts.grant_role(None, db.session.get(type(user), people["admin"]["id"]), Role.ADMIN)
    db.session.commit()
    c = course(db.session, COURSE)
    for name in [*HOLDERS, *STUDYING]:
        learner = db.session.get(type(user), people[name]["id"])
        enrollment = learning.enroll(learner, c.code)
        tick = Clock()
        study_all_lessons(learner.id, c, tick)
        with tick():
            attempt = exam.start_attempt(learner, enrollment)
            db.session.commit()
            if name in HOLDERS:
                exam.submit_attempt(learner, attempt, correct_answers(attempt))
                db.session.commit()
                record = ledger.active_record_for_course(learner.id, c.code)
                ids[f"{name}:number"] = certificates.issue_for_record(record.id).number
                ids[f"{name}:year"] = record.credit_year
                db.session.commit()
            else:
                ids[f"attempt:{name}"] = attempt.id
                ids[f"answers:{name}"] = correct_answers(attempt)
    db.session.rollback()  # the answers' reads end their transaction: no connection outlives the pool
    return people, ids


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from lms.core.jobs import huey
    from lms.extensions import db

    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.ConnectionError:
        pytest.fail("Redis is not running on 127.0.0.1:6379 (scripts/test.sh expects it)")
    redis.Redis.from_url(REDIS_URL).flushdb()
    tmp_path = tmp_path_factory.mktemp("certificate_attacks")
    instance = os.environ.get("LMS_INSTANCE_PATH")
    paths = {"LMS_JOBS_FILE": str(tmp_path / "jobs.sqlite3"), "LMS_MEDIA_ROOT": str(tmp_path / "media"),
             "LMS_SEARCH_INDEX": str(tmp_path / "search-index")}
    with fresh_database(tmp_path, "certificate_attacks") as url:
        app = make_test_app(url, tmp_path, **SETTINGS, **paths)
        build_database(app, packages=(COURSE,))
        with app.test_request_context():
            people, ids = _build_world(app)
            db.engine.dispose()
        huey.flush()  # the setup's own jobs (Alice's certificate is issued already): the queue starts empty
        env = {**os.environ, "LMS_INSTANCE_PATH": str(tmp_path / "instance"), "DATABASE_URL": url,
               "LMS_JOBS_IMMEDIATE": "0", "SECRET_KEY": "test-secret-key", "LMS_DATA_KEY": "test-data-key",
               "PYTHONPATH": str(ROOT), "REDIS_URL": REDIS_URL, **paths}
        try:
            with served_by_gunicorn({"database_url": url, **SETTINGS, **paths}, tmp_path) as served:
                made = Site(served.base, app, people, ids, log=served.log)
                made.env, made.tmp_path = env, tmp_path
                for who in PEOPLE:  # signed in one at a time, before any race
                    made.client(who).close()
                yield made
        finally:
            if instance is not None:
                os.environ["LMS_INSTANCE_PATH"] = instance
            with app.app_context():
                db.engine.dispose()
            redis.Redis.from_url(REDIS_URL).flushdb()


@pytest.fixture(autouse=True)
def _no_server_errors(site):
    with site.no_new_tracebacks():
        yield


def _wait_until(done, within=90.0, log=None):
    deadline = time.monotonic() + within
    while not done():
        assert time.monotonic() < deadline, log() if log else "not done in time"
        time.sleep(0.2)


def _drained():
    """No certificate job left in the queue."""
    from lms.core.jobs import huey

    return not any(task.name.endswith("issue_certificate_job") for task in huey.pending())


def _message(page: str) -> str:
    found = re.search(r'id="verify-message"[^>]*>([^<]+)<', page) or re.search(r'class="alert[^"]*"[^>]*>([^<]+)<', page)
    return found.group(1).strip() if found else ""


# ---------------------------------------------------------------- races

def test_one_learner_submitting_the_exam_from_many_clients_at_once_and_again_gets_one_entry_and_one_certificate(site):
    """Twelve clients of one learner post the passing exam at once, then four more afterwards and four
    try to start another attempt: one submission is graded, one ledger entry is written, one job
    issues one certificate; the rest are refused with a Chinese message and change nothing."""
    from lms.learning.models import QuizAttempt

    clients = [site.client("solo") for _ in range(12)]
    consumer = site.consumer()
    try:
        tokens = [csrf(c.get(f"/learn/exam/{site.ids['attempt:solo']}").text) for c in clients]
        answers = {f"q-{q}": letters for q, letters in site.ids["answers:solo"].items()}
        path = f"/learn/exam/{site.ids['attempt:solo']}"
        barrier = threading.Barrier(len(clients))

        def post(n):
            barrier.wait(timeout=30)
            return clients[n].post(path, data={**answers, "csrf_token": tokens[n]})

        answered = in_parallel(post, range(len(clients)))
        not_500(answered)
        assert sum(a.status_code == 302 for a in answered) == 1, [a.status_code for a in answered]
        refused = [a for a in answered if a.status_code != 302]
        assert all(a.status_code == 409 and "已经提交过" in a.text for a in refused), \
            [(a.status_code, a.text[-300:]) for a in refused]

        again = in_parallel(lambda _n: site.submit("solo"), range(4))
        restarted = in_parallel(lambda _n: site.post("solo", f"/learn/{COURSE}/exam", page=f"/learn/{COURSE}/exam"),
                                range(4))
        not_500(again + restarted)
        assert all(a.status_code == 409 for a in again)
        assert all(a.status_code == 302 for a in restarted)
        _wait_until(lambda: site.certificates("solo") and _drained(), log=lambda: stop(consumer))
    finally:
        log = stop(consumer)
        for c in clients:
            c.close()
    assert "Traceback" not in log, log[-3000:]
    assert site.count(QuizAttempt, QuizAttempt.user_id == site.people["solo"]["id"]) == 1
    assert site.count(QuizAttempt, QuizAttempt.user_id == site.people["solo"]["id"],
                      QuizAttempt.submitted_at.is_not(None)) == 1
    assert site.entries("solo") == 1
    assert len(site.certificates("solo")) == 1
    assert site.people["solo"]["id"] not in site.pending()


def test_many_learners_completing_at_once_while_the_consumer_and_the_whole_ledger_sweep_run_get_one_certificate_each(site):
    """Eight learners submit at once (each from two clients) while the consumer issues their jobs and
    ``flask certificates sweep --all`` runs again and again (its clock five minutes on, so every new
    entry is one the sweep takes for lost): both issuers meet on the same entries, and each learner
    ends with exactly one certificate; none is missing after a last sweep, which issues nothing."""
    from lms.core import clock

    runner = site.app.test_cli_runner()
    outputs, errors, racing = [], [], threading.Event()

    def sweep_again_and_again():
        try:
            while not racing.is_set():
                with clock.freeze(clock.now() + timedelta(minutes=5)):
                    result = runner.invoke(args=["certificates", "sweep", "--all"])
                outputs.append(result.output)
                if result.exit_code != 0 or result.exception is not None:
                    errors.append((result.output, result.exception))
        except Exception as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    consumer = site.consumer()
    sweeper = threading.Thread(target=sweep_again_and_again)
    sweeper.start()
    try:
        answered = in_parallel(site.submit, [*MANY, *MANY])
        not_500(answered)
        assert sorted(a.status_code for a in answered) == [302] * len(MANY) + [409] * len(MANY), \
            [(a.status_code, a.text[-200:]) for a in answered]
        _wait_until(lambda: all(site.certificates(who) for who in MANY) and _drained(),
                    log=lambda: stop(consumer))
    finally:
        racing.set()
        sweeper.join(timeout=120)
        log = stop(consumer)
    assert not errors, errors
    assert outputs and all("补发证书" in out for out in outputs), outputs
    assert "Traceback" not in log, log[-3000:]

    with clock.freeze(clock.now() + timedelta(minutes=5)):
        last = runner.invoke(args=["certificates", "sweep", "--all"])
    assert last.exit_code == 0 and "补发证书 0 张" in last.output, last.output
    numbers = []
    for who in MANY:
        assert site.entries(who) == 1, who
        issued = site.certificates(who)
        assert len(issued) == 1, (who, issued)
        numbers += issued
    assert len(set(numbers)) == len(MANY)
    assert site.pending() == []


def test_a_pending_certificate_says_so_and_refreshing_at_once_changes_nothing(site):
    """While the job waits (no consumer yet) 我的证书 says 签发中 and refreshes itself; twenty refreshes
    at once answer it, issue nothing and never fail. Once the consumer has run, the page shows the
    number, and twenty refreshes at once leave one certificate."""
    assert site.submit("waiting").status_code == 302
    assert site.entries("waiting") == 1 and site.certificates("waiting") == []

    def refresh(_n):
        with site.client("waiting") as client:
            return client.get("/me/certificates")

    pages = in_parallel(refresh, range(20))
    not_500(pages)
    assert all(p.status_code == 200 and "证书签发中" in p.text and 'http-equiv="refresh"' in p.text for p in pages)
    assert site.certificates("waiting") == []
    with site.client("bob") as client:  # another learner's page says nothing of it
        assert "证书签发中" not in client.get("/me/certificates").text

    consumer = site.consumer()
    try:
        _wait_until(lambda: site.certificates("waiting"), log=lambda: stop(consumer))
    finally:
        log = stop(consumer)
    assert "Traceback" not in log, log[-3000:]
    [number] = site.certificates("waiting")
    pages = in_parallel(refresh, range(20))
    not_500(pages)
    assert all(p.status_code == 200 and number in p.text and "证书签发中" not in p.text
               and 'http-equiv="refresh"' not in p.text for p in pages)
    assert site.certificates("waiting") == [number] and site.entries("waiting") == 1


# ---------------------------------------------------------------- whose certificate

def _private_routes(number):
    return [f"/certificates/{number}.pdf", f"/credentials/{number}.jwt"]


def test_another_learner_reaches_no_part_of_a_certificate(site):
    """Bob, with Alice's number in every form (as printed, lower case, full width, spaced): no PDF,
    no credential, no consent link, no admin page, no revocation; his own record bundles nothing of
    hers; he cannot submit Carol's exam, so issue nothing for her. Alice's own downloads work, and an
    admin's is audited (the routes are real)."""
    from lms.certificates.models import Certificate
    from lms.federation.models import ConsentLink
    from lms.learning.models import QuizAttempt

    number = site.ids["alice:number"]
    with site.client("alice") as alice:
        pdf = alice.get(f"/certificates/{number}.pdf")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        assert alice.get(f"/credentials/{number}.jwt").status_code == 200
    audited = site.events("certificate.admin_download")
    with site.client("admin") as admin:
        assert admin.get(f"/certificates/{number}.pdf").content.startswith(b"%PDF")
    assert site.events("certificate.admin_download") == audited + 1
    twins = [number, number.lower(), _full_width(number), f"{number[:6]} {number[6:]}", f"{number[:6]}-{number[6:]}"]
    with site.client("bob") as bob:
        for twin in twins:
            for path in _private_routes(twin):
                answer = bob.get(path)
                assert answer.status_code in (403, 404), (path, answer.status_code)
                assert not answer.content.startswith(b"%PDF") and "eyJ" not in answer.text, path
                assert re.search(r"[\u4e00-\u9fff]", answer.text), path
        assert bob.get("/me/credentials/clr.jwt").status_code == 400  # Bob has no certificate: no record
        mine = bob.get("/me/certificates").text
        assert number not in mine and "证书签发中" not in mine
        for path in ("/admin/certificates", f"/admin/certificates/{number}", f"/admin/certificates?q={number[:6]}"):
            assert bob.get(path).status_code in (403, 404), path
    answers = [site.post("bob", f"/me/certificates/{twin}/consent", page="/me/certificates") for twin in twins]
    answers += [site.post("bob", f"/admin/certificates/{number}", {"action": action, "reason": "攻击者撤销"},
                          page="/me/certificates") for action in ("revoke", "reissue")]
    carols = f"/learn/exam/{site.ids['attempt:carol']}"
    carols_answers = {f"q-{q}": letters for q, letters in site.ids["answers:carol"].items()}
    with site.client("bob") as bob:
        assert bob.get(carols).status_code == 403
    answers += [site.post("bob", carols, carols_answers, page="/me/certificates") for _ in range(3)]
    not_500(answers)
    assert all(a.status_code in (303, 403, 404) for a in answers), [a.status_code for a in answers]
    assert site.count(QuizAttempt, QuizAttempt.id == site.ids["attempt:carol"], QuizAttempt.submitted_at.is_(None)) == 1
    assert site.entries("carol") == 0 and site.certificates("carol") == []
    cert_id = site.scalar(select(Certificate.id).where(Certificate.number == number))
    assert site.count(ConsentLink, ConsentLink.certificate_id == cert_id) == 0
    assert site.rows(select(Certificate.status, Certificate.version).where(Certificate.id == cert_id)) == [("valid", 1)]


def test_the_public_pages_show_masked_personal_data_only(site):
    """The verification page, the status document and the credential's status list: the holder's
    name and ID number masked, never in full; nothing of the learner's account."""
    number = site.ids["alice:number"]
    alice = site.people["alice"]
    with site.client() as anonymous:
        page = anonymous.get(f"/verify?no={number}")
        status = anonymous.get(f"/credentials/{number}/status")
        status_list = anonymous.get("/credentials/status/0?format=json")
    assert page.status_code == 200 and "证书有效" in page.text and number in page.text
    masked_name = alice["real_name"][0] + "*" * (len(alice["real_name"]) - 1)
    assert masked_name in page.text
    assert alice["real_name"] not in page.text and alice["real_name"][1:] not in page.text
    assert alice["id_number"] not in page.text and alice["id_number"][6:14] not in page.text  # the birth date
    assert alice["id_number"][:4] + "*" * 10 + alice["id_number"][-4:] in page.text
    assert alice["mobile"] not in page.text
    assert status.status_code == 200 and status.json()["number"] == number
    for answer in (status, status_list):
        assert alice["real_name"] not in answer.text and alice["id_number"] not in answer.text
        assert alice["real_name"][1:] not in answer.text and alice["mobile"] not in answer.text


def test_anonymous_visitors_are_sent_to_sign_in_for_every_private_certificate_route(site):
    number = site.ids["alice:number"]
    with site.client() as anonymous:
        for path in ["/me/certificates", "/me/credentials/clr.jwt", *_private_routes(number),
                     "/admin/certificates", f"/admin/certificates/{number}"]:
            answer = anonymous.get(path)
            assert answer.status_code == 302 and "/login" in answer.headers["location"], (path, answer.status_code)
            assert not answer.content.startswith(b"%PDF") and "eyJ" not in answer.text
        token = csrf(anonymous.get("/login").text)
        for path in ["/me/certificates/annual/2026", f"/me/certificates/{number}/consent",
                     f"/admin/certificates/{number}"]:
            answer = anonymous.post(path, data={"csrf_token": token, "action": "revoke", "reason": "匿名撤销"})
            assert answer.status_code == 302 and "/login" in answer.headers["location"], (path, answer.status_code)


def test_posts_without_a_csrf_token_are_refused_and_change_nothing(site):
    """Every certificate POST, by the one person it is meant for, without the token: refused (400, in
    Chinese); no annual certificate, no consent link, no revocation, no reissue."""
    from lms.certificates.models import Certificate
    from lms.federation.models import ConsentLink

    number = site.ids["alice:number"]
    cert_id = site.scalar(select(Certificate.id).where(Certificate.number == number))
    before = site.count(Certificate)
    posts = [("alice", "/me/certificates/annual/2026", {}), ("alice", f"/me/certificates/{number}/consent", {}),
             ("admin", f"/admin/certificates/{number}", {"action": "revoke", "reason": "跨站伪造的撤销"}),
             ("admin", f"/admin/certificates/{number}", {"action": "reissue", "reason": "跨站伪造的补发"}),
             (None, "/verify", {"no": number})]
    for who, path, data in posts:
        for token in (None, "forged-token"):
            with site.client(who) as client:
                answer = client.post(path, data={**data, **({"csrf_token": token} if token else {})},
                                     headers={"Origin": "https://evil.example.com"})
            assert answer.status_code == 400, (path, answer.status_code, answer.text[-300:])
            assert re.search(r"[\u4e00-\u9fff]", answer.text), path
    assert site.count(Certificate) == before
    assert site.count(ConsentLink, ConsentLink.certificate_id == cert_id) == 0
    assert site.rows(select(Certificate.status, Certificate.version).where(Certificate.id == cert_id)) == [("valid", 1)]


# ---------------------------------------------------------------- hostile numbers

def _full_width(text):
    return text.translate({ord(c): ord(c) + 0xFEE0 for c in text if "!" <= c <= "~"})


def hostile(number):
    """(what is typed, the outcome the public page gives: found, or the refusal it names)."""
    from lms.certificates import numbers

    wrong_check = number[:-1] + next(c for c in "0123456789" if c != number[-1])
    issuer, year = number[:-11], int(number[-11:-7])
    unissued = numbers.compose(issuer, year, 999_998) or numbers.compose(issuer, year, 999_997)
    return [
        (_full_width(number), "found"),  # NFKC: a Chinese input method's full-width digits are the same number
        (number.lower(), "found"),
        (f" {number[:2]} {number[2:6]}-{number[6:12]} {number[12:]} ", "found"),
        (number[:4] + "\u200b" + number[4:], "format"),  # zero-width space: not a printable character
        (number[:4] + "\u200d" + number[4:], "format"),
        ("\u202e" + number, "format"),  # right-to-left override
        (number.replace("G", "\u0262"), "format"),  # small capital G
        (number.replace("X", "\u0425"), "format"),  # Cyrillic Ха
        (number.replace("0", "\u041e"), "format"),  # Cyrillic О for zero
        (number.replace("0", "\u3007"), "format"),  # 〇
        (number[:-1] + "*", "check"),
        (wrong_check, "check"),
        (number * 30, "format"),
        ("Ｘ" * 400, "format"),  # 3,600 bytes in the address: within a request line
        ("' OR '1'='1", "format"),
        (f"{number}' OR '1'='1' --", "format"),
        (f"{number}; DROP TABLE certificate; --", "format"),
        ("%' OR 1=1 --", "format"),
        ("GX2026%", "format"),
        ("\\x00GX", "format"),
        ("<script>alert(1)</script>", "format"),
        ("GX2026000000", "format"),
        (numbers.EXAMPLE, "example"),
        (unissued, "not_found"),
    ]


def test_hostile_numbers_on_the_public_page_are_refused_in_chinese_or_not_found_never_a_500(site):
    """The public page folds what is typed as lms.certificates.numbers.normalize says (NFKC, spaces and
    hyphens dropped, capitals): a full-width or lower-case twin of a number finds the same
    certificate; zero-width, bidi and look-alike characters, SQL and over-long text are refused with
    a Chinese message (400), a well-formed number that was never issued is not found (404)."""
    from lms.certificates import numbers

    number = site.ids["alice:number"]
    cases = hostile(number)
    with site.client() as anonymous:
        for typed, outcome in cases:
            page = anonymous.get("/verify", params={"no": typed})
            assert page.status_code < 500, (typed[:40], page.status_code)
            if outcome == "found":
                assert numbers.normalize(typed) == number
                assert page.status_code == 200 and "证书有效" in page.text and number in page.text, typed
                continue
            assert page.status_code == (404 if outcome in ("example", "not_found") else 400), (typed[:40], page.status_code)
            message = _message(page.text)
            assert re.search(r"[\u4e00-\u9fff]", message), (typed[:40], message)
            assert {"format": "编号格式不正确", "check": "校验位不正确", "example": "示例编号",
                    "not_found": "平台没有这份证书"}[outcome] in message, (typed[:40], message)
            assert "证书有效" not in page.text and "<script>alert(1)" not in page.text
        token = csrf(anonymous.get(f"/verify?no={number}").text)
        for typed, outcome in cases:
            answer = anonymous.post("/verify", data={"no": typed, "csrf_token": token},
                                    files={"pdf": ("x.pdf", b"%PDF-1.4 not the certificate")})
            assert answer.status_code < 500, (typed[:40], answer.status_code)
            if outcome == "found":
                assert answer.status_code == 200 and "文件不一致" in answer.text, typed
            else:
                assert answer.status_code in (400, 404) and "文件一致" not in answer.text, typed
        answer = anonymous.post("/verify", data={"no": "Ｘ" * 100_000, "csrf_token": token})
        assert answer.status_code == 400 and "编号格式不正确" in _message(answer.text)


def test_hostile_numbers_and_ids_on_every_other_certificate_route_are_not_found_never_a_500(site):
    """The same text in the address of the downloads, the status document, the consent link and the
    admin's page, and odd years and list numbers: a refusal or not-found page, never a 500; a
    twin of Alice's number serves Alice only."""
    from lms.federation.models import ConsentLink

    number = site.ids["alice:number"]
    typed = [t for t, outcome in hostile(number) if outcome != "found" and "/" not in t and "?" not in t
             and "#" not in t and "%" not in t]
    answers = []
    with site.client("alice") as alice, site.client("admin") as admin, site.client() as anonymous:
        for text in typed:
            for path in _private_routes(text):
                answers.append(alice.get(path))
                assert answers[-1].status_code == 404, (path[:60], answers[-1].status_code)
            answers.append(anonymous.get(f"/credentials/{text}/status"))
            assert answers[-1].status_code == 404, (text[:40], answers[-1].status_code)
            answers.append(admin.get(f"/admin/certificates/{text}"))
            assert answers[-1].status_code == 404, (text[:40], answers[-1].status_code)
            answers.append(admin.get("/admin/certificates", params={"q": text}))
        for list_number in ("1", "99", "9223372036854775807", "99999999999999999999999"):
            answers.append(anonymous.get(f"/credentials/status/{list_number}"))
    not_500(answers)
    answers = [site.post("alice", f"/me/certificates/{text}/consent", page="/me/certificates") for text in typed]
    not_500(answers)
    assert site.count(ConsentLink) == 0
    with site.client("alice") as alice:
        twin = _full_width(number)
        assert alice.get(f"/certificates/{twin}.pdf").content.startswith(b"%PDF")


def test_odd_years_for_an_annual_certificate_are_not_found_never_a_500(site):
    """The year in the address of 开具年度学时证明 is refused as 我的学时 refuses it (2000–2100, else
    not found): year 0 or 10000 cannot be a calendar date, and a year past 2^63 no database integer.
    Before the check each of those answered 500 (ValueError from ``date(year, …)``)."""
    from lms.certificates.models import Certificate

    before = site.count(Certificate, Certificate.user_id == site.people["alice"]["id"])
    for year in ("0", "1", "1999", "2101", "9999", "10000", "9223372036854775808", "99999999999999999999999"):
        answer = site.post("alice", f"/me/certificates/annual/{year}", page="/me/certificates")
        assert answer.status_code == 404, (year, answer.status_code, answer.text[-300:])
    assert site.count(Certificate, Certificate.user_id == site.people["alice"]["id"]) == before
    made = site.post("alice", f"/me/certificates/annual/{site.ids['alice:year']}", page="/me/certificates")
    assert made.status_code == 302 and made.headers["location"].endswith("/me/certificates")
    assert site.count(Certificate, Certificate.user_id == site.people["alice"]["id"], Certificate.kind == "annual") == 1


def test_annual_certificates_asked_for_at_once_make_one(site):
    """Eight clients of one learner ask for the year's annual certificate at once, then eight more:
    one annual certificate of that year, each later request reissuing it under the same number (one
    version per request). On PostgreSQL each request made one of its own before the learner's lock
    (eight numbers for one year); SQLite's write lock at BEGIN had already put them in a row."""
    from lms.certificates.models import Certificate

    path = f"/me/certificates/annual/{site.ids['alice:year']}"

    def annual():
        return site.rows(select(Certificate.number, Certificate.version).where(
            Certificate.user_id == site.people["alice"]["id"], Certificate.kind == "annual"))

    before = annual()  # none yet, or the one an earlier test asked for
    versions = before[0][1] if before else 0
    for _round in range(2):
        answers = in_parallel(lambda _n: site.post("alice", path, page="/me/certificates"), range(8))
        not_500(answers)
        assert all(a.status_code == 302 and a.headers["location"].endswith("/me/certificates") for a in answers)
        issued = annual()
        versions += 8
        assert len(issued) == 1 and issued[0][1] == versions, issued
        assert not before or issued[0][0] == before[0][0]
        before = issued


def test_an_admin_reissuing_and_revoking_at_once_leaves_one_consistent_certificate(site):
    """Six reissues of one course certificate at once (two admins' tabs), then four revocations at
    once: every reissue is one version (no two under one number), the stored PDF is the one whose
    SHA-256 the verification page shows, and the certificate and its ledger entry are revoked once."""
    import hashlib

    from lms.certificates.models import Certificate
    from lms.credits.models import CreditRecord

    number = site.ids["dora:number"]
    cert_id = site.scalar(select(Certificate.id).where(Certificate.number == number))
    path = f"/admin/certificates/{number}"
    page = f"/admin/certificates/{number}"
    answers = in_parallel(lambda _n: site.post("admin", path, {"action": "reissue", "reason": "更正后补发"}, page=page),
                          range(6))
    not_500(answers)
    reissued = sum(a.status_code in (302, 303) for a in answers)
    [(version, pdf_path, sha)] = site.rows(select(Certificate.version, Certificate.pdf_path, Certificate.pdf_sha256)
                                           .where(Certificate.number == number))
    assert version == 1 + reissued, (version, reissued, [a.status_code for a in answers])
    assert site.events("certificate.reissue", cert_id) == reissued
    with site.app.app_context():
        from lms.core.storage import media_storage

        with media_storage().open(pdf_path) as fh:
            assert hashlib.sha256(fh.read()).hexdigest() == sha

    answers = in_parallel(lambda _n: site.post("admin", path, {"action": "revoke", "reason": "材料不实撤销"}, page=page),
                          range(4))
    not_500(answers)
    assert site.events("certificate.revoke", cert_id) == 1
    assert site.rows(select(Certificate.status).where(Certificate.number == number)) == [("revoked",)]
    assert site.count(CreditRecord, CreditRecord.user_id == site.people["dora"]["id"],
                      CreditRecord.entry_kind == "revocation") == 1
