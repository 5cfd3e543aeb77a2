"""Credit transfer attacked over HTTP, on a real gunicorn server (two workers with threads, so
requests really run at once) on a committed database (SQLite, or PostgreSQL with
LMS_TEST_DATABASE=postgresql), against issuers that are real HTTP servers on loopback (their keys,
Bitstring Status Lists, consent links, and a few hostile answers: redirects elsewhere, huge and
slow bodies).

Attacked as an outsider, as another learner and as the learner wanting more hours than earned: one
credential presented many times at once, by its owner and by another account; a credential and a
bundle holding it; one course from two issuers; presenting again after the entry was voided;
look-alike ID numbers; forged, re-signed, expired, edited and oversized credentials and odd hours;
links off the trust list, redirected, huge, slow, revoked or someone else's; a status list that is
down or not what it says; a local completion of a transferred course when the transfer is voided;
input that is not a credential at all. Every attack is judged by the ledger's rows, not by status
codes alone; nothing may answer 500.
"""

import base64
import hashlib
import json
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import jwt
import pytest
from sqlalchemy import func, select

from tests.app_process import free_port, served_by_gunicorn
from tests.conftest import TEST_PASSWORD, build_database, credit_code, fresh_database, id_number, make_test_app
from tests.transfer_helpers import FakeIssuer, tamper

TIMEOUT = 3
SETTINGS = {"LMS_FEDERATION_ALLOW_HTTP": True, "LMS_FEDERATION_ALLOW_PRIVATE": True,
            "LMS_FEDERATION_TIMEOUT_SECONDS": TIMEOUT, "LMS_FEDERATION_MAX_FEED_KB": 256,
            "LMS_TRANSFER_RATE_LIMIT": "100000 per minute", "LMS_LOGIN_RATE_LIMIT": "100000 per minute",
            "LMS_JOBS_IMMEDIATE": False}
PEOPLE = ("li", "wang", "zhao", "qian", "sun", "zhou", "wu", "zheng", "feng", "chen", "xu")
FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")


def _x_id() -> str:
    """An ID number whose check character is X."""
    for n in range(1000):
        candidate = id_number(f"11010119880808{n:03d}")
        if candidate.endswith("X"):
            return candidate
    raise AssertionError("no ID number ending in X")


class IssuerServer:
    """Another instance on loopback: a FakeIssuer's documents, its consent links, hostile answers."""

    def __init__(self, name: str):
        self.port = free_port()
        self.issuer = FakeIssuer(base=f"http://127.0.0.1:{self.port}", name=name)
        self.links: dict[str, str] = {}  # path → body
        self.special: dict[str, object] = {}  # path → callable(handler)
        self.status_delay = 0.0
        self.jwks_delay = 0.0
        self.hits: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status, body: bytes, kind="application/json", **headers):
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):  # noqa: N802
                owner.hits.append(self.path)
                fake = owner.issuer
                if self.path in owner.special:
                    owner.special[self.path](self)
                elif self.path == "/.well-known/jwks.json":
                    time.sleep(owner.jwks_delay)
                    self._send(200, json.dumps(fake.jwks()).encode())
                elif self.path == "/credentials/status/0":
                    time.sleep(owner.status_delay)
                    if fake.status_down:
                        self._send(503, b"down")
                    else:
                        self._send(200, fake.status_list().encode(), "application/vc+jwt")
                elif self.path in owner.links:
                    self._send(200, owner.links[self.path].encode(), "application/vc+jwt")
                else:
                    self._send(404, b"{}")

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Site:
    def __init__(self, base, app, log, people, issuers):
        self.base, self.app, self.log, self.people, self.issuers = base, app, log, people, issuers

    def client(self):
        return httpx.Client(base_url=self.base, timeout=120, follow_redirects=False)

    def signed_in(self, who: str) -> httpx.Client:
        client = self.client()
        page = client.get("/login")
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
        answer = client.post("/login", data={"login": self.people[who]["mobile"], "password": TEST_PASSWORD,
                                             "csrf_token": token})
        assert answer.status_code == 302, answer.text[:500]
        return client

    @staticmethod
    def token(client, path="/me/transfers") -> str:
        return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', client.get(path).text).group(1)

    def present(self, client, credential: str | bytes, csrf: str | None = None) -> httpx.Response:
        body = credential.encode() if isinstance(credential, str) else credential
        return client.post("/me/transfers", data={"csrf_token": csrf or self.token(client)},
                           files={"credential": ("credential.jwt", body, "application/octet-stream")})

    def present_link(self, client, link: str, csrf: str | None = None) -> httpx.Response:
        return client.post("/me/transfers", data={"csrf_token": csrf or self.token(client), "link": link})

    def rows(self, who: str | None = None) -> tuple[int, int]:
        """(credit transfers, ledger rows) of one person, or of everyone."""
        from lms.credits.models import CreditRecord
        from lms.extensions import db
        from lms.federation.models import CreditTransfer

        with self.app.app_context():
            transfers = select(func.count()).select_from(CreditTransfer)
            records = select(func.count()).select_from(CreditRecord)
            if who:
                transfers = transfers.where(CreditTransfer.user_id == self.people[who]["id"])
                records = records.where(CreditRecord.user_id == self.people[who]["id"])
            return db.session.scalar(transfers), db.session.scalar(records)

    def standing(self, who: str) -> list:
        """(credential id, course code, hours) of the person's standing transfers, and the year's
        transferred hours in the ledger."""
        from lms.credits import services as ledger
        from lms.credits.models import CreditOrigin
        from lms.extensions import db
        from lms.federation.models import CreditTransfer, TransferStatus

        with self.app.app_context():
            user_id = self.people[who]["id"]
            transfers = list(db.session.scalars(select(CreditTransfer).where(
                CreditTransfer.user_id == user_id, CreditTransfer.status == TransferStatus.ACCEPTED)))
            entries = [r for r in ledger.active_records(user_id) if r.origin == CreditOrigin.TRANSFERRED]
            assert sorted(r.source_id for r in entries) == sorted(str(t.id) for t in transfers)
            return sorted((t.credential_id, t.course_code, t.hours) for t in transfers)

    def total(self, who: str, year: int = 2026) -> Decimal:
        from lms.accounts.models import User
        from lms.credits import services as ledger
        from lms.extensions import db

        with self.app.app_context():
            return ledger.year_summary(db.session.get(User, self.people[who]["id"]), year).total


