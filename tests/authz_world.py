"""The world the authorization matrix runs against (tests/web/test_authorization_matrix.py).

Built once per module on an app and database of its own, with real commits, through the services
(the same ones the pages call): two publisher organizations, two units in two regions, courses in
every state, a learner with progress, an exam attempt and a certificate, another learner, an export
job, HR API clients of every kind, a webhook subscription, media assets. Every account signs in
once here; each test case copies that account's cookies (and a CSRF token) into a fresh client.
"""

import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from tests.conftest import TEST_PASSWORD, credit_code, id_number

UNIT_A = credit_code("91110108MA00AAAA0")  # region 110000 (北京)
UNIT_B = credit_code("91440101MA00BBBB0")  # region 440000 (广东)
COOKIE_ROLES = ("anonymous", "learner", "learner-other", "publisher", "publisher-other-org", "reviewer",
                "unit-admin", "unit-admin-other", "hr-auditor", "hr-auditor-other-region", "admin",
                "programme-office", "programme-office-region")
# The continuing-education bases' own table (issue 17 item 2): its roles beside the offices and admin.
BASE_ROLES = ("anonymous", "learner", "inspector", "base-admin", "base-admin-other", "admin", "programme-office",
              "programme-office-region")
API_ROLES = ("no-token", "admin-cookie", "api-unit", "api-region", "api-region-other", "api-full-id",
             "api-revoked", "api-expired")


@dataclass
class Identity:
    """How a role signs in: cookies copied into each case's client, the CSRF token of that session,
    or a bearer token for the HR API."""

    cookies: list = field(default_factory=list)
    csrf: str = ""
    bearer: str | None = None


@dataclass
class World:
    ids: dict  # what the route table's {placeholders} are filled with
    identities: dict  # role -> Identity
    files: dict  # bytes the cases upload (the learner's certificate PDF)


def _person(n: int, name: str, *, region="110000", unit=None, roles=(), approved=True, **grant):
    from lms.accounts import services as accounts
    from lms.accounts.models import EmploymentStatus
    from lms.extensions import db

    user = accounts.create_person(None, accounts.PersonData(
        real_name=name, id_number=id_number(f"11010519850101{n:03d}"), password=TEST_PASSWORD,
        mobile=f"1365000{n:04d}", region_code=region, employer_name=f"单位{(unit or 'X')[-4:]}" if unit else None,
        employer_credit_code=unit), roles=())
    if unit and approved:
        user.employment_status = EmploymentStatus.APPROVED
    for role in roles:
        accounts.grant_role(None, user, role, **grant)
    db.session.flush()
    return user


def _jpeg() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 36), (40, 90, 160)).save(out, "JPEG")
    return out.getvalue()


