"""找回密码 attacked from outside, over HTTP, on a real gunicorn server (threads and two workers, so
requests really run at once) on a committed database (SQLite, or PostgreSQL with
LMS_TEST_DATABASE=postgresql): enumeration by status, headers, cookies, body and timing over
hundreds of requests; the per-account and per-address limits under parallel requests naming the
account in look-alike spellings from many client addresses; parallel wrong guesses racing the
attempt counter; one code used in parallel; expired codes; tampered links; the host of the mailed
link; CSRF; the operator's pages for non-operators; sessions after a reset; codes in the clear."""

import os
import re
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select, update

from lms.core.clock import utcnow_naive
from tests.app_process import served_by_gunicorn
from tests.conftest import TEST_PASSWORD, build_database, credit_code, fresh_database, id_number, make_test_app
from tests.recovery_helpers import LIMITS, queued, secret_in

PUBLIC = "https://lms.example.gov.cn"
SETTINGS = {"LMS_SMTP_HOST": "127.0.0.1", "LMS_SMTP_PORT": 25, "LMS_SMS_SENDER": "console", **LIMITS,
            "LMS_RECOVERY_RATE_LIMIT": "100000 per minute", "LMS_LOGIN_RATE_LIMIT": "100000 per minute",
            "LMS_RECOVERY_PER_SOURCE": 10_000, "LMS_PROXY_FIX": True, "LMS_PUBLIC_URL": PUBLIC,
            "LMS_JOBS_IMMEDIATE": False,  # messages wait in the outbox: the test reads them there
            # The answer's floor must outlast the work at the load served: sixteen requests at once on
            # two cores (with the other database's pass beside) take up to ~1.3 s each (SQLite's busy
            # waits), past the 0.25 s default, and then the time told whether a code was written. A
            # deployment sets it for its own load.
            "LMS_RECOVERY_ANSWER_SECONDS": 1.5}
NEW = "NewStudy2026a"
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


class Site:
    """The server's address, an app on the same database for looking inside, and the people."""

    def __init__(self, base, app, log, people):
        self.base, self.app, self.log, self.people = base, app, log, people

    def client(self, address="198.51.100.7"):
        # The proxy (ProxyFix, one hop) reports the client's address; whatever the client itself
        # put in X-Forwarded-For comes before it.
        return httpx.Client(base_url=self.base, timeout=60, follow_redirects=False,
                            headers={"X-Forwarded-For": address})

    def post(self, client, path, data, **headers):
        page = client.get(path)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
        return client.post(path, data={**data, "csrf_token": token}, headers=headers)

    def codes(self, user_id):
        from lms.accounts.models import RecoveryCode
        from lms.extensions import db

        with self.app.app_context():
            return list(db.session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user_id)
                                           .order_by(RecoveryCode.id)))

    def secrets(self, channel):
        with self.app.app_context():
            return [secret_in(message["text"]) for message in queued(channel)]

    def last_secret(self, channel):
        return self.secrets(channel)[-1]

    def sql(self, statement):
        from lms.extensions import db

        with self.app.app_context():
            db.session.execute(statement)
            db.session.commit()


@pytest.fixture(autouse=True)
def db_session():
    """Not the rolled-back test session: the server commits, and this module reads what it did."""
    yield None


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from lms.accounts import services
    from lms.accounts.models import Role
    from lms.extensions import db

    tmp_path = tmp_path_factory.mktemp("attacks")
    instance = os.environ.get("LMS_INSTANCE_PATH")
    with fresh_database(tmp_path, "attacks") as url:
        app = make_test_app(url, tmp_path, **SETTINGS)
        build_database(app)
        people = {}
        with app.test_request_context():
            for n, (name, roles, extra) in enumerate([
                    ("zhang", (Role.LEARNER,), {"email": "Zhang.San@Example.org"}), ("li", (Role.LEARNER,), {}),
                    ("wang", (Role.LEARNER,), {"email": "wang@example.org"}), ("zhao", (Role.LEARNER,), {}),
                    ("qian", (Role.LEARNER,), {}), ("unit", (Role.UNIT_ADMIN,), {}), ("admin", (Role.ADMIN,), {}),
                    *((name, (Role.LEARNER,), {}) for name in ("sun", "zhou", "wu", "zheng"))],
                    start=1):
                data = services.PersonData(
                    real_name="测试学员", id_number=id_number(f"32010219900101{n:03d}"), password=TEST_PASSWORD,
                    mobile=f"1390000{n:04d}", email=extra.get("email"), region_code="110000",
                    employer_name="测试单位", employer_credit_code=credit_code("91320102MA1WXYU0" + str(n % 10)))
                user = services.create_person(None, data, roles=())
                for role in roles:
                    kw = {"organization": user.employer} if role == Role.UNIT_ADMIN else {}
                    services.grant_role(None, user, role, **kw)
                people[name] = {"id": user.id, "mobile": user.mobile, "email": user.email,
                                "id_number": data.id_number}
            db.session.commit()
            db.engine.dispose()
        try:
            with served_by_gunicorn({"database_url": url, **SETTINGS}, tmp_path) as served:
                yield Site(served.base, app, served.log, people)
        finally:
            if instance is not None:
                os.environ["LMS_INSTANCE_PATH"] = instance
            with app.app_context():
                db.engine.dispose()