@pytest.fixture(autouse=True)
def db_session():
    """Not the rolled-back test session: the server commits, and this module reads what it did."""
    yield None


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from lms.accounts import services
    from lms.accounts.models import Role
    from lms.extensions import db
    from lms.federation import transfers

    tmp_path = tmp_path_factory.mktemp("transfer_attacks")
    instance = os.environ.get("LMS_INSTANCE_PATH")
    issuers = {"a": IssuerServer("甲省继续教育平台"), "c": IssuerServer("丙省继续教育平台"),
               "untrusted": IssuerServer("未受信任的平台"), "d": IssuerServer("丁省继续教育平台")}
    with fresh_database(tmp_path, "transfer_attacks") as url:
        port = free_port()
        settings = {**SETTINGS, "LMS_PUBLIC_URL": f"http://127.0.0.1:{port}"}
        app = make_test_app(url, tmp_path, **settings)
        build_database(app, packages=("GX-NS-001",))
        people = {}
        with app.test_request_context():
            numbers = {name: id_number(f"32010219900101{n:03d}") for n, name in enumerate(PEOPLE, start=1)}
            numbers["xu"] = _x_id()
            for n, name in enumerate((*PEOPLE, "admin"), start=1):
                typed = numbers.get(name, id_number(f"32010219900101{n:03d}"))
                if name == "xu":
                    typed = typed.translate(FULL_WIDTH)  # registered as an input method types it
                data = services.PersonData(
                    real_name="转入学员", id_number=typed, password=TEST_PASSWORD, mobile=f"1390000{n:04d}",
                    email=None, region_code="110000", employer_name="测试单位",
                    employer_credit_code=credit_code("91320102MA1WXYU0" + str(n % 10)))
                user = services.create_person(None, data, roles=())
                if name == "admin":
                    services.grant_role(None, user, Role.ADMIN)
                people[name] = {"id": user.id, "mobile": user.mobile, "id_number": numbers.get(name)}
            admin = db.session.get(type(user), people["admin"]["id"])
            for key in ("a", "c"):
                transfers.add_issuer(admin, issuers[key].issuer.issuer_id, issuers[key].issuer.name)
            db.session.commit()
            db.engine.dispose()
        try:
            with served_by_gunicorn({"database_url": url, **settings}, tmp_path, port=port,
                                    args=("--timeout", "120")) as served:
                yield Site(served.base, app, served.log, people, issuers)
        finally:
            if instance is not None:
                os.environ["LMS_INSTANCE_PATH"] = instance
            for issuer in issuers.values():
                issuer.close()
            with app.app_context():
                db.engine.dispose()


def _in_parallel(function, items, workers=12):
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(function, items))


_index = iter(range(100, 100_000))


def _badge(site, who: str, *, issuer="a", number=None, **kw):
    fake = site.issuers[issuer].issuer
    n = next(_index)
    return fake.badge(kw.pop("id_no", None) or site.people[who]["id_number"], number or f"A{n:08d}",
                      index=kw.pop("index", n), **kw)


def _sign(site, claims, issuer="a", **kw) -> str:
    return site.issuers[issuer].issuer.sign(claims, **kw)