def build(app) -> World:
    from lms.accounts import services as accounts_services
    from lms.accounts.models import EmploymentStatus, Organization, OrgKind, Role
    from lms.accounts.services import get_or_create_organization
    from lms.api import services as api
    from lms.catalog.models import Course, CourseStatus
    from lms.certificates.models import Certificate
    from lms.core.storage import media_path
    from lms.credits import services as ledger
    from lms.credits.models import RuleSet
    from lms.exports import records
    from lms.exports import services as exports
    from lms.exports.tasks import export_job
    from lms.extensions import db
    from lms.learning import play
    from lms.learning import services as learning
    from lms.learning.models import QuizAttempt
    from lms.media.models import MediaAsset, MediaStatus
    from lms.publishing import services as publishing

    ids: dict = {"unit_a": UNIT_A, "unit_b": UNIT_B}
    with app.test_request_context():
        s = db.session
        published = s.scalar(select(Course).where(Course.code == "GX-NS-001"))
        other_published = s.scalar(select(Course).where(Course.code == "GX-DT-002"))
        org_a = published.publisher
        org_b = get_or_create_organization("另一继续教育基地", OrgKind.PUBLISHER)
        s.flush()

        people = {
            "learner": _person(1, "甲学员", unit=UNIT_A),
            "learner-other": _person(2, "乙学员", unit=UNIT_A),
            "publisher": _person(3, "甲发布", roles=(Role.PUBLISHER,), organization=org_a),
            "publisher-other-org": _person(4, "乙发布", roles=(Role.PUBLISHER,), organization=org_b),
            "reviewer": _person(5, "审核员", roles=(Role.REVIEWER,)),
            "hr-auditor": _person(8, "京审", roles=(Role.HR_AUDITOR,), region_code="110000"),
            "hr-auditor-other-region": _person(9, "粤审", roles=(Role.HR_AUDITOR,), region_code="440000"),
            "admin": _person(10, "管理员", roles=(Role.ADMIN,)),
            "programme-office": _person(15, "全国项目办", roles=(Role.PROGRAMME_OFFICE,)),
            "programme-office-region": _person(16, "京项目办", roles=(Role.PROGRAMME_OFFICE,), region_code="110000"),
        }
        pending_a = _person(11, "待审甲", unit=UNIT_A, approved=False)
        pending_b = _person(12, "待审乙", region="440000", unit=UNIT_B, approved=False)
        employee_b = _person(13, "乙职工", region="440000", unit=UNIT_B)
        unit_a = s.scalar(select(Organization).where(Organization.credit_code == UNIT_A))
        unit_b = s.scalar(select(Organization).where(Organization.credit_code == UNIT_B))
        people["unit-admin"] = _person(6, "甲单位管理", roles=(Role.UNIT_ADMIN,), organization=unit_a)
        people["unit-admin-other"] = _person(7, "乙单位管理", roles=(Role.UNIT_ADMIN,), organization=unit_b)
        assert pending_a.employment_status == EmploymentStatus.PENDING
        s.add(RuleSet(name="测试：北京", region_code="110000", annual_hours=Decimal(4), public_min_hours=Decimal(2)))
        s.commit()

        # Courses: published (GX-NS-001, GX-DT-002), a draft of org A (new version of GX-NS-001, with a
        # cover), one in review (new version of GX-DT-002), a draft of org B.
        pub = people["publisher"]
        draft = publishing.new_version(pub, published)
        s.flush()
        publishing.set_cover(pub, draft, io.BytesIO(_jpeg()))
        in_review = publishing.new_version(pub, other_published)
        s.flush()
        publishing.submit_course(pub, in_review)
        draft_b = publishing.create_course(people["publisher-other-org"], org_b, "GX-ZZ-901", publishing.CourseData(
            title="乙机构草稿课程", subject_id=published.subject_id, category="public", summary="乙机构的草稿。",
            syllabus="一、概述", tags="草稿", credit_hours=None, has_exam=False, pass_score=None))
        s.commit()
        assert in_review.status == CourseStatus.IN_REVIEW and draft.status == CourseStatus.DRAFT
        chapter = draft.chapters[0]
        lesson = chapter.lessons[0]
        question = publishing.questions_of(draft)[0]
        ids.update(published=published.id, published_code=published.code, draft=draft.id, draft_b=draft_b.id,
                   draft_b_code=draft_b.code, in_review=in_review.id, chapter=chapter.id, lesson=lesson.id,
                   other_chapter=draft.chapters[-1].id, question=question.id,
                   published_lesson=published.lessons[0].id, org_a=org_a.id, subject=published.subject_id,
                   outline=[{"chapter": c.id, "lessons": [x.id for x in c.lessons]} for c in reversed(draft.chapters)],
                   foreign_outline=[{"chapter": c.id, "lessons": [x.id for x in c.lessons]} for c in published.chapters])

        # Media: an asset of a published lesson (any signed-in user may play it) and an unpublished one
        # of org A (its publishers, reviewers, admins), "processing" so a retry is refused without ffmpeg.
        played = next(lesson.media_asset for lesson in published.lessons if lesson.media_asset_id)
        unpublished = MediaAsset(organization_id=org_a.id, original_name="未发布.mp4", path=played.path,
                                 sha256=played.sha256, size_bytes=played.size_bytes, content_type=played.content_type,
                                 duration_seconds=played.duration_seconds, mp4_path=played.mp4_path,
                                 hls_path=played.hls_path, poster_path=played.poster_path,
                                 status=MediaStatus.PROCESSING,
                                 updated_at=datetime.now() + timedelta(days=1))  # never "stalled" during the run
        s.add(unpublished)
        foreign = MediaAsset(organization_id=org_b.id, original_name="乙机构.mp4", path=played.path, sha256=played.sha256,
                             size_bytes=played.size_bytes, content_type=played.content_type,
                             duration_seconds=played.duration_seconds, mp4_path=played.mp4_path)
        s.add(foreign)
        # An unpublished asset that is ready (its renditions are served: to org A's people only).
        draft = MediaAsset(organization_id=org_a.id, original_name="待发布.mp4", path=played.path,
                           sha256=played.sha256, size_bytes=played.size_bytes, content_type=played.content_type,
                           duration_seconds=played.duration_seconds, mp4_path=played.mp4_path,
                           poster_path=played.poster_path, status=MediaStatus.READY)
        s.add(draft)
        # A tiny HLS playlist for them (the demo videos come as MP4 only).
        hls = "hls/authz-matrix/master.m3u8"
        media_path(hls).parent.mkdir(parents=True, exist_ok=True)
        media_path(hls).write_text("#EXTM3U\n#EXT-X-VERSION:3\n", encoding="utf-8")
        played.hls_path = unpublished.hls_path = draft.hls_path = hls
        # Changing the row would stamp updated_at with now (onupdate): keep it in the future, or on a slow
        # run the retry row finds the transcode "stalled" after LMS_TRANSCODE_STALL_SECONDS and accepts it.
        unpublished.updated_at = datetime.now() + timedelta(days=1)
        s.flush()
        assert lesson.kind == "video"
        # An upload in parts begun by org A's publisher (2 KiB, nothing received yet).
        from lms.media import uploads

        upload = uploads.create_upload(people["publisher"], org_a, kind="media", filename="讲座.mp4",
                                       total_bytes=2048)
        ids["upload"] = upload.id
        ids.update(asset=played.id, asset_unpublished=unpublished.id, asset_draft=draft.id, asset_other_org=foreign.id,
                   hls_name=played.hls_path.rsplit("/", 1)[-1] if played.hls_path else "master.m3u8")

        # The learner: enrolled, some progress (a play session), an exam attempt, a completion with its
        # course certificate. The other learner is enrolled too, with nothing of the first's.
        learner, other = people["learner"], people["learner-other"]
        enrollment = learning.enroll(learner, published.code)
        learning.enroll(other, published.code)
        s.commit()
        session, progress = play.start_session(learner.id, ids["published_lesson"])
        s.commit()
        layout = [{"q": q.id, "o": list(range(len(q.options)))} for q in publishing.questions_of(published)[:3]]
        attempt = QuizAttempt(user_id=learner.id, course_id=published.id, enrollment_id=enrollment.id,
                              layout=layout, pass_score=60)
        s.add(attempt)
        record = ledger.record_course_completion(learner, other_published, completed_at=datetime(2026, 3, 10, 2, 0),
                                                 exam_score=90)
        from lms.certificates import services as certificates

        cert = certificates.issue_course_certificate(record)
        cert_b = certificates.issue_course_certificate(ledger.record_course_completion(
            employee_b, other_published, completed_at=datetime(2026, 3, 11, 2, 0), exam_score=80))
        s.commit()
        ids["certificate_b"] = s.get(Certificate, cert_b.id).number
        cert = s.get(Certificate, cert.id)
        ids.update(progress=progress.id, play_session=session.id, attempt=attempt.id, certificate=cert.number,
                   pending_a=pending_a.id, pending_b=pending_b.id)
        pdf = media_path(cert.pdf_path).read_bytes()

        # An export job of unit A's admin, finished (the job runs at once in tests).
        unit_admin = people["unit-admin"]
        scope = records.scope_for(unit_admin)
        job = exports.start_export_job(unit_admin, scope, year=2026, fmt="csv", rows=exports.count_rows(scope, 2026))
        s.commit()
        job_id, job_token = job.id, job.token
        export_job(job_id)
        ids.update(job=job_id, job_token=job_token, rule=s.scalar(select(RuleSet.id).where(
            RuleSet.region_code == "110000")))

        # HR API clients (issued by the admin), one webhook subscription of the region client.
        admin = people["admin"]
        tokens = {}

        def issue(role, **kw):
            client, token = api.issue_client(admin, api.ClientRequest(name=role, **kw))
            s.flush()
            tokens[role] = token
            return client

        issue("api-unit", unit=UNIT_A)
        region_client = issue("api-region", region="110000")
        issue("api-region-other", region="440000")
        issue("api-full-id", region="110000", full_id_numbers=True)
        api.revoke_client(admin, issue("api-revoked", region="110000"))
        issue("api-expired", region="110000").expires_at = datetime(2020, 1, 1)
        managed = issue("managed", region="110000", expires_on=date.today() + timedelta(days=30))
        subscription, _secret = api.register_webhook(region_client, api.check_webhook_url("http://127.0.0.1:9/hook"))
        s.commit()
        ids.update(api_client=managed.id, webhook=subscription.id)
        user_ids = {role: user.id for role, user in people.items()}

        # Notices: one of the Beijing auditor's in force, one withdrawn; a disabled account; the
        # reviewer's grant (revoked by the admin console's row).
        from lms.accounts.models import RoleGrant
        from lms.notices import services as notices

        notice = notices.publish_notice(people["hr-auditor"], notices.NoticeData(
            title="北京地区年度学习提醒", body="请按时完成。", region_code="110000"))
        withdrawn = notices.publish_notice(people["hr-auditor"], notices.NoticeData(
            title="已撤回的通知", body="撤回。", region_code="110000"))
        notices.withdraw_notice(people["hr-auditor"], withdrawn)
        stopped = _person(14, "已停用者")
        accounts_services.disable_account(None, stopped, reason="授权矩阵：停用的账号")
        s.commit()
        # The courseware federation: a shared course, a subscriber's token, a subscription (whose feed
        # is on an address a pull refuses, so pulling never leaves the machine).
        from lms.accounts import crypto
        from lms.federation import services as federation
        from lms.federation.models import FeedSubscription

        share = federation.share_course(people["admin"], "GX-DT-002")
        federation_token, federation_secret = federation.issue_token(people["admin"], "授权矩阵订阅方")
        feed_sub = FeedSubscription(feed_url="http://127.0.0.1:9/federation/courses", origin="http://127.0.0.1:9",
                                    instance_name="授权矩阵上游平台", token_encrypted=crypto.encrypt("gxf_matrix"),
                                    pinned_keys={}, created_by_id=user_ids["admin"])
        s.add(feed_sub)
        s.commit()
        ids.update(share=share.id, federation_token=federation_token.id, federation_secret=federation_secret,
                   feed_sub=feed_sub.id)
        ids.update(notice=notice.id, notice_withdrawn=withdrawn.id, disabled=stopped.id, learner=user_ids["learner"],
                   admin=user_ids["admin"],
                   enrollment=enrollment.id, reviewer=user_ids["reviewer"],
                   reviewer_grant=s.scalar(select(RoleGrant.id).where(RoleGrant.user_id == user_ids["reviewer"],
                                                                      RoleGrant.role == "reviewer")))

        # 学时登记: a claim of the learner (unit A) with a PDF, waiting for unit A's admin; one of the
        # other learner (the evidence of the first is not reachable through it).
        from lms.claims import services as claims
        from lms.claims.evidence import Upload

        def claim_of(user, title):
            return claims.submit_claim(user, claims.ClaimData(
                kind="conference", title=title, activity_date=date(2026, 5, 20), hours="4", category="professional",
                description="授权矩阵：参加学术会议。"), [Upload("参会证明.pdf", io.BytesIO(b"%PDF-1.4\n%%EOF\n"))])

        claim = claim_of(learner, "授权矩阵会议")
        claim_other = claim_of(other, "另一学员的会议")
        s.commit()
        ids.update(claim=claim.id, claim_evidence=claim.evidence[0].id, claim_other=claim_other.id)
        # Credit portability: a trusted issuer (keys pasted, so nothing is fetched) and the learner's
        # consent link to their course certificate.
        from lms.federation import transfers
        from lms.federation.models import TrustedIssuer

        trusted_issuer = TrustedIssuer(issuer_id="https://a.example.gov.cn/", name="授权矩阵发证平台", pinned_keys={},
                                       created_by_id=user_ids["admin"])
        s.add(trusted_issuer)
        consent_link, consent_token = transfers.create_consent_link(learner, ids["certificate"])
        s.commit()
        ids.update(trusted_issuer=trusted_issuer.id, consent_link=consent_link.id, consent_token=consent_token)
        _bases(app, people, ids)

    identities = {role: _sign_in(app, people_mobile) for role, people_mobile in
                  ((role, f"1365000{n:04d}") for role, n in _NUMBERS.items())}
    identities["anonymous"] = _anonymous(app)
    identities["no-token"] = Identity()
    identities["admin-cookie"] = identities["admin"]
    for role, token in tokens.items():
        identities[role] = Identity(bearer=token)
    ids["learner_login"] = _login_session_id(app, user_ids["learner"])
    ids["learner_user"] = user_ids["learner"]
    return World(ids=ids, identities=identities, files={"pdf": pdf, "jpeg": _jpeg()})