def _in_parallel(function, items, workers=16):
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(function, items))


def _answer(site, login, channel, n):
    """Everything a visitor can see of one request: status, headers, cookie names, followed page."""
    # Each request from an address of its own: the flood guard's count (told in X-RateLimit-*)
    # is per address and must start equal for both cases.
    with site.client(f"10.{['sms', 'mail'].index(channel) + 1}.{n // 250}.{n % 250 + 1}") as client:
        page = client.get("/password/forgot")
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
        started = time.monotonic()
        response = client.post("/password/forgot", data={"login": login, "channel": channel, "csrf_token": token})
        elapsed = time.monotonic() - started
        follow = client.get(response.headers.get("location", "/password/forgot"))
    # Per client address and clock, never per account: the flood guard's countdown.
    ignored = {"date", "x-request-id", "set-cookie", "content-length", "retry-after", "x-ratelimit-reset",
               "connection"}  # gunicorn closes kept-alive connections when busy
    headers = tuple(sorted((k, v) for k, v in response.headers.items() if k not in ignored))
    cookies = tuple(sorted(re.findall(r"(?:^|, )([\w-]+)=", response.headers.get("set-cookie", ""))))
    body = re.sub(r'name="csrf_token" type="hidden" value="[^"]+"', "", follow.text).replace(login, "LOGIN")
    body = re.sub(r"nonce[-=]\"?[\w+/=-]+", "nonce", body)
    headers = tuple((k, re.sub(r"nonce-[\w+/=-]+", "nonce", v)) for k, v in headers)
    return (response.status_code, headers, cookies, follow.status_code, body), elapsed


@pytest.mark.parametrize(("channel", "per_case"), [("sms", 200), ("mail", 100)])
def test_no_account_enumeration_over_hundreds_of_requests(site, channel, per_case):
    """An existing account (sending, then over its limit) against logins naming nobody: the same
    status, headers, cookies and page every time, and the same distribution of answer times."""
    person = site.people["zhao" if channel == "sms" else "wang"]
    existing = person["mobile"] if channel == "sms" else person["email"]
    nobody = "13500000777" if channel == "sms" else "nobody@example.org"
    jobs = [(existing if n % 2 else nobody, n) for n in range(2 * per_case)]
    results = _in_parallel(lambda job: (job[0], _answer(site, job[0], channel, job[1])), jobs)
    seen = {login: {answer for found, (answer, _t) in results if found == login} for login in (existing, nobody)}
    variants = seen[existing] | seen[nobody]
    assert len(variants) == 1, [set.union(*map(set, parts)) - set.intersection(*map(set, parts))
                                for parts in zip(*variants, strict=True) if len(set(parts)) > 1]
    times = {login: sorted(t for found, (_a, t) in results if found == login) for login in (existing, nobody)}
    # Sixteen at once on a small machine: the tails are the machine's noise; middles must agree.
    for q, within in ((0.25, 0.05), (0.5, 0.05)):
        a, b = (series[int(q * len(series))] for series in times.values())
        assert abs(a - b) < within, (q, a, b)
    # And request by request: of two requests sent at the same moment (one naming the account, one
    # nobody), the account's is the slower about half the time (a sign test: 0.5 ± 4 standard
    # deviations), whatever else the machine was doing then.
    pairs = [(results[n + 1][1][1], results[n][1][1]) for n in range(0, len(results), 2)]
    slower = sum(mine > other for mine, other in pairs) / len(pairs)
    assert abs(slower - 0.5) <= 2 / len(pairs) ** 0.5, slower
    floor = SETTINGS["LMS_RECOVERY_ANSWER_SECONDS"]
    assert min(times[existing]) >= floor and min(times[nobody]) >= floor
    assert abs(statistics.mean(times[existing]) - statistics.mean(times[nobody])) < 0.06
    assert len(site.codes(person["id"])) == LIMITS["LMS_RECOVERY_PER_ACCOUNT"]