@pytest.fixture(autouse=True)
def _log_mark(site):
    """Where the server's log stood when the test began (each test answers for its own errors)."""
    site.log_mark = len(site.log.read_bytes())


def _no_server_errors(site):
    log = site.log.read_bytes()[site.log_mark:].decode(errors="replace")
    assert "Traceback" not in log, log[-4000:]


# ---------------------------------------------------------------- races


def test_one_credential_presented_at_once_many_times_by_its_owner_counts_once(site):
    token = _sign(site, _badge(site, "li", code="GX-R-001", hours=3.0))
    before = site.rows("li")
    clients = [site.signed_in("li") for _ in range(12)]
    tokens = [site.token(client) for client in clients]
    try:
        answers = _in_parallel(lambda n: site.present(clients[n], token, tokens[n]).status_code, range(12))
    finally:
        for client in clients:
            client.close()
    assert answers.count(303) == 1 and set(answers) == {303, 422}, answers
    assert site.rows("li") == (before[0] + 1, before[1] + 1)
    assert [hours for _c, code, hours in site.standing("li") if code == "GX-R-001"] == [Decimal("3.0")]
    _no_server_errors(site)


def test_one_credential_presented_at_once_by_two_accounts_credits_only_the_person_it_names(site):
    token = _sign(site, _badge(site, "wang", code="GX-R-002", hours=2.0))
    clients = [site.signed_in("wang" if n % 2 else "zhao") for n in range(12)]
    tokens = [site.token(client) for client in clients]
    try:
        answers = _in_parallel(lambda n: (n % 2, site.present(clients[n], token, tokens[n])), range(12))
    finally:
        for client in clients:
            client.close()
    assert [a.status_code for owner, a in answers if owner].count(303) == 1
    others = [a for owner, a in answers if not owner]
    assert {a.status_code for a in others} == {422} and all("不是您本人" in a.text for a in others)
    assert site.rows("wang") == (1, 1) and site.rows("zhao") == (0, 0)


def test_a_credential_and_a_bundle_holding_it_at_once_count_it_once(site):
    single = _badge(site, "qian", code="GX-R-003", hours=1.5)
    other = _badge(site, "qian", code="GX-R-004", hours=2.5)
    fake = site.issuers["a"].issuer
    bundle = fake.sign(fake.clr(site.people["qian"]["id_number"], [single, other]))
    alone = fake.sign(single)
    clients = [site.signed_in("qian") for _ in range(10)]
    tokens = [site.token(client) for client in clients]
    try:
        _in_parallel(lambda n: site.present(clients[n], bundle if n % 2 else alone, tokens[n]).status_code,
                     range(10))
    finally:
        for client in clients:
            client.close()
    standing = site.standing("qian")
    credentials = [c for c, _code, _h in standing]
    assert credentials.count(single["id"]) == 1 and len(credentials) == len(set(credentials))
    assert site.total("qian") == sum((h for _c, _code, h in standing), Decimal(0))


def test_one_course_certified_by_two_issuers_counts_once_even_at_once(site):
    from_a = _sign(site, _badge(site, "sun", issuer="a", code="GX-R-005", hours=4.0))
    from_c = _sign(site, _badge(site, "sun", issuer="c", code="GX-R-005", hours=4.0), issuer="c")
    clients = [site.signed_in("sun") for _ in range(8)]
    tokens = [site.token(client) for client in clients]
    try:
        _in_parallel(lambda n: site.present(clients[n], from_a if n % 2 else from_c, tokens[n]), range(8))
    finally:
        for client in clients:
            client.close()
    standing = site.standing("sun")
    assert [code for _c, code, _h in standing] == ["GX-R-005"], standing
    assert site.total("sun") == Decimal("4.0")


# ---------------------------------------------------------------- voiding


def _recheck(site, hours_later: int = 48):
    from lms.core.clock import freeze
    from lms.federation.tasks import recheck_transfers

    with site.app.test_request_context(), freeze(datetime.now(UTC) + timedelta(hours=hours_later)):
        return recheck_transfers()