_NUMBERS = {"learner": 1, "learner-other": 2, "publisher": 3, "publisher-other-org": 4, "reviewer": 5,
            "unit-admin": 6, "unit-admin-other": 7, "hr-auditor": 8, "hr-auditor-other-region": 9, "admin": 10,
            "programme-office": 15, "programme-office-region": 16, "inspector": 17, "base-admin": 18,
            "base-admin-other": 19}


def _bases(app, people: dict, ids: dict) -> None:
    """Continuing-education bases: a national one (organization A, in 北京), a provincial one in 北京
    (organization B; the base-admin's) with an evaluation and its PDF, and one in 广东 (base-admin-other's)."""
    from lms.accounts.models import Organization, OrgKind, Role
    from lms.accounts.services import get_or_create_organization
    from lms.core.attachments import Upload
    from lms.extensions import db
    from lms.programme import bases

    s = db.session
    office = people["programme-office"]
    org_a = s.get(Organization, ids["org_a"])
    org_b = get_or_create_organization("另一继续教育基地", OrgKind.PUBLISHER)
    org_gd = get_or_create_organization("广东继续教育基地", OrgKind.PUBLISHER)
    national = bases.register_base(office, bases.BaseData(org_a.name, "", "national", "110000", "2019-06-01",
                                                          "人社部函〔2019〕1号"))
    beijing = bases.register_base(office, bases.BaseData(org_b.name, "", "provincial", "110000", "2020-03-15",
                                                         "京人社〔2020〕5号"))
    guangdong = bases.register_base(office, bases.BaseData(org_gd.name, "", "provincial", "440000", "2021-09-01",
                                                           "粤人社〔2021〕8号"))
    evaluation = bases.record_evaluation(office, beijing, bases.EvaluationData(
        "2024", "88", "qualified", "专家评估组", "2024-12-10"), [Upload("评估报告.pdf", io.BytesIO(BASE_PDF))])
    people["inspector"] = _person(17, "检查员", roles=(Role.INSPECTOR,))
    people["base-admin"] = _person(18, "京基地管理", roles=(Role.BASE_ADMIN,), organization=org_b)
    people["base-admin-other"] = _person(19, "粤基地管理", roles=(Role.BASE_ADMIN,), organization=org_gd)
    s.commit()
    ids.update(base_nat=national.id, base_bj=beijing.id, base_gd=guangdong.id,
               base_attachment=evaluation.attachments[0].id)

    # The institution directory: an entry in 北京, one in 广东, a suspended one in 北京.
    from lms.programme import institution_codes, institutions

    def listed(name, region, kind="training"):
        return institutions.list_institution(office, institutions.InstitutionData(kind, name, "", region, ["big_data"]))

    inst_bj, inst_gd = listed("北京大数据培训中心", "110000"), listed("广东大数据评价中心", "440000", "evaluation")
    suspended = listed("北京暂停的培训机构", "110000")
    institutions.suspend_institution(office, suspended, "授权矩阵：暂停")
    s.commit()
    ids.update(inst_bj=inst_bj.code, inst_gd=inst_gd.code, inst_suspended=suspended.code,
               inst_missing=institution_codes.compose("T", "650000", 1) or institution_codes.compose("T", "650000", 2),
               inst_bad_check=inst_bj.code[:-1] + ("B" if inst_bj.code[-1] != "B" else "C"))

    _inspections(people, ids)
    _classes(people, ids, org_b)