def test_parallel_requests_in_look_alike_spellings_send_at_most_the_limit(site):
    """Forty requests at once naming one account by its mobile in full-width digits, its e-mail in
    other case and spacing, its ID number, each from another client address (and a spoofed
    X-Forwarded-For in front): no more codes than the per-account limit, to either address."""
    person = site.people["zhang"]
    spellings = [person["mobile"], person["mobile"].translate(FULL_WIDTH), f"  {person['mobile']} ",
                 person["email"].upper(), f" {person['email'].lower()}  ", person["id_number"].lower()]

    def ask(n):
        login = spellings[n % len(spellings)]
        channel = "mail" if "@" in login else "sms"
        with site.client(f"10.{n}.0.1, 192.0.2.{n + 1}") as client:
            return site.post(client, "/password/forgot", {"login": login, "channel": channel}).status_code

    assert set(_in_parallel(ask, range(40))) == {302}
    assert len(site.codes(person["id"])) <= LIMITS["LMS_RECOVERY_PER_ACCOUNT"]


def test_parallel_operator_sends_to_one_address_for_many_accounts_send_at_most_the_limit(site):
    """An operator's sends are limited per address, whichever accounts they are for: twenty sends at
    once to one new address, spread over four accounts and two operator sessions (the two workers),
    queue no more messages to it than the limit."""
    from lms.accounts.recovery import _address_hash

    address = "helpdesk.relay@example.net"
    targets = [site.people[name]["id"] for name in ("sun", "zhou", "wu", "zheng")]
    operators = []
    for _ in range(2):
        client = site.client()
        assert site.post(client, "/login", {"login": site.people["admin"]["mobile"],
                                            "password": TEST_PASSWORD}).status_code == 302
        operators.append(client)
    tokens = [re.search(r'name="csrf_token" type="hidden" value="([^"]+)"',
                        client.get(f"/accounts/{targets[0]}/recovery").text).group(1) for client in operators]

    def send(n):
        client = operators[n % 2]
        return client.post(f"/accounts/{targets[n % len(targets)]}/recovery",
                           data={"address": address, "checked": "y", "csrf_token": tokens[n % 2]}).status_code

    try:
        answers = _in_parallel(send, range(20))
    finally:
        for client in operators:
            client.close()
    assert set(answers) <= {302, 303, 409}, answers
    from lms.accounts.models import RecoveryCode
    from lms.extensions import db

    with site.app.app_context():
        sent = db.session.scalar(select(func.count(RecoveryCode.id)).where(
            RecoveryCode.destination_hash == _address_hash(address)))
    assert sent == LIMITS["LMS_RECOVERY_PER_ACCOUNT"]


def _ask_code(site, person):
    with site.client() as client:
        r = site.post(client, "/password/forgot", {"login": person["mobile"], "channel": "sms"})
        assert r.status_code == 302
    return site.last_secret("sms")


def _try_code(site, person, code, password=NEW, address="198.51.100.9"):
    with site.client(address) as client:
        return site.post(client, "/password/code", {"login": person["mobile"], "code": code, "password": password,
                                                    "password_confirm": password})


def test_parallel_wrong_guesses_do_not_outrun_the_attempt_counter(site):
    person = site.people["li"]
    code = _ask_code(site, person)
    wrong = [f"{(int(code) + n) % 10**6:06d}" for n in range(1, 31)]
    answers = _in_parallel(lambda n: _try_code(site, person, wrong[n], address=f"192.0.2.{n + 1}").status_code,
                           range(30))
    assert set(answers) == {400}
    (issued,) = site.codes(person["id"])
    assert issued.failed_attempts >= LIMITS["LMS_RECOVERY_CODE_ATTEMPTS"]
    late = _try_code(site, person, code.translate(FULL_WIDTH))  # the right code, once it died
    assert late.status_code == 400 and "输错次数过多" in late.text
    assert issued.used_at is None and site.codes(person["id"])[0].used_at is None


def test_one_code_used_in_parallel_resets_once(site):
    from werkzeug.security import check_password_hash

    from lms.accounts.models import User
    from lms.extensions import db

    person = site.people["qian"]
    code = _ask_code(site, person)
    passwords = [f"Parallel2026{chr(97 + n)}" for n in range(12)]
    answers = _in_parallel(lambda n: _try_code(site, person, code, passwords[n], f"192.0.2.{n + 1}"), range(12))
    winners = [n for n, answer in enumerate(answers) if answer.status_code == 302]
    assert len(winners) == 1, [a.status_code for a in answers]
    with site.app.app_context():
        user = db.session.get(User, person["id"])
        assert check_password_hash(user.password_hash, passwords[winners[0]])
    assert all("已经用过" in a.text for n, a in enumerate(answers) if n not in winners)



def _age_codes(site, person):
    from lms.accounts.models import RecoveryCode

    site.sql(update(RecoveryCode).where(RecoveryCode.user_id == person["id"]).values(
        created_at=utcnow_naive() - timedelta(hours=2)))