def test_a_voided_transfer_cannot_be_presented_again_and_a_local_completion_it_zeroed_counts_again(site):
    from lms.accounts.models import User
    from lms.catalog.models import Course, CourseStatus
    from lms.credits import services as ledger
    from lms.credits.models import CreditRecord
    from lms.extensions import db

    claims = _badge(site, "zhou", code="GX-NS-001", hours=2.0)
    token = _sign(site, claims)
    with closing(site.signed_in("zhou")) as client:
        assert site.present(client, token).status_code == 303
    with site.app.test_request_context():
        user = db.session.get(User, site.people["zhou"]["id"])
        course = db.session.scalar(select(Course).where(Course.code == "GX-NS-001",
                                                        Course.status == CourseStatus.PUBLISHED))
        local = ledger.record_course_completion(user, course, completed_at=datetime(2026, 4, 1, 4), exam_score=90)
        full = ledger.hours_for_course(ledger.rule_set_for(user), course)
        local_id = local.id
        assert local.hours == 0
        db.session.commit()
    assert site.total("zhou") == Decimal("2.0")
    site.issuers["a"].issuer.revoked.add(int(claims["credentialStatus"]["statusListIndex"]))
    outcome = _recheck(site)
    assert outcome["voided"] >= 1
    assert site.standing("zhou") == []
    # The local completion, credited nothing while the transfer stood, counts now (a correction).
    assert site.total("zhou") == full > 0
    with site.app.app_context():
        correction = db.session.scalar(select(CreditRecord).where(CreditRecord.voids_id == local_id))
        assert correction is not None and correction.hours == full and "作废" in correction.reason
    assert _recheck(site, hours_later=200)["voided"] == 0  # once
    assert site.total("zhou") == full
    with closing(site.signed_in("zhou")) as client:
        again = site.present(client, token)
    assert again.status_code == 422
    assert site.total("zhou") == full


# ---------------------------------------------------------------- whose ID number


def test_look_alike_id_numbers_neither_refuse_the_owner_nor_credit_another(site):
    fake = site.issuers["a"].issuer
    own = site.people["xu"]["id_number"]
    assert own.endswith("X")
    refused = [
        own.translate(FULL_WIDTH),  # full-width digits: not what any issuer hashes
        own[:-1] + "\u0425",  # Cyrillic Ha for X
        " " + own,
        site.people["chen"]["id_number"],  # another person
    ]
    with closing(site.signed_in("xu")) as client:
        for n, spelled in enumerate(refused):
            answer = site.present(client, _sign(site, _badge(site, "xu", id_no=spelled, code=f"GX-ID-{n}")))
            assert answer.status_code == 422 and "不是您本人" in answer.text, spelled
        assert site.rows("xu") == (0, 0)
        # The canonical spelling, and the lower-case x another platform may hash, are the owner's.
        ok = site.present(client, fake.sign(_badge(site, "xu", id_no=own, code="GX-ID-10")))
        assert ok.status_code == 303
        lower = site.present(client, fake.sign(_badge(site, "xu", id_no=own[:-1] + "x", code="GX-ID-11")))
        assert lower.status_code == 303, lower.text[-2000:]
    assert site.rows("xu")[0] == 2
    with closing(site.signed_in("chen")) as client:  # someone else presenting the owner's credentials
        answer = site.present(client, fake.sign(_badge(site, "xu", id_no=own[:-1] + "x", code="GX-ID-12")))
        assert answer.status_code == 422
    assert site.rows("chen") == (0, 0)


# ---------------------------------------------------------------- forged and odd credentials


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _forge(header: dict, claims: dict, signature: bytes = b"") -> str:
    return ".".join((_b64(header), _b64(claims), base64.urlsafe_b64encode(signature).rstrip(b"=").decode()))


def test_forged_resigned_expired_and_edited_credentials_are_refused(site):
    a, c = site.issuers["a"].issuer, site.issuers["c"].issuer
    claims = _badge(site, "feng", code="GX-F-001", hours=2.0)
    payload = {**claims, "iss": claims["issuer"]["id"], "jti": claims["id"]}
    a_kid, a_key = a.keys[-1]
    c_kid, c_key = c.keys[-1]
    public_pem = a_key.public_key().public_bytes(
        encoding=__import__("cryptography.hazmat.primitives.serialization", fromlist=["Encoding"]).Encoding.Raw,
        format=__import__("cryptography.hazmat.primitives.serialization", fromlist=["PublicFormat"]).PublicFormat.Raw)
    import hmac

    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'vc+jwt', 'kid': a_kid})}.{_b64(payload)}"
    hs256 = signing_input + "." + base64.urlsafe_b64encode(
        hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()).rstrip(b"=").decode()
    now = int(time.time())
    attacks = {
        "alg none": _forge({"alg": "none", "typ": "vc+jwt", "kid": a_kid}, payload),
        "HS256 with the public key": hs256,
        "kid of another issuer's key": jwt.encode(payload, c_key, algorithm="EdDSA",
                                                  headers={"kid": c_kid, "typ": "vc+jwt"}),
        "C's key for a credential naming A": jwt.encode(payload, c_key, algorithm="EdDSA",
                                                        headers={"kid": a_kid, "typ": "vc+jwt"}),
        "A's key, iss of C": jwt.encode({**payload, "iss": c.issuer_id}, a_key, algorithm="EdDSA",
                                        headers={"kid": a_kid, "typ": "vc+jwt"}),
        "A's key, issuer C": jwt.encode({**payload, "issuer": {"id": c.issuer_id}, "iss": c.issuer_id}, a_key,
                                        algorithm="EdDSA", headers={"kid": a_kid, "typ": "vc+jwt"}),
        "expired (exp)": jwt.encode({**payload, "exp": now - 3600}, a_key, algorithm="EdDSA",
                                    headers={"kid": a_kid, "typ": "vc+jwt"}),
        "expired (validUntil)": a.sign({**claims, "validUntil": "2026-01-01T00:00:00Z"}),
        "not yet valid (nbf)": jwt.encode({**payload, "nbf": now + 86400 * 30}, a_key, algorithm="EdDSA",
                                          headers={"kid": a_kid, "typ": "vc+jwt"}),
        "hours edited": tamper(a.sign(claims), creditsEarned=20.0),
        "untrusted issuer": site.issuers["untrusted"].issuer.sign(_badge(site, "feng", issuer="untrusted")),
    }
    before = site.rows()
    with closing(site.signed_in("feng")) as client:
        for name, token in attacks.items():
            answer = site.present(client, token)
            assert answer.status_code == 422, (name, answer.status_code)
            assert "未转入" in answer.text or "无法转入" in answer.text, name
    assert site.rows() == before
    _no_server_errors(site)