def _classes(people: dict, ids: dict, host_org) -> None:
    """Seminars: one the 北京 base (base-admin's organization) is still selecting for, where the other
    learner has applied, and one already selected, where the learner was accepted, with a session."""
    from lms.classes import services as classes
    from lms.extensions import db

    host = people["base-admin"]
    people["learner"].title_level = "intermediate"
    people["learner-other"].title_level = "senior"

    def programme(title):
        return classes.create_programme(host, classes.ProgrammeData(
            organization_id=host_org.id, kind="seminar", title=title, domain="人工智能", place="北京市海淀区",
            starts_on="2026-06-10", ends_on="2026-06-12", category="professional", quota="5",
            min_title_level="intermediate", required_percent="80", description="授权矩阵：高级研修项目。"))

    open_one, selected = programme("授权矩阵报名中的研修"), programme("授权矩阵已遴选的研修")
    session = classes.add_session(host, selected, classes.SessionData("第一讲", "2026-06-10", "09:00", "12:00", "3"))
    waiting = classes.apply(people["learner-other"], open_one.id, statement="授权矩阵：希望参加研修。", groups=["border"])
    mine = classes.apply(people["learner"], selected.id, statement="授权矩阵：希望参加研修。", groups=[])
    classes.select_applicants(host, selected.id, [mine.id])
    db.session.commit()
    ids.update(class_open=open_one.id, class_selected=selected.id, class_session=session.id,
               class_waiting=waiting.id, class_org=host_org.id, class_learner=people["learner"].id)