def test_an_expired_code_is_refused_and_a_reset_ends_every_session(site):
    from lms.accounts.models import RecoveryCode

    person = site.people["zhao"]
    _age_codes(site, person)  # out of the window: it may be sent again
    code = _ask_code(site, person)
    newest = site.codes(person["id"])[-1]
    site.sql(update(RecoveryCode).where(RecoveryCode.id == newest.id).values(
        expires_at=utcnow_naive() - timedelta(seconds=1)))
    expired = _try_code(site, person, code)
    assert expired.status_code == 400 and "已过期" in expired.text
    code = _ask_code(site, person)
    with site.client() as elsewhere:
        signed_in = site.post(elsewhere, "/login", {"login": person["mobile"], "password": TEST_PASSWORD})
        assert signed_in.status_code == 302 and elsewhere.get("/profile").status_code == 200
        assert _try_code(site, person, code).status_code == 302
        assert elsewhere.get("/profile").status_code == 302  # signed out
    assert _try_code(site, person, code).status_code == 400  # once


def test_the_mailed_link_ignores_the_host_the_client_names_and_resets_only_its_account(site):
    person = site.people["wang"]

    _age_codes(site, person)
    with site.client() as client:
        site.post(client, "/password/forgot", {"login": person["email"], "channel": "mail"},
                  Host="evil.example", **{"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http"})
    with site.app.app_context():
        text = queued("mail")[-1]["text"]
    assert f"{PUBLIC}/password/reset#" in text and "evil" not in text
    token = secret_in(text)
    with site.client() as client:
        page = client.get("/password/reset")
        assert page.headers["referrer-policy"] == "no-referrer" and "no-store" in page.headers["cache-control"]
        assert token not in page.text
        for forged in (token[:-2] + "xx", token + "a", "", token.split(".")[0]):
            answer = site.post(client, "/password/reset", {"token": forged, "password": NEW, "password_confirm": NEW})
            assert answer.status_code == 400
        done = site.post(client, "/password/reset", {"token": token, "password": NEW, "password_confirm": NEW})
        assert done.status_code == 302 and done.headers["location"] == "/login"
        again = site.post(client, "/password/reset", {"token": token, "password": "Other2026ab",
                                                        "password_confirm": "Other2026ab"})
        assert again.status_code == 400 and "已经用过" in again.text


def test_every_post_needs_its_csrf_token_and_operator_pages_refuse_others(site):
    target = site.people["li"]["id"]
    with site.client() as client:
        for path, data in (("/password/forgot", {"login": site.people["li"]["mobile"], "channel": "sms"}),
                           ("/password/code", {"login": "13900000002", "code": "123456", "password": NEW,
                                               "password_confirm": NEW}),
                           ("/password/reset", {"token": "x", "password": NEW, "password_confirm": NEW})):
            client.get(path)
            assert client.post(path, data=data).status_code == 400
    before = len(site.codes(target))
    for who in ("unit", "li", None):
        with site.client() as client:
            if who:
                site.post(client, "/login", {"login": site.people[who]["mobile"], "password": TEST_PASSWORD})
                for path, data in (("/profile/verify", {"channel": "sms", "code": "123456"}),
                                   ("/profile/verify/send", {"channel": "sms"})):
                    assert client.post(path, data=data).status_code == 400  # no token
            page = client.get(f"/accounts/{target}/recovery")
            assert page.status_code in (403, 302) and 'name="address"' not in page.text
            token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', client.get("/profile").text)
            data = {"address": "attacker@example.org", "checked": "y", "csrf_token": token.group(1) if token else ""}
            refused = (403,) if who else (302, 400)  # anonymous: to the login page, or no valid token
            assert client.post(f"/accounts/{target}/recovery", data=data).status_code in refused
            assert client.post(f"/accounts/{target}/unlock", data=data).status_code in refused
    assert len(site.codes(target)) == before


def test_no_code_in_the_clear_in_logs_answers_or_the_database(site):
    from lms.extensions import db

    person = site.people["li"]
    with site.client() as client:
        answer = site.post(client, "/password/forgot", {"login": person["mobile"], "channel": "sms"})
        page = client.get(answer.headers["location"])
    sent = site.secrets("sms") + site.secrets("mail")
    with site.app.app_context():
        dump = "\n".join(str(row) for table in ("recovery_code", "recovery_request", "outbox_message", "audit_event")
                         for row in db.session.execute(select(func.count()).select_from(db.metadata.tables[table])))
        rows = "\n".join(str(tuple(row)) for table in ("recovery_code", "recovery_request", "outbox_message",
                                                       "audit_event")
                         for row in db.session.execute(db.metadata.tables[table].select()))
    log = site.log.read_text(errors="replace")
    for secret in sent:
        assert secret not in rows and secret not in log and secret not in page.text, secret
    assert dump