def test_odd_hours_signed_by_a_trusted_issuer_are_refused_or_never_rounded_up(site):
    a = site.issuers["a"].issuer
    before = site.rows("chen")
    with closing(site.signed_in("chen")) as client:
        for n, hours in enumerate([1e6, 100, -2, 0, "NaN", "Infinity", "sNaN", "1e999999", True, None, [],
                                   {"v": 1}, "两小时", 0.04]):
            answer = site.present(client, a.sign(_badge(site, "chen", code=f"GX-H-{n}", hours=hours)))
            assert answer.status_code == 422, (hours, answer.status_code)
        assert site.rows("chen") == before
        assert site.present(client, a.sign(_badge(site, "chen", code="GX-H-50", hours=2.25))).status_code == 303
        assert site.present(client, a.sign(_badge(site, "chen", code="GX-H-51", hours=2.35))).status_code == 303
    # Rounding never creates credit: 2.25 and 2.35 count as 2.2 and 2.3.
    assert sorted(h for _c, code, h in site.standing("chen") if code.startswith("GX-H-5")) == [
        Decimal("2.2"), Decimal("2.3")]
    _no_server_errors(site)


def test_odd_shapes_signed_by_a_trusted_issuer_are_refused_not_a_server_error(site):
    a = site.issuers["a"].issuer
    base = _badge(site, "wu", code="GX-S-001")
    shapes = [
        {**base, "type": 5}, {**base, "type": {"OpenBadgeCredential": 1}}, {**base, "credentialSubject": []},
        {**base, "credentialStatus": {**base["credentialStatus"], "statusListIndex": str(10**40)}},
        {**base, "credentialStatus": {**base["credentialStatus"], "statusListIndex": "-1"}},
        {**base, "credentialStatus": {**base["credentialStatus"], "statusListCredential": "file:///etc/passwd"}},
        {**base, "id": 7}, {**base, "validUntil": "tomorrow"},
        {**base, "credentialSubject": {**base["credentialSubject"], "activityEndDate": ["2026-03-10"]}},
        {**base, "credentialSubject": {**base["credentialSubject"], "identifier": "x"}},
        {**base, "validFrom": "2099-01-01T00:00:00Z"},  # not valid yet
        {**base, "credentialSubject": {**base["credentialSubject"], "activityEndDate": "2099-03-10T00:00:00+08:00"}},
    ]
    before = site.rows("wu")
    with closing(site.signed_in("wu")) as client:
        for n, shape in enumerate(shapes):
            answer = site.present(client, a.sign(shape))
            assert answer.status_code == 422, (n, answer.status_code, answer.text[-300:])
    assert site.rows("wu") == before
    _no_server_errors(site)


def test_enormous_and_deeply_nested_credentials_are_refused(site):
    a = site.issuers["a"].issuer
    kid, key = a.keys[-1]
    deep = "[" * 200_000 + "]" * 200_000
    nested_payload = base64.urlsafe_b64encode(deep.encode()).rstrip(b"=").decode()
    attacks = {
        "nested payload": f"{_b64({'alg': 'EdDSA', 'typ': 'vc+jwt', 'kid': kid})}.{nested_payload}.AAAA",
        "nested header": f"{nested_payload}.{_b64({'a': 1})}.AAAA",
        "nested but signed": jwt.api_jws.encode(deep.encode()[:60_000] + b"", key, algorithm="EdDSA",
                                                headers={"kid": kid, "typ": "vc+jwt"}),
        "too large": "e" * (600 * 1024),
        "binary": bytes(range(256)) * 10,
        "NUL": "eyJ\x00hbGciOi.x.y",
    }
    before = site.rows()
    with closing(site.signed_in("wu")) as client:
        for name, token in attacks.items():
            answer = site.present(client, token)
            assert answer.status_code in (400, 413, 422), (name, answer.status_code)
        huge = site.present(client, b"e" * (40 * 1024 * 1024))
        assert huge.status_code in (400, 413)
    assert site.rows() == before
    _no_server_errors(site)