def _inspections(people: dict, ids: dict) -> None:
    """Random inspections: a national plan of bases drawn (the inspector drawn for one base, another
    inspector for another), a national plan frozen, a 北京 draft of the regional office and
    a national draft."""
    from lms.accounts.models import Role
    from lms.extensions import db
    from lms.programme import inspections

    s = db.session
    office, regional = people["programme-office"], people["programme-office-region"]

    def plan(actor, title, scope, targets=1, year=2025):
        return inspections.create_plan(actor, inspections.PlanData(title, scope, "bases", year, targets, 1))

    _person(20, "另一检查员", roles=(Role.INSPECTOR,))
    # two targets, one inspector each, a pool of two without exclusions: each inspector gets one
    drawn = plan(office, "授权矩阵已抽取计划", "national", targets=2)
    inspections.freeze_plan(office, drawn)
    inspections.reveal_and_draw(office, drawn)
    frozen = plan(office, "授权矩阵已冻结计划", "national", year=2024)  # one open plan per kind and year
    inspections.freeze_plan(office, frozen)
    regional_draft = plan(regional, "授权矩阵北京草稿", "110000")
    national_draft = plan(office, "授权矩阵全国草稿", "national")
    s.commit()
    mine = next(a for a in drawn.assignments if a.inspector_id == people["inspector"].id)
    theirs = next(a for a in drawn.assignments if a.inspector_id != people["inspector"].id)
    ids.update(insp_drawn=drawn.id, insp_frozen=frozen.id, insp_bj=regional_draft.id, insp_draft=national_draft.id,
               insp_task=mine.id, insp_task_other=theirs.id)


BASE_PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def _cookies(client) -> list:
    return [(c.key, c.value, c.domain, c.path) for c in client._cookies.values()]


def _sign_in(app, mobile: str) -> Identity:
    with app.test_client() as client:
        token = _csrf(client.get("/login").get_data(as_text=True))
        response = client.post("/login", data={"login": mobile, "password": TEST_PASSWORD, "csrf_token": token})
        assert response.status_code == 302, response.get_data(as_text=True)
        page = client.get("/profile")
        assert page.status_code == 200
        return Identity(cookies=_cookies(client), csrf=_csrf(page.get_data(as_text=True)))


def _anonymous(app) -> Identity:
    with app.test_client() as client:
        token = _csrf(client.get("/login").get_data(as_text=True))
        return Identity(cookies=_cookies(client), csrf=token)


def _login_session_id(app, user_id: int) -> int:
    from lms.accounts.models import UserSession
    from lms.extensions import db

    with app.app_context():
        return db.session.scalar(select(UserSession.id).where(UserSession.user_id == user_id)
                                 .order_by(UserSession.id.desc()))