def test_a_bundle_of_thousands_is_refused_without_thousands_of_fetches(site):
    server = site.issuers["a"]
    fake = server.issuer
    own = site.people["wu"]["id_number"]
    badges = [fake.badge(own, f"B{n:06d}", code=f"GX-B-{n}", index=n + 1000) for n in range(150)]
    token = fake.sign(fake.clr(own, badges))
    before, hits = site.rows("wu"), len(server.hits)
    with closing(site.signed_in("wu")) as client:
        started = time.monotonic()
        answer = site.present(client, token)
        elapsed = time.monotonic() - started
    assert answer.status_code == 422 and "学时档案" in answer.text, answer.status_code
    assert site.rows("wu") == before
    assert len(server.hits) - hits <= 2 and elapsed < 10
    # A bundle of a sensible size reads the issuer's status list once, not once per course.
    few = [fake.badge(own, f"F{n:06d}", code=f"GX-BF-{n}", index=n + 5000) for n in range(5)]
    hits = len(server.hits)
    with closing(site.signed_in("wu")) as client:
        assert site.present(client, fake.sign(fake.clr(own, few))).status_code == 303
    assert server.hits[hits:].count("/credentials/status/0") == 1
    assert len(site.standing("wu")) == 5


def test_a_bundle_holding_an_expired_credential_is_refused(site):
    fake = site.issuers["a"].issuer
    own = site.people["zheng"]["id_number"]
    badges = [fake.badge(own, "E000001", code="GX-E-1", index=7001),
              fake.badge(own, "E000002", code="GX-E-2", index=7002, validUntil="2026-01-01T00:00:00Z")]
    with closing(site.signed_in("zheng")) as client:
        answer = site.present(client, fake.sign(fake.clr(own, badges)))
    assert answer.status_code == 422 and "过期" in answer.text
    assert site.rows("zheng") == (0, 0)


# ---------------------------------------------------------------- links


def _redirect_to(location):
    def answer(handler):
        handler.send_response(302)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()
    return answer


def _drip(seconds):
    def answer(handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "application/vc+jwt")
        handler.end_headers()
        try:
            for _ in range(seconds):
                handler.wfile.write(b"e")
                handler.wfile.flush()
                time.sleep(1)
        except OSError:
            pass
    return answer


def _huge(handler):
    handler.send_response(200)
    handler.send_header("Content-Type", "application/vc+jwt")
    handler.end_headers()
    try:
        for _ in range(64):
            handler.wfile.write(b"e" * (1024 * 1024))
    except OSError:
        pass


def test_links_go_only_to_trusted_issuers_never_elsewhere_and_never_for_long(site):
    server, untrusted = site.issuers["a"], site.issuers["untrusted"]
    base = server.issuer.base
    server.special.update({
        "/go/local": _redirect_to(f"{site.base}/healthz"),
        "/go/untrusted": _redirect_to(f"{untrusted.issuer.base}/credentials/shared/x"),
        "/go/file": _redirect_to("file:///etc/passwd"),
        "/go/metadata": _redirect_to("http://169.254.169.254/latest/meta-data/"),
        "/go/loop": _redirect_to("/go/loop"),
        "/huge": _huge, "/slow": _drip(20)})
    untrusted_hits = len(untrusted.hits)
    before = site.rows()
    with closing(site.signed_in("feng")) as client:
        csrf = site.token(client)
        for link in (f"{untrusted.issuer.base}/credentials/shared/x", "file:///etc/passwd",
                     "http://169.254.169.254/latest/meta-data/", "gopher://127.0.0.1:25/", f"{site.base}/healthz",
                     "javascript:alert(1)", f"http://user:pw@127.0.0.1:{server.port}/x", "x" * 5000):
            answer = site.present_link(client, link, csrf)
            assert answer.status_code in (400, 422), (link[:80], answer.status_code)
        for path in ("/go/local", "/go/untrusted", "/go/file", "/go/metadata", "/go/loop", "/huge",
                     "/credentials/shared/gxc_revoked"):
            answer = site.present_link(client, base + path, csrf)
            assert answer.status_code == 422 and "未" in answer.text, (path, answer.status_code)
        started = time.monotonic()
        slow = site.present_link(client, base + "/slow", csrf)
        elapsed = time.monotonic() - started
    assert slow.status_code == 422
    assert elapsed < 3 * TIMEOUT, f"a slow answer held the request {elapsed:.1f} s"
    assert len(untrusted.hits) == untrusted_hits
    assert site.rows() == before
    _no_server_errors(site)


def test_a_consent_link_of_another_learner_credits_nobody_and_tells_nothing(site):
    server = site.issuers["a"]
    claims = _badge(site, "li", code="GX-L-001", hours=1.0, title="李的私人课程")
    server.links["/credentials/shared/gxc_li_only"] = server.issuer.sign(claims)
    with closing(site.signed_in("zhao")) as client:
        answer = site.present_link(client, f"{server.issuer.base}/credentials/shared/gxc_li_only")
    assert answer.status_code == 422 and "不是您本人" in answer.text
    assert "李的私人课程" not in answer.text and "GX-L-001" not in answer.text
    assert site.rows("zhao") == (0, 0)
    before = site.rows("li")
    with closing(site.signed_in("li")) as client:
        mine = site.present_link(client, f"{server.issuer.base}/credentials/shared/gxc_li_only")
    assert mine.status_code == 303 and site.rows("li")[0] == before[0] + 1


def test_consent_links_on_the_issuing_side_are_the_owners_alone(site):
    from lms.accounts.models import User
    from lms.catalog.models import Course, CourseStatus
    from lms.certificates import services as certificates
    from lms.credits import services as ledger
    from lms.extensions import db
    from lms.federation.models import ConsentLink

    with site.app.test_request_context():
        owner = db.session.get(User, site.people["qian"]["id"])
        course = db.session.scalar(select(Course).where(Course.code == "GX-NS-001",
                                                        Course.status == CourseStatus.PUBLISHED))
        cert = certificates.issue_course_certificate(
            ledger.record_course_completion(owner, course, completed_at=datetime(2026, 5, 1, 4), exam_score=80))
        number = cert.number
        db.session.commit()
    with closing(site.signed_in("qian")) as client:
        mine = client.get("/me/certificates").text
        created = client.post(f"/me/certificates/{number}/consent", data={"csrf_token": site.token(client)})
        assert created.status_code == 200 and mine
        url = re.search(r'id="consent-url"[^>]*>([^<]+)<', created.text).group(1)
    with site.app.app_context():
        link_id = db.session.scalar(select(ConsentLink.id).where(ConsentLink.user_id == site.people["qian"]["id"]))
    path = url[url.index("/credentials/shared/"):]
    with closing(site.signed_in("sun")) as other:
        csrf = site.token(other)
        assert link_id and f"/me/consent-links/{link_id}/revoke" not in other.get("/me/consent-links").text
        assert other.post(f"/me/consent-links/{link_id}/revoke", data={"csrf_token": csrf}).status_code in (303, 302,
                                                                                                            404)
        made = other.post(f"/me/certificates/{number}/consent", data={"csrf_token": csrf})
        assert made.status_code in (302, 303) and "consent-url" not in made.text
    with site.client() as anonymous:
        assert anonymous.get(path).status_code == 200  # not revoked by the other learner
        for guess in ("gxc_" + "A" * 32, path.rsplit("/", 1)[1][:-1], "gxc_", "x" * 300):
            assert anonymous.get(f"/credentials/shared/{guess}").status_code == 404
    with site.app.app_context():
        links = list(db.session.scalars(select(ConsentLink)))
        assert [link.user_id for link in links] == [site.people["qian"]["id"]]
        assert links[0].revoked_at is None


# ---------------------------------------------------------------- the status list


def test_a_status_list_that_is_down_or_not_what_it_says_refuses_the_credential(site):
    server, c = site.issuers["a"], site.issuers["c"].issuer
    fake = server.issuer
    before = site.rows("zheng")
    with closing(site.signed_in("zheng")) as client:
        fake.status_down = True
        try:
            down = site.present(client, fake.sign(_badge(site, "zheng", code="GX-T-1")))
        finally:
            fake.status_down = False
        assert down.status_code == 422 and "稍后再试" in down.text
        # The list served at A's address signed by C (trusted, but not the credential's issuer).
        server.special["/credentials/status/0"] = lambda h: h._send(200, c.status_list().encode())
        try:
            answer = site.present(client, fake.sign(_badge(site, "zheng", code="GX-T-2")))
        finally:
            del server.special["/credentials/status/0"]
        assert answer.status_code == 422
        # A's own credential (not a status list), and A's list of another address, served as the list.
        served = fake.sign(_badge(site, "zheng", code="GX-T-3"))
        server.special["/credentials/status/0"] = lambda h: h._send(200, served.encode())
        try:
            answer = site.present(client, fake.sign(_badge(site, "zheng", code="GX-T-4")))
        finally:
            del server.special["/credentials/status/0"]
        assert answer.status_code == 422
        elsewhere = fake.status_list()
        claims = jwt.decode(elsewhere, options={"verify_signature": False})
        claims["id"] = f"{fake.base}/credentials/status/9"
        moved = fake.sign({k: v for k, v in claims.items() if k not in ("iss", "jti", "nbf", "iat")})
        server.special["/credentials/status/0"] = lambda h: h._send(200, moved.encode())
        try:
            answer = site.present(client, fake.sign(_badge(site, "zheng", code="GX-T-5")))
        finally:
            del server.special["/credentials/status/0"]
        assert answer.status_code == 422 and "状态列表" in answer.text
    assert site.rows("zheng") == before


def test_a_slow_issuer_holds_no_lock_other_learners_wait_for(site):
    """While one presentation waits for a slow status list, another learner's presentation (of a
    credential from another issuer) goes through at once: the network is read before the ledger or
    the database's write lock is taken."""
    a, c = site.issuers["a"], site.issuers["c"]
    own = site.people["feng"]["id_number"]
    bundle = a.issuer.sign(a.issuer.clr(own, [a.issuer.badge(own, "S000001", code="GX-W-1", index=8001),
                                              a.issuer.badge(own, "S000002", code="GX-W-2", index=8002)]))
    quick = c.issuer.sign(_badge(site, "chen", issuer="c", code="GX-W-3"))
    slow_client, quick_client = site.signed_in("feng"), site.signed_in("chen")
    slow_csrf, quick_csrf = site.token(slow_client), site.token(quick_client)
    a.status_delay = 2.5
    try:
        with ThreadPoolExecutor(2) as pool:
            slow = pool.submit(site.present, slow_client, bundle, slow_csrf)
            time.sleep(0.8)
            started = time.monotonic()
            answer = site.present(quick_client, quick, quick_csrf)
            elapsed = time.monotonic() - started
            assert slow.result().status_code == 303
    finally:
        a.status_delay = 0
        slow_client.close()
        quick_client.close()
    assert answer.status_code == 303
    assert elapsed < 1.5, f"the quick presentation waited {elapsed:.1f} s for the slow one"


# ---------------------------------------------------------------- input


def test_input_that_is_not_a_credential_gets_a_message_and_changes_nothing(site):
    before = site.rows()
    with closing(site.signed_in("zhou")) as client:
        csrf = site.token(client)
        answers = [
            client.post("/me/transfers", data={"csrf_token": csrf, "link": "https://a.example/\x00"}),
            client.post("/me/transfers", data={"csrf_token": csrf}, files={"credential": ("a.jwt", b"{\"a\": 1}")}),
            client.post("/me/transfers", data={"csrf_token": csrf}, files={"credential": ("a\x00.jwt", b"x.y.z")}),
            client.post("/me/transfers", json={"csrf_token": csrf, "credential": "x"}),
            client.post("/me/transfers", content=b"\xff\xfe", headers={"Content-Type": "text/plain"}),
            client.post("/me/transfers", data={"csrf_token": csrf}),
            client.post("/me/transfers", data={"csrf_token": csrf, "link": ["a", "b"]}),
            client.post("/me/transfers", data={"csrf_token": csrf},
                        files={"credential": ("a.jwt", "凭证".encode() * 10)}),
        ]
    for answer in answers:
        assert 400 <= answer.status_code < 500, answer.status_code
        assert "<html" in answer.text.lower() or answer.headers.get("content-type", "").startswith("application/json")
    assert site.rows() == before
    _no_server_errors(site)


def test_an_admin_trusting_a_slow_issuer_holds_no_lock_learners_wait_for(site):
    """The admin's page reads the new issuer's key set before it takes the database's write lock: a
    learner's presentation meanwhile goes through at once."""
    from lms.federation.models import TrustedIssuer

    slow = site.issuers["d"]
    admin, learner = site.signed_in("admin"), site.signed_in("zheng")
    admin_csrf, learner_csrf = site.token(admin, "/admin/federation/issuers"), site.token(learner)
    quick = _sign(site, _badge(site, "zheng", issuer="c", code="GX-W-9"), issuer="c")
    slow.jwks_delay = 2.5
    try:
        with ThreadPoolExecutor(1) as pool:
            added = pool.submit(admin.post, "/admin/federation/issuers", data={
                "csrf_token": admin_csrf, "issuer_id": slow.issuer.issuer_id, "name": slow.issuer.name})
            time.sleep(0.8)
            started = time.monotonic()
            answer = site.present(learner, quick, learner_csrf)
            elapsed = time.monotonic() - started
            assert added.result().status_code == 303
    finally:
        slow.jwks_delay = 0
        admin.close()
        learner.close()
    assert answer.status_code == 303
    assert elapsed < 1.5, f"the presentation waited {elapsed:.1f} s for the admin's page"
    from lms.extensions import db

    with site.app.app_context():
        trusted = db.session.scalar(select(TrustedIssuer).where(TrustedIssuer.issuer_id == slow.issuer.issuer_id))
        assert set(trusted.pinned_keys) == set(slow.issuer.published)
