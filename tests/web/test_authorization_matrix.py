"""The authorization matrix: every route × every role, including object-level variations.

**This is where a new route is registered.** ``test_every_route_is_registered`` fails for any
endpoint + method in ``app.url_map`` (``static`` aside) that no row below reaches. To register a
route, add one line to ``PAGES`` (cookie sign-in: pages, the player's ``/api/v1/learning`` JSON) or
``HR_API`` (bearer tokens, ``/api/v1``) — or to ``BASES``, the continuing-education bases' routes with
role columns of their own (base administrators and the inspector)::

    endpoint[~variant]  METHOD  /path/{placeholder}?query  <one outcome per role column>

- ``{placeholders}`` are filled from the shared world (``tests/authz_world.py``: ``World.ids``);
  add what a new route needs there. A ``~variant`` row repeats an endpoint with other objects
  (another unit's learner, another org's draft...).
- Outcomes: a status (``200``, ``302``, ``403``, ``404``...) that the case must answer;
  ``login``: a redirect to ``/login?next=...``; ``empty``: 200 without a single record (a filter
  outside the reader's scope narrows to nothing rather than being refused); a 2xx/3xx followed by ``!`` is answered but refused
  (a flash message): it must change nothing. Every refusal of a POST/DELETE (4xx, or ``!``) is
  checked to have changed nothing in the database.
- A POST/DELETE that needs a body, a redirect target (``to``) or headers says so in ``REQUESTS``
  (``raw``: bytes sent as the body with the CSRF token in its header, as for an upload's part).
  POST forms carry the role's valid CSRF token unless ``csrf=False``.

Columns of ``PAGES``: anonymous, learner (owner of the world's progress, attempt, certificate, login
session), learner-other, publisher (of the courses' organization), publisher-other-org, reviewer,
unit-admin (unit A, whose admin requested the export job), unit-admin-other (unit B),
hr-auditor (110000), hr-auditor-other-region (440000), admin, programme-office (national: a grant
without a region), programme-office-region (110000; no plan of its own, so counts without ratios). Columns of ``HR_API``: no token, a
signed-in admin's cookies but no token, clients scoped to unit A / region 110000 / region 440000 /
region 110000 with full ID numbers, a revoked and an expired client.

Each (route, role) is one test, e.g. ``publishing.edit_course:POST[publisher-other-org]``; every
route also answers a method it does not support with 405 and an ``Allow`` header
(``...[wrong-method]``). The world is built once per module on a database of its own; each case
runs in a transaction rolled back afterwards (``db_session`` in tests/conftest.py).
"""

import io
import re
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from lms.programme.services import REFERENCE_PLAN
from tests.authz_world import API_ROLES, BASE_PDF, BASE_ROLES, COOKIE_ROLES, build
from tests.conftest import committed_app

PAGE_COLUMNS = "anon lrn lrn2 pub pub2 rev unit unit2 hr hr2 admin po po2"
PAGES = """
endpoint                           method path                                                anon  lrn   lrn2  pub   pub2  rev   unit  unit2 hr    hr2   admin   po    po2
# ---- public pages
core.healthz                       GET    /healthz                                            200   200   200   200   200   200   200   200   200   200   200   200   200
core.help_page                     GET    /help                                               200   200   200   200   200   200   200   200   200   200   200   200   200
core.metrics_page                  GET    /metrics                                            403   403   403   403   403   403   403   403   403   403   403   403   403
core.readyz                        GET    /readyz                                             403   403   403   403   403   403   403   403   403   403   403   403   403
core.privacy                       GET    /privacy                                            200   200   200   200   200   200   200   200   200   200   200   200   200
catalog.home                       GET    /                                                   200   200   200   200   200   200   200   200   200   200   200   200   200
catalog.catalog                    GET    /courses                                            200   200   200   200   200   200   200   200   200   200   200   200   200
catalog.course                     GET    /courses/{published_code}                           200   200   200   200   200   200   200   200   200   200   200   200   200
catalog.course~draft               GET    /courses/{draft_b_code}                             404   404   404   404   404   404   404   404   404   404   404   404   404
catalog.cover                      GET    /courses/{draft}/cover.jpg                          404   404   404   200   404   200   404   404   404   404   200   404   404
catalog.cover~missing              GET    /courses/{published}/cover.jpg                      404   404   404   404   404   404   404   404   404   404   404   404   404
search.search_page                 GET    /search?q=安全                                      200   200   200   200   200   200   200   200   200   200   200   200   200
search_api.search                  GET    /api/v1/search?q=安全                               200   200   200   200   200   200   200   200   200   200   200   200   200
search.suggest                     GET    /search/suggest?q=wl                               200   200   200   200   200   200   200   200   200   200   200   200   200
search.search_terms                GET    /admin/search/terms                                 login 403   403   403   403   403   403   403   403   403   200   403   403
search.search_terms                POST   /admin/search/terms                                 login 403   403   403   403   403   403   403   403   403   400   403   403
search.delete_search_term          POST   /admin/search/terms/delete                          login 403   403   403   403   403   403   403   403   403   302!   403   403
certificates.jwks                  GET    /.well-known/jwks.json                              200   200   200   200   200   200   200   200   200   200   200   200   200
certificates.credential_status     GET    /credentials/{certificate}/status                   200   200   200   200   200   200   200   200   200   200   200   200   200
certificates.status_list_credential GET    /credentials/status/0                               200   200   200   200   200   200   200   200   200   200   200   200   200
certificates.verify                GET    /verify?no={certificate}                            200   200   200   200   200   200   200   200   200   200   200   200   200
certificates.verify_pdf            POST   /verify                                             200   200   200   200   200   200   200   200   200   200   200   200   200
# ---- accounts
accounts.login                     GET    /login                                              200   302   302   302   302   302   302   302   302   302   302   302   302
accounts.login                     POST   /login                                              200   302   302   302   302   302   302   302   302   302   302   302   302
accounts.register                  GET    /register                                           200   302   302   302   302   302   302   302   302   302   302   302   302
accounts.register                  POST   /register                                           200   302   302   302   302   302   302   302   302   302   302   302   302
accounts.logout                    POST   /logout                                             302   302   302   302   302   302   302   302   302   302   302   302   302
accounts.logout_everywhere         GET    /sessions/logout-all                                login 200   200   200   200   200   200   200   200   200   200   200   200
accounts.logout_everywhere         POST   /sessions/logout-all                                login 302   302   302   302   302   302   302   302   302   302   302   302
accounts.logout_device             POST   /sessions/{learner_login}/logout                    login 302   404   404   404   404   404   404   404   404   404   404   404
accounts.choose_language           GET    /language?locale=en                                 302   302   302   302   302   302   302   302   302   302   302   302   302
accounts.choose_language           POST   /language                                           302   302   302   302   302   302   302   302   302   302   302   302   302
accounts.profile                   GET    /profile                                            login 200   200   200   200   200   200   200   200   200   200   200   200
accounts.profile                   POST   /profile                                            login 200   200   200   200   200   200   200   200   200   200   200   200
accounts.title_level               POST   /profile/title-level                                login 303   303   303   303   303   303   303   303   303   303   303   303
accounts.forgot_password           GET    /password/forgot                                    200   200   200   200   200   200   200   200   200   200   200   200   200
accounts.forgot_password           POST   /password/forgot                                    302   302   302   302   302   302   302   302   302   302   302   302   302
accounts.reset_sent                GET    /password/sent                                      200   200   200   200   200   200   200   200   200   200   200   200   200
accounts.reset_with_code           GET    /password/code                                      200   200   200   200   200   200   200   200   200   200   200   200   200
accounts.reset_with_code           POST   /password/code                                      400   400   400   400   400   400   400   400   400   400   400   400   400
accounts.reset_with_link           GET    /password/reset                                     200   200   200   200   200   200   200   200   200   200   200   200   200
accounts.reset_with_link           POST   /password/reset                                     400   400   400   400   400   400   400   400   400   400   400   400   400
accounts.verify_contact            GET    /profile/verify                                     login 200   200   200   200   200   200   200   200   200   200   200   200
accounts.verify_contact            POST   /profile/verify                                     login 400   400   400   400   400   400   400   400   400   400   400   400
accounts.send_verification         POST   /profile/verify/send                                login 302!  302!  302!  302!  302!  302!  302!  302!  302!  302!   302!  302!
accounts.admin_recovery            GET    /accounts/{learner_user}/recovery                   login 403   403   403   403   403   403   403   403   403   200   403   403
accounts.admin_recovery            POST   /accounts/{learner_user}/recovery                   login 403   403   403   403   403   403   403   403   403   400   403   403
accounts.admin_recovery~missing    GET    /accounts/99999999/recovery                         login 403   403   403   403   403   403   403   403   403   404   403   403
accounts.admin_unlock              POST   /accounts/{learner_user}/unlock                     login 403   403   403   403   403   403   403   403   403   302   403   403
# ---- learning (pages)
learning.my_learning               GET    /my/learning                                        login 200   200   200   200   200   200   200   200   200   200   200   200
learning.enrol                     POST   /learn/{published_code}/enrol                       login 302   302   302   302   302   302   302   302   302   302   302   302
learning.enrol~draft               POST   /learn/{draft_b_code}/enrol                         login 404   404   404   404   404   404   404   404   404   404   404   404
learning.course_home               GET    /learn/{published_code}                             login 302   302   403   403   403   403   403   403   403   403   403   403
learning.player                    GET    /learn/{published_code}/{published_lesson}          login 200   200   403   403   403   403   403   403   403   403   403   403
learning.player~other-version      GET    /learn/{published_code}/{lesson}                    login 404   404   403   403   403   403   403   403   403   403   403   403
learning.exam                      GET    /learn/{published_code}/exam                        login 200   200   403   403   403   403   403   403   403   403   403   403
learning.start_exam                POST   /learn/{published_code}/exam                        login 302!  302!  403   403   403   403   403   403   403   403   403   403
learning.attempt                   GET    /learn/exam/{attempt}                               login 200   403   403   403   403   403   403   403   403   403   403   403
learning.submit_exam               POST   /learn/exam/{attempt}                               login 302   403   403   403   403   403   403   403   403   403   403   403
# ---- learning (the player's JSON API: cookie sign-in, CSRF in a header)
learning_api.start_session         POST   /api/v1/learning/sessions                           403   200   200   403   403   403   403   403   403   403   403   403   403
learning_api.heartbeat             POST   /api/v1/learning/heartbeat                          403   200   403   403   403   403   403   403   403   403   403   403   403
learning_api.attention             POST   /api/v1/learning/attention                          403   200   403   403   403   403   403   403   403   403   403   403   403
learning_api.progress              GET    /api/v1/learning/progress/{progress}                403   200   403   403   403   403   403   403   403   403   403   403   403
# ---- credits and certificates of the learner
credits.my_hours                   GET    /me/hours                                           login 200   200   200   200   200   200   200   200   200   200   200   200
credits.my_hours~year              GET    /me/hours/2026                                      login 200   200   200   200   200   200   200   200   200   200   200   200
certificates.my_certificates       GET    /me/certificates                                    login 200   200   200   200   200   200   200   200   200   200   200   200
certificates.issue_annual          POST   /me/certificates/annual/2026                        login 302   302!  302!  302!  302!  302!  302!  302!  302!  302!   302!  302!
certificates.download_pdf          GET    /certificates/{certificate}.pdf                     login 200   403   403   403   403   403   403   403   403   200   403   403
certificates.credential            GET    /credentials/{certificate}.jwt                      login 200   403   403   403   403   403   403   403   403   200   403   403
certificates.my_clr                GET    /me/credentials/clr.jwt                             login 200   400   400   400   400   400   400   400   400   400   400   400
# ---- 学时登记: the learner's claim (unit A, region 110000); reviewers of its unit and region, admins see it
claims.my_claims                   GET    /me/claims                                          login 200   200   200   200   200   200   200   200   200   200   200   200
claims.new_claim                   GET    /me/claims/new                                      login 200   200   200   200   200   200   200   200   200   200   200   200
claims.new_claim                   POST   /me/claims/new                                      login 400   400   400   400   400   400   400   400   400   400   400   400
claims.review_queue                GET    /claims/review                                      login 403   403   403   403   403   200   200   200   200   200   403   403
claims.claim                       GET    /claims/{claim}                                     login 200   404   404   404   404   200   404   200   404   200   404   404
claims.review                      POST   /claims/{claim}/review                              login 403   404   404   404   404   303   404   403   404   403   404   404
claims.evidence                    GET    /claims/{claim}/evidence/{claim_evidence}           login 200   404   404   404   404   200   404   200   404   200   404   404
claims.evidence~other-claim        GET    /claims/{claim_other}/evidence/{claim_evidence}     login 404   404   404   404   404   404   404   404   404   404   404   404
# ---- admin
certificates.admin_certificates    GET    /admin/certificates                                 login 403   403   403   403   403   403   403   403   403   200   403   403
certificates.admin_certificate     GET    /admin/certificates/{certificate}                   login 403   403   403   403   403   403   403   403   403   200   403   403
certificates.admin_certificate     POST   /admin/certificates/{certificate}                   login 403   403   403   403   403   403   403   403   403   302   403   403
credits.rule_sets                  GET    /admin/rules                                        login 403   403   403   403   403   403   403   403   403   200   403   403
credits.edit_rule_set              GET    /admin/rules/new                                    login 403   403   403   403   403   403   403   403   403   200   403   403
credits.edit_rule_set              POST   /admin/rules/new                                    login 403   403   403   403   403   403   403   403   403   400   403   403
credits.edit_rule_set~existing     GET    /admin/rules/{rule}                                 login 403   403   403   403   403   403   403   403   403   200   403   403
credits.edit_rule_set~existing     POST   /admin/rules/{rule}                                 login 403   403   403   403   403   403   403   403   403   400   403   403
# ---- publishing (organization A's courses; publisher-other-org is refused on the object)
publishing.my_courses              GET    /publish/                                           login 403   403   200   200   403   403   403   403   403   200   403   403
publishing.new_course              GET    /publish/courses/new                                login 403   403   200   200   403   403   403   403   403   200   403   403
publishing.new_course              POST   /publish/courses/new                                login 403   403   302   200!  403   403   403   403   403   302   403   403
publishing.edit_course             GET    /publish/courses/{draft}                            login 403   403   200   403   403   403   403   403   403   200   403   403
publishing.edit_course             POST   /publish/courses/{draft}                            login 403   403   302   403   403   403   403   403   403   302   403   403
publishing.add_chapter             POST   /publish/courses/{draft}/chapters                   login 403   403   302   403   403   403   403   403   403   302   403   403
publishing.rename_chapter          POST   /publish/chapters/{chapter}/rename                  login 403   403   302   403   403   403   403   403   403   302   403   403
publishing.delete_chapter          POST   /publish/chapters/{chapter}/delete                  login 403   403   302   403   403   403   403   403   403   302   403   403
publishing.add_lesson              POST   /publish/chapters/{chapter}/lessons                 login 403   403   302   403   403   403   403   403   403   302   403   403
publishing.edit_lesson             GET    /publish/lessons/{lesson}                           login 403   403   200   403   403   403   403   403   403   200   403   403
publishing.edit_lesson             POST   /publish/lessons/{lesson}                           login 403   403   302   403   403   403   403   403   403   302   403   403
publishing.edit_lesson~foreign-asset POST /publish/lessons/{lesson}                           login 403   403   200!  403   403   403   403   403   403   200!   403   403
publishing.delete_lesson           POST   /publish/lessons/{lesson}/delete                    login 403   403   302   403   403   403   403   403   403   302   403   403
publishing.move                    POST   /publish/courses/{draft}/move                       login 403   403   302   403   403   403   403   403   403   302   403   403
publishing.save_outline            POST   /publish/courses/{draft}/outline                    login 403   403   200   403   403   403   403   403   403   200   403   403
publishing.save_outline~foreign    POST   /publish/courses/{draft}/outline                    login 403   403   400   403   403   403   403   403   403   400   403   403
publishing.add_question            POST   /publish/courses/{draft}/questions                  login 403   403   302   403   403   403   403   403   403   302   403   403
publishing.delete_question         POST   /publish/questions/{question}/delete                login 403   403   302   403   403   403   403   403   403   302   403   403
publishing.submit                  POST   /publish/courses/{draft}/submit                     login 403   403   302   403   403   403   403   403   403   302   403   403
publishing.new_version             POST   /publish/courses/{published}/new-version            login 403   403   302   403   403   403   403   403   403   302   403   403
publishing.retire                  POST   /publish/courses/{published}/retire                 login 403   403   302   302!  302   403   403   403   403   302   403   403
publishing.export_course           GET    /publish/courses/{draft}/export                     login 403   403   200   403   403   403   403   403   403   200   403   403
publishing.import_package          GET    /publish/import                                     login 403   403   200   200   403   403   403   403   403   200   403   403
publishing.import_package          POST   /publish/import                                     login 403   403   400   400   403   403   403   403   403   400   403   403
publishing.upload_cover            POST   /publish/courses/{draft}/cover                      login 403   403   302   403   403   403   403   403   403   302   403   403
# ---- media library and media files
publishing.create_upload           POST   /publish/uploads                                    login 403   403   201   201   403   403   403   403   403   400   403   403
publishing.upload_state            GET    /publish/uploads/{upload}                           login 403   403   200   404   403   403   403   403   403   404   403   403
publishing.upload_part             PATCH  /publish/uploads/{upload}                           login 403   403   200   404   403   403   403   403   403   404   403   403
publishing.finish_upload           POST   /publish/uploads/{upload}/finish                    login 403   403   400   404   403   403   403   403   403   404   403   403
publishing.cancel_upload           DELETE /publish/uploads/{upload}                           login 403   403   204   404   403   403   403   403   403   404   403   403
publishing.media_library           GET    /publish/media                                      login 403   403   200   200   403   403   403   403   403   200   403   403
publishing.upload_media            POST   /publish/media                                      login 403   403   302!  302!  403   403   403   403   403   302!   403   403
publishing.media_status            GET    /publish/media/{asset_unpublished}/status           login 403   403   200   403   403   403   403   403   403   200   403   403
publishing.retry_media             POST   /publish/media/{asset_unpublished}/retry            login 403   403   302!  403   403   403   403   403   403   302!   403   403
publishing.upload_captions         POST   /publish/media/{asset_unpublished}/captions         login 403   403   302!  403   403   403   403   403   403   302!   403   403
media.asset_file                   GET    /media/{asset}/video                                login 200   200   200   200   200   200   200   200   200   200   200   200
media.asset_file~unpublished       GET    /media/{asset_draft}/video                          login 403   403   200   403   200   403   403   403   403   200   403   403
media.hls_file                     GET    /media/{asset}/hls/{hls_name}                       login 200   200   200   200   200   200   200   200   200   200   200   200
media.hls_file~unpublished         GET    /media/{asset_draft}/hls/{hls_name}                 login 403   403   200   403   200   403   403   403   403   200   403   403
# ---- review
publishing.review_queue            GET    /review/                                            login 403   403   403   403   200   403   403   403   403   200   403   403
publishing.review_course           GET    /review/courses/{in_review}                         login 403   403   403   403   200   403   403   403   403   200   403   403
publishing.approve                 POST   /review/courses/{in_review}/approve                 login 403   403   403   403   302   403   403   403   403   302   403   403
publishing.reject                  POST   /review/courses/{in_review}/reject                  login 403   403   403   403   302   403   403   403   403   302   403   403
# ---- units and regions, exports
units.unit_dashboard               GET    /unit                                               login 403   403   403   403   403   200   200   403   403   200   403   403
units.unit_dashboard~unit-a        GET    /unit?unit={unit_a}                                 login 403   403   403   403   403   200   403   403   403   200   403   403
units.approve                      POST   /unit/{unit_a}/learners/{pending_a}/approve         login 403   403   403   403   403   303   403   403   403   303   403   403
units.approve~other-unit-learner   POST   /unit/{unit_a}/learners/{pending_b}/approve         login 403   403   403   403   403   404   403   403   403   404   403   403
units.reject                       POST   /unit/{unit_a}/learners/{pending_a}/reject          login 403   403   403   403   403   303   403   403   403   303   403   403
units.set_department               POST   /unit/{unit_a}/department                           login 403   403   403   403   403   303   403   403   403   303   403   403
units.set_department~unknown       POST   /unit/{unit_a}/department                           login 403   403   403   403   403   400   403   403   403   400   403   403
units.set_department~other-unit    POST   /unit/{unit_b}/department                           login 403   403   403   403   403   403   303   403   403   303   403   403
units.region_dashboard             GET    /region                                             login 403   403   403   403   403   403   403   200   200   200   403   403
units.region_dashboard~region      GET    /region?region=110000                               login 403   403   403   403   403   403   403   200   403   200   403   403
exports.list_exports               GET    /exports                                            login 200   200   200   200   200   200   200   200   200   200   200   200
exports.new_export                 GET    /exports/new                                        login 403   403   403   403   403   200   200   200   200   200   403   403
exports.new_export                 POST   /exports/new                                        login 403   403   403   403   403   200   200   200   200   200   403   403
exports.new_export~other-unit      POST   /exports/new?unit={unit_b}                          login 403   403   403   403   403   403   200   empty 200   200   403   403
exports.job_page                   GET    /exports/{job}                                      login 403   403   403   403   403   200   403   403   403   403   403   403
exports.job_status                 GET    /exports/{job}/status                               login 403   403   403   403   403   200   403   403   403   403   403   403
exports.download                   GET    /exports/{job}/download?token={job_token}           login 403   403   403   403   403   200   403   403   403   403   403   403
exports.download~wrong-token       GET    /exports/{job}/download?token=not-the-token         login 403   403   403   403   403   403   403   403   403   403   403   403
# ---- API clients (issued by HR auditors and admins)
api.clients                        GET    /api-clients                                        login 403   403   403   403   403   403   403   200   200   200   403   403
api.issue                          POST   /api-clients                                        login 403   403   403   403   403   403   403   303   400   303   403   403
api.issue~other-region-unit        POST   /api-clients                                        login 403   403   403   403   403   403   403   403   303   303   403   403
api.rotate                         POST   /api-clients/{api_client}/rotate                    login 403   403   403   403   403   403   403   303   404   303   403   403
api.revoke                         POST   /api-clients/{api_client}/revoke                    login 403   403   403   403   403   403   403   302   404   302   403   403
# ---- notices (the Beijing auditor's notice; the other region's auditor is refused on the object)
notices.notice_list                GET    /notices                                            200   200   200   200   200   200   200   200   200   200   200   200   200
notices.notice                     GET    /notices/{notice}                                   200   200   200   200   200   200   200   200   200   200   200   200   200
notices.notice~withdrawn           GET    /notices/{notice_withdrawn}                         404   404   404   404   404   404   404   404   200   404   200   404   404
notices.read_all                   POST   /notices/read-all                                   login 302   302   302   302   302   302   302   302   302   302   302   302
notices.manage                     GET    /notices/manage                                     login 403   403   403   403   403   403   403   200   200   200   403   403
notices.new_notice                 GET    /notices/new                                        login 403   403   403   403   403   403   403   200   200   200   403   403
notices.new_notice                 POST   /notices/new                                        login 403   403   403   403   403   403   403   303   403   303   403   403
notices.edit_notice                GET    /notices/{notice}/edit                              login 403   403   403   403   403   403   403   200   403   200   403   403
notices.edit_notice                POST   /notices/{notice}/edit                              login 403   403   403   403   403   403   403   303   403   303   403   403
notices.withdraw                   POST   /notices/{notice}/withdraw                          login 403   403   403   403   403   403   403   302   403   302   403   403
# ---- the admin console
admin.people                       GET    /admin/people?q=学员                                login 403   403   403   403   403   403   403   403   403   200   403   403
admin.person                       GET    /admin/people/{learner}                             login 403   403   403   403   403   403   403   403   403   200   403   403
admin.grant_role                   POST   /admin/people/{learner}/roles                       login 403   403   403   403   403   403   403   403   403   303   403   403
admin.grant_role~no-region         POST   /admin/people/{learner}/roles                       login 403   403   403   403   403   403   403   403   403   400   403   403
admin.revoke_role                  POST   /admin/people/{reviewer}/roles/{reviewer_grant}/revoke login 403 403 403   403   403   403   403   403   403   303   403   403
admin.revoke_role~other-person     POST   /admin/people/{learner}/roles/{reviewer_grant}/revoke login 403 403 403   403   403   403   403   403   403   404   403   403
admin.disable                      POST   /admin/people/{learner}/disable                     login 403   403   403   403   403   403   403   403   403   303   403   403
admin.disable~self                 POST   /admin/people/{admin}/disable                       login 403   403   403   403   403   403   403   403   403   409   403   403
admin.enable                       POST   /admin/people/{disabled}/enable                     login 403   403   403   403   403   403   403   403   403   303   403   403
admin.reset_exam                   POST   /admin/people/{learner}/exams/{enrollment}/reset    login 403   403   403   403   403   403   403   403   403   409   403   403
admin.audit_log                    GET    /admin/audit?action=role.granted                    login 403   403   403   403   403   403   403   403   403   200   403   403
admin.export_audit                 GET    /admin/audit/export?format=csv                      login 403   403   403   403   403   403   403   403   403   200   403   403
admin.grant_role~programme-office  POST   /admin/people/{learner}/roles                       login 403   403   403   403   403   403   403   403   403   303   403   403
# ---- the programme office (national: po; Beijing: po2)
programme.dashboard                GET    /programme/                                         login 403   403   403   403   403   403   403   403   403   200   200   200
programme.dashboard~national       GET    /programme/?scope=national&year=2022                login 403   403   403   403   403   403   403   403   403   200   200   403
programme.dashboard~own-region     GET    /programme/?scope=110000                            login 403   403   403   403   403   403   403   403   403   200   403   200
programme.dashboard~other-region   GET    /programme/?scope=440000                            login 403   403   403   403   403   403   403   403   403   200   403   403
programme.dashboard~bad-year       GET    /programme/?year=abc                                login 403   403   403   403   403   403   403   403   403   400   400   400
programme.cell                     GET    /programme/cell?department=教育部&domain=digital       login 403   403   403   403   403   403   403   403   403   200   200   200
programme.cell~other-region        GET    /programme/cell?scope=440000&department=教育部         login 403   403   403   403   403   403   403   403   403   200   403   403
programme.cell~bad-domain          GET    /programme/cell?domain=nonsense                     login 403   403   403   403   403   403   403   403   403   404   404   404
programme.export                   GET    /programme/export.xlsx?year=2022                    login 403   403   403   403   403   403   403   403   403   200   200   200
programme.export~national          GET    /programme/export.xlsx?scope=national               login 403   403   403   403   403   403   403   403   403   200   200   403
programme.plans                    GET    /programme/plans                                    login 403   403   403   403   403   403   403   403   403   200   200   200
programme.import_plan              POST   /programme/plans                                    login 403   403   403   403   403   403   403   403   403   303   403   303
programme.import_plan~national     POST   /programme/plans                                    login 403   403   403   403   403   403   403   403   403   303   303   403
programme.import_plan~broken       POST   /programme/plans                                    login 403   403   403   403   403   403   403   403   403   400   400   403
# ---- the courseware federation (the feed is public; package archives need a subscriber's token)
federation.feed                    GET    /federation/courses?limit=10                        200   200   200   200   200   200   200   200   200   200   200   200   200
federation.feed~bad-since          GET    /federation/courses?updated_since=yesterday         400   400   400   400   400   400   400   400   400   400   400   400   400
federation.archive                 GET    /federation/courses/GX-DT-002/1/package.zip         401   401   401   401   401   401   401   401   401   401   401   401   401
federation.archive~token           GET    /federation/courses/GX-DT-002/1/package.zip         200   200   200   200   200   200   200   200   200   200   200   200   200
federation.archive~not-shared      GET    /federation/courses/GX-NS-001/1/package.zip         404   404   404   404   404   404   404   404   404   404   404   404   404
federation.overview                GET    /admin/federation                                   login 403   403   403   403   403   403   403   403   403   200   403   403
federation.share                   POST   /admin/federation/shares                            login 403   403   403   403   403   403   403   403   403   303   403   403
federation.share~empty             POST   /admin/federation/shares                            login 403   403   403   403   403   403   403   403   403   400   403   403
federation.unshare                 POST   /admin/federation/shares/{share}/delete             login 403   403   403   403   403   403   403   403   403   302   403   403
federation.issue_token             POST   /admin/federation/tokens                            login 403   403   403   403   403   403   403   403   403   200   403   403
federation.issue_token~empty       POST   /admin/federation/tokens                            login 403   403   403   403   403   403   403   403   403   400   403   403
federation.revoke_token            POST   /admin/federation/tokens/{federation_token}/revoke  login 403   403   403   403   403   403   403   403   403   302   403   403
federation.subscribe               GET    /admin/federation/subscribe                         login 403   403   403   403   403   403   403   403   403   200   403   403
federation.subscribe               POST   /admin/federation/subscribe                         login 403   403   403   403   403   403   403   403   403   400   403   403
federation.subscription            GET    /admin/federation/subscriptions/{feed_sub}          login 403   403   403   403   403   403   403   403   403   200   403   403
federation.subscription~missing    GET    /admin/federation/subscriptions/999999              login 403   403   403   403   403   403   403   403   403   404   403   403
federation.pull                    POST   /admin/federation/subscriptions/{feed_sub}/pull     login 403   403   403   403   403   403   403   403   403   302   403   403
federation.replace_token           POST   /admin/federation/subscriptions/{feed_sub}/token    login 403   403   403   403   403   403   403   403   403   303   403   403
federation.replace_token~empty     POST   /admin/federation/subscriptions/{feed_sub}/token    login 403   403   403   403   403   403   403   403   403   400   403   403
federation.unsubscribe             POST   /admin/federation/subscriptions/{feed_sub}/unsubscribe login 403 403 403   403   403   403   403   403   403   302   403   403
# ---- credit portability: the trust list (admins), a learner's transfers and consent links (their own only)
federation.issuers                 GET    /admin/federation/issuers                           login 403   403   403   403   403   403   403   403   403   200   403   403
federation.add_issuer              POST   /admin/federation/issuers                           login 403   403   403   403   403   403   403   403   403   400   403   403
federation.remove_issuer           POST   /admin/federation/issuers/{trusted_issuer}/remove   login 403   403   403   403   403   403   403   403   403   302   403   403
federation.refresh_issuer          POST   /admin/federation/issuers/{trusted_issuer}/refresh  login 403   403   403   403   403   403   403   403   403   302!  403   403
federation.my_transfers            GET    /me/transfers                                       login 200   200   200   200   200   200   200   200   200   200   200   200
federation.present                 POST   /me/transfers                                       login 400   400   400   400   400   400   400   400   400   400   400   400
federation.consent_links           GET    /me/consent-links                                   login 200   200   200   200   200   200   200   200   200   200   200   200
federation.create_consent          POST   /me/certificates/{certificate}/consent              login 200   303!  303!  303!  303!  303!  303!  303!  303!  303!  303!  303!
federation.revoke_consent          POST   /me/consent-links/{consent_link}/revoke             login 302   302!  302!  302!  302!  302!  302!  302!  302!  302!  302!  302!
federation.consented_credential    GET    /credentials/shared/{consent_token}                 200   200   200   200   200   200   200   200   200   200   200   200   200
federation.consented_credential~bad GET   /credentials/shared/gxc_not-a-link                  404   404   404   404   404   404   404   404   404   404   404   404   404
"""

# The continuing-education bases and the institution directories (issue 17 items 2 and 3), with the
# roles they concern: anonymous, learner,
# inspector, base-admin (the Beijing provincial base {base_bj}, which has an evaluation and its PDF
# {base_attachment}), base-admin-other (the Guangdong provincial base {base_gd}), admin, the national
# office (po) and the Beijing office (po2; the national base {base_nat} is in Beijing but not its to manage).
BASE_COLUMNS = "anon lrn insp base base2 admin po po2"
BASES = """
endpoint                           method path                                                anon  lrn   insp  base  base2 admin po    po2
programme.bases                    GET    /programme/bases                                    200   200   200   200   200   200   200   200
programme.bases~search             GET    /programme/bases?q=基地&level=provincial&status=recognised 200 200 200 200 200 200  200   200
programme.base_history             GET    /programme/bases/{base_bj}                          200   200   200   200   200   200   200   200
programme.base_history~missing     GET    /programme/bases/99999999                           404   404   404   404   404   404   404   404
programme.manage_bases             GET    /programme/bases/manage                             login 403   403   200   200   200   200   200
programme.manage_bases~bad-year    GET    /programme/bases/manage?year=abc                    login 403   403   400   400   400   400   400
programme.register_base            POST   /programme/bases/manage                             login 403   403   403   403   303   303   303
programme.register_base~national   POST   /programme/bases/manage                             login 403   403   403   403   303   303   403
programme.register_base~bad-date   POST   /programme/bases/manage                             login 403   403   403   403   400   400   400
programme.manage_base              GET    /programme/bases/{base_bj}/manage                   login 403   403   200   403   200   200   200
programme.manage_base~national     GET    /programme/bases/{base_nat}/manage                  login 403   403   403   403   200   200   403
programme.manage_base~other-region GET    /programme/bases/{base_gd}/manage                   login 403   403   403   200   200   200   403
programme.manage_base~missing      GET    /programme/bases/99999999/manage                    login 403   403   404   404   404   404   404
programme.add_evaluation           POST   /programme/bases/{base_bj}/evaluations              login 403   403   403   403   303   303   303
programme.add_evaluation~other-region POST /programme/bases/{base_gd}/evaluations             login 403   403   403   403   303   303   403
programme.add_evaluation~svg       POST   /programme/bases/{base_bj}/evaluations              login 403   403   403   403   400   400   400
programme.change_base_status       POST   /programme/bases/{base_bj}/status                   login 403   403   403   403   303   303   303
programme.withdraw_base            POST   /programme/bases/{base_bj}/withdraw                 login 403   403   403   403   303   303   303
programme.withdraw_base~national   POST   /programme/bases/{base_nat}/withdraw                login 403   403   403   403   303   303   403
programme.base_attachment          GET    /programme/bases/attachments/{base_attachment}      login 403   403   200   403   200   200   200
programme.base_attachment~missing  GET    /programme/bases/attachments/99999999               login 403   403   404   404   404   404   404
# ---- the institution directories (北京 {inst_bj} and a suspended {inst_suspended}; 广东 {inst_gd})
programme.institutions             GET    /programme/institutions?q=培训&field=big_data&kind=training 200 200 200 200 200 200  200   200
programme.institutions~code        GET    /programme/institutions?q={inst_bad_check}          200   200   200   200   200   200   200   200
programme.institution              GET    /programme/institutions/{inst_bj}                   200   200   200   200   200   200   200   200
programme.institution~bad-check    GET    /programme/institutions/{inst_bad_check}            400   400   400   400   400   400   400   400
programme.institution~missing      GET    /programme/institutions/{inst_missing}              404   404   404   404   404   404   404   404
programme.manage_institutions      GET    /programme/institutions/manage                      login 403   403   403   403   200   200   200
programme.list_institution         POST   /programme/institutions/manage                      login 403   403   403   403   303   303   303
programme.list_institution~other-region POST /programme/institutions/manage                   login 403   403   403   403   303   303   403
programme.list_institution~bad     POST   /programme/institutions/manage                      login 403   403   403   403   400   400   400
programme.suspend_institution      POST   /programme/institutions/{inst_bj}/suspend           login 403   403   403   403   303   303   303
programme.suspend_institution~other-region POST /programme/institutions/{inst_gd}/suspend     login 403   403   403   403   303   303   403
programme.suspend_institution~bad-check POST /programme/institutions/{inst_bad_check}/suspend login 403   403   403   403   400   400   400
programme.restore_institution      POST   /programme/institutions/{inst_suspended}/restore    login 403   403   403   403   303   303   303
programme.restore_institution~active POST /programme/institutions/{inst_bj}/restore           login 403   403   403   403   409   409   409
# ---- seminars and classes (issue 18 items 1-2): {class_open} takes applications (the other learner's
# {class_waiting}); {class_selected} accepted the learner and has a session {class_session}; the 北京 base hosts both
classes.programmes                 GET    /classes                                            200   200   200   200   200   200   200   200
classes.programme                  GET    /classes/{class_open}                               200   200   200   200   200   200   200   200
classes.programme~missing          GET    /classes/99999999                                   404   404   404   404   404   404   404   404
classes.apply                      POST   /classes/{class_open}/apply                         login 303   403   403   403   403   403   403
classes.apply~selected             POST   /classes/{class_selected}/apply                     login 409   409   409   409   409   409   409
classes.my_classes                 GET    /me/classes                                         login 200   200   200   200   200   200   200
classes.manage                     GET    /classes/manage                                     login 403   403   200   200   403   403   403
classes.manage                     POST   /classes/manage                                     login 403   403   303   400   403   403   403
classes.manage_programme           GET    /classes/{class_selected}/manage                    login 403   403   200   403   403   403   403
classes.manage_programme~missing   GET    /classes/99999999/manage                            login 404   404   404   404   404   404   404
classes.add_session                POST   /classes/{class_selected}/sessions                  login 403   403   303   403   403   403   403
classes.select                     POST   /classes/{class_open}/select                        login 403   403   303   403   403   403   403
classes.screen                     GET    /classes/sessions/{class_session}/screen            login 403   403   200   403   403   403   403
classes.screen_code                GET    /classes/sessions/{class_session}/code              login 403   403   200   403   403   403   403
classes.record_by_hand             POST   /classes/sessions/{class_session}/attendance        login 403   403   303   403   403   403   403
classes.attend                     GET    /classes/sessions/{class_session}/attend?t=forged   login 400   400   400   400   400   400   400
classes.attend_post                POST   /classes/sessions/{class_session}/attend            login 400   400   400   400   400   400   400
# ---- random inspections: a drawn national plan {insp_drawn} (the inspector's task {insp_task}, another
# inspector's {insp_task_other}), a frozen national plan {insp_frozen}, drafts: 北京 {insp_bj}, national {insp_draft}
programme.inspections              GET    /programme/inspections                              200   200   200   200   200   200   200   200
programme.inspection               GET    /programme/inspections/{insp_drawn}                 200   200   200   200   200   200   200   200
programme.inspection~draft         GET    /programme/inspections/{insp_bj}                    404   404   404   404   404   404   404   404
programme.inspection_document      GET    /programme/inspections/{insp_drawn}/draw.json       200   200   200   200   200   200   200   200
programme.inspection_document~draft GET   /programme/inspections/{insp_draft}/draw.json       404   404   404   404   404   404   404   404
programme.manage_inspections       GET    /programme/inspections/manage                       login 403   403   403   403   200   200   200
programme.create_inspection        POST   /programme/inspections/manage                       login 403   403   403   403   303   303   400
programme.create_inspection~region POST   /programme/inspections/manage                       login 403   403   403   403   303   400   303
programme.create_inspection~bad    POST   /programme/inspections/manage                       login 403   403   403   403   400   400   400
programme.manage_inspection        GET    /programme/inspections/{insp_bj}/manage             login 403   403   403   403   200   200   200
programme.manage_inspection~national GET  /programme/inspections/{insp_drawn}/manage          login 403   403   403   403   200   200   403
programme.manage_inspection~missing GET   /programme/inspections/99999999/manage              login 403   403   403   403   404   404   404
programme.freeze_inspection        POST   /programme/inspections/{insp_bj}/freeze             login 403   403   403   403   302   302   302
programme.freeze_inspection~national POST /programme/inspections/{insp_draft}/freeze          login 403   403   403   403   302   302   403
programme.freeze_inspection~drawn  POST   /programme/inspections/{insp_drawn}/freeze          login 403   403   403   403   302!  302!  403
programme.draw_inspection          POST   /programme/inspections/{insp_frozen}/draw           login 403   403   403   403   303   303   403
programme.draw_inspection~bad-seed POST   /programme/inspections/{insp_frozen}/draw           login 403   403   403   403   400   400   403
programme.close_inspection         POST   /programme/inspections/{insp_drawn}/close           login 403   403   403   403   302!  302!  403
programme.cancel_inspection        POST   /programme/inspections/{insp_bj}/cancel             login 403   403   403   403   303   303   303
programme.cancel_inspection~national POST /programme/inspections/{insp_drawn}/cancel          login 403   403   403   403   303   303   403
programme.cancel_inspection~no-reason POST /programme/inspections/{insp_frozen}/cancel        login 403   403   403   403   400   400   403
programme.inspection_not_inspected POST   /programme/inspections/{insp_drawn}/assignments/{insp_task}/not-inspected login 403 403 403 403 409 409 403
programme.inspection_tasks         GET    /programme/inspections/tasks                        login 403   200   403   403   403   403   403
programme.inspection_task          GET    /programme/inspections/tasks/{insp_task}            login 403   200   403   403   403   403   403
programme.inspection_task~other    GET    /programme/inspections/tasks/{insp_task_other}      login 403   403   403   403   403   403   403
programme.inspection_task~missing  GET    /programme/inspections/tasks/99999999               login 403   404   403   403   403   403   403
programme.record_finding           POST   /programme/inspections/tasks/{insp_task}            login 403   303   403   403   403   403   403
programme.record_finding~other     POST   /programme/inspections/tasks/{insp_task_other}      login 403   403   403   403   403   403   403
programme.record_finding~bad       POST   /programme/inspections/tasks/{insp_task}            login 403   400   403   403   403   403   403
"""

API_COLUMNS = "none cookie unit region region2 full revoked expired"
HR_API = """
endpoint                           method path                                                none  cookie unit  region region2 full revoked expired
api_v1.openapi                     GET    /api/v1/openapi.json                                200   200    200   200    200     200  200     200
api_v1.credit_records              GET    /api/v1/credit-records                              401   401    200   200    200     200  401     401
api_v1.credit_records~region       GET    /api/v1/credit-records?region=110000                401   401    200   200    403     200  401     401
api_v1.credit_records~unit         GET    /api/v1/credit-records?unit={unit_a}                401   401    200   200    empty   200  401     401
api_v1.export_credit_records       GET    /api/v1/credit-records/export?year=2026             401   401    200   200    200     200  401     401
api_v1.export_credit_records~unit  GET    /api/v1/credit-records/export?year=2026&unit={unit_b} 401 401    403   empty  200     empty 401     401
api_v1.credential                  GET    /api/v1/credentials/{certificate}                   401   401    403   403    403     200  401     401
api_v1.credential~other-region     GET    /api/v1/credentials/{certificate_b}                 401   401    403   403    403     404  401     401
api_v1.webhooks                    GET    /api/v1/webhooks                                    401   401    200   200    200     200  401     401
api_v1.create_webhook              POST   /api/v1/webhooks                                    401   401    201   201    201     201  401     401
api_v1.webhook                     GET    /api/v1/webhooks/{webhook}                          401   401    404   200    404     404  401     401
api_v1.delete_webhook              DELETE /api/v1/webhooks/{webhook}                          401   401    404   204    404     404  401     401
"""

BASE_EVALUATION = {"eval-year": "2025", "eval-score": "90", "eval-result": "excellent", "eval-evaluator": "授权矩阵专家组",
                   "eval-evaluated_on": "2025-12-01"}
PLAN = REFERENCE_PLAN.read_bytes()
BROKEN_PLAN = PLAN.replace(b"4.5,0.1,0.3,0.1,1.0", b"4.5,0.1,0.3,0.6,1.0")

# What a case sends besides the role's sign-in, by row name (see ``Row.name``). Values may be
# callables of the world's ids. ``to``: where an allowed redirect must lead.
REQUESTS = {
    "certificates.verify_pdf": dict(form=lambda w: {"no": w.ids["certificate"]},
                                    files=lambda w: {"pdf": (w.files["pdf"], "cert.pdf")}),
    "accounts.login:POST": dict(form={"login": "13650009999", "password": "wrong-password"}, to="/"),
    "accounts.register:POST": dict(form={}, to="/"),
    "accounts.logout": dict(to="/"),
    "accounts.logout_everywhere:POST": dict(to="/login"),
    "accounts.logout_device": dict(to="/"),
    "accounts.profile:POST": dict(form={}),
    "accounts.title_level": dict(form={"title_level": "senior"}, to="/profile"),
    "accounts.forgot_password:POST": dict(form={"login": "13650009999", "channel": "sms"}, to="/password/code"),
    "accounts.reset_with_code:POST": dict(form={}),
    "accounts.reset_with_link:POST": dict(form={}),
    "accounts.verify_contact:POST": dict(form={}),
    "accounts.send_verification": dict(form={}, to="/profile/verify"),
    "accounts.admin_recovery:POST": dict(form={}),
    "accounts.admin_unlock": dict(to="/accounts/"),
    "accounts.choose_language:GET": dict(to="/"),
    "accounts.choose_language:POST": dict(form={"locale": "en", "next": "/me/hours"}, to="/me/hours"),
    "learning.enrol": dict(to="/learn/GX-NS-001"),
    "learning.course_home": dict(to="/learn/GX-NS-001/"),
    "learning.start_exam": dict(to="/learn/GX-NS-001/exam"),
    "learning.submit_exam": dict(to="/learn/exam/"),
    "learning_api.start_session": dict(json=lambda w: {"lesson_id": w.ids["published_lesson"]}),
    "learning_api.heartbeat": dict(json=lambda w: {"session_id": w.ids["play_session"], "seq": 1, "position": 1,
                                                   "segments": [[0, 1]], "rate": 1, "visible": True}),
    "learning_api.attention": dict(json=lambda w: {"session_id": w.ids["play_session"]}),
    "certificates.issue_annual": dict(to="/me/"),
    "certificates.admin_certificate:POST": dict(form={"action": "revoke", "reason": "测试撤销：重复颁发"},
                                                to="/admin/certificates/"),
    "credits.edit_rule_set:POST": dict(form={}),
    "claims.new_claim:POST": dict(form={}),
    "classes.apply": dict(form={"statement": "授权矩阵：我希望参加这次研修。", "groups": "border"}, to="/me/classes"),
    "classes.apply~selected": dict(form={"statement": "授权矩阵：我希望参加这次研修。"}),
    "classes.manage:POST": dict(form=lambda w: {
        "organization_id": w.ids["class_org"], "kind": "class", "title": "授权矩阵新建的面授班", "domain": "应急管理",
        "place": "北京", "starts_on": "2026-07-01", "ends_on": "2026-07-02", "category": "public", "quota": "30",
        "min_title_level": "", "required_percent": "80", "description": "授权矩阵：新建项目。"}, to="/classes/"),
    "classes.add_session": dict(form={"title": "第二讲", "day": "2026-06-11", "starts": "14:00", "ends": "17:00",
                                      "hours": "3"}, to="/classes/"),
    "classes.select": dict(form=lambda w: {"applications": w.ids["class_waiting"]}, to="/classes/"),
    "classes.record_by_hand": dict(form=lambda w: {"learner": w.ids["class_learner"], "reason": "授权矩阵：手机没电"},
                                   to="/classes/sessions/"),
    "classes.attend_post": dict(form={"token": "forged"}),
    "claims.review": dict(form={"decision": "reject", "reason": "授权矩阵：不予认定"}, to="/claims/"),
    "search.search_terms:POST": dict(form={}),
    "search.delete_search_term": dict(form={}),
    "credits.edit_rule_set~existing:POST": dict(form={}),
    "publishing.new_course:POST": dict(form=lambda w: {
        "code": "GX-AZ-777", "organization_id": w.ids["org_a"], "title": "授权矩阵测试课程", "subject_id": w.ids["subject"],
        "category": "public", "summary": "测试。", "syllabus": "一、测试", "tags": "测试", "credit_hours": "",
        "has_exam": "y", "pass_score": "60"}, to="/publish/courses/"),
    "publishing.edit_course:POST": dict(form=lambda w: {
        "title": "改过的标题", "subject_id": w.ids["subject"], "category": "public", "summary": "改过。",
        "syllabus": "一、改过", "tags": "改过", "credit_hours": "", "has_exam": "y", "pass_score": "60"},
        to="/publish/courses/"),
    "publishing.add_chapter": dict(form={"title": "新增章节"}, to="/publish/courses/"),
    "publishing.rename_chapter": dict(form={"title": "改名章节"}, to="/publish/courses/"),
    "publishing.delete_chapter": dict(to="/publish/courses/"),
    "publishing.add_lesson": dict(form={"title": "新增课时", "kind": "reading", "body": "正文"}, to="/publish/courses/"),
    "publishing.edit_lesson:POST": dict(form={"title": "改过的课时", "kind": "reading", "body": "改过的正文",
                                              "media_asset_id": "0"}, to="/publish/courses/"),
    "publishing.edit_lesson~foreign-asset:POST": dict(form=lambda w: {
        "title": "改过的课时", "kind": "video", "body": "", "media_asset_id": w.ids["asset_other_org"]}),
    "publishing.save_outline~foreign": dict(json=lambda w: {"outline": w.ids["foreign_outline"]}),
    "publishing.delete_lesson": dict(to="/publish/courses/"),
    "publishing.move": dict(form=lambda w: {"kind": "chapter", "direction": "down", "id": w.ids["chapter"]},
                            to="/publish/courses/"),
    "publishing.save_outline": dict(json=lambda w: {"outline": w.ids["outline"]}),
    "publishing.add_question": dict(form={"kind": "truefalse", "text": "网络安全人人有责。", "answer": "true",
                                          "explanation": ""}, to="/publish/courses/"),
    "publishing.delete_question": dict(to="/publish/courses/"),
    "publishing.create_upload": dict(json={"kind": "media", "filename": "讲座.mp4", "size": 2048}),
    "publishing.upload_part": dict(raw=b"\0" * 2048, headers={"Content-Type": "application/offset+octet-stream",
                                                               "Upload-Offset": "0"}),
    "publishing.finish_upload": dict(json={}),
    "publishing.cancel_upload": dict(json={}),
    "publishing.submit": dict(to="/publish/courses/"),
    "publishing.new_version": dict(to="/publish/courses/"),
    "publishing.retire": dict(form={"reason": "测试下线"}),
    "publishing.import_package:POST": dict(form={}),
    "publishing.upload_cover": dict(files=lambda w: {"file": (w.files["jpeg"], "cover.jpg")}, to="/publish/courses/"),
    "publishing.upload_media": dict(to="/publish/media"),
    "publishing.retry_media": dict(to="/publish/media"),
    "publishing.upload_captions": dict(to="/publish/media"),
    "publishing.approve": dict(to="/review/"),
    "publishing.reject": dict(form={"reason": "内容需要修改完善后再提交"}, to="/review/"),
    "units.approve": dict(to="/unit"),
    "units.reject": dict(form={"reason": "不是本单位职工"}, to="/unit"),
    "exports.new_export:POST": dict(form={"year": "2026", "format": "csv"}),
    "exports.new_export~other-unit:POST": dict(form=lambda w: {"year": "2026", "format": "csv", "unit": w.ids["unit_b"]}),
    "api.issue": dict(form={"name": "新的人事系统", "scope_kind": "region", "region": "110000"}),
    "api.issue~other-region-unit": dict(form=lambda w: {"name": "乙单位系统", "scope_kind": "unit", "unit": w.ids["unit_b"]}),
    "api.rotate": dict(form={"grace_hours": "0"}),
    "api.revoke": dict(to="/api-clients"),
    "api_v1.create_webhook": dict(json={"url": "http://127.0.0.1:9/another"}),
    "notices.read_all": dict(to="/notices"),
    "notices.new_notice:POST": dict(form={"title": "北京地区的新通知", "body": "请于年底前完成学习。", "region_code": "110000"},
                                    to="/notices/"),
    "notices.edit_notice:POST": dict(form={"title": "改过的通知", "body": "改过的正文。", "region_code": "110000"},
                                     to="/notices/"),
    "notices.withdraw": dict(to="/notices/manage"),
    "admin.grant_role": dict(form={"grant-role": "reviewer", "grant-reason": "授权矩阵：担任审核"}, to="/admin/people/"),
    "admin.grant_role~no-region": dict(form={"grant-role": "hr_auditor", "grant-reason": "授权矩阵：没有地区"}),
    "admin.grant_role~programme-office": dict(form={"grant-role": "programme_office", "grant-region_code": "",
                                                    "grant-reason": "授权矩阵：全国项目办"}, to="/admin/people/"),
    "units.set_department": dict(form={"dept-department": "教育部"}, to="/unit"),
    "units.set_department~unknown": dict(form={"dept-department": "不存在的部门"}),
    "units.set_department~other-unit": dict(form={"dept-department": "其他"}, to="/unit"),
    "programme.import_plan": dict(form={"year": "2023", "scope": "110000"}, files=lambda w: {"file": (PLAN, "plan.csv")},
                                  to="/programme/"),
    "programme.import_plan~national": dict(form={"year": "2023", "scope": "national"},
                                           files=lambda w: {"file": (PLAN, "plan.csv")}, to="/programme/"),
    "programme.import_plan~broken": dict(form={"year": "2023", "scope": "national"},
                                         files=lambda w: {"file": (BROKEN_PLAN, "plan.csv")}),
    "programme.register_base": dict(form={"base-organization_name": "授权矩阵新基地", "base-level": "provincial",
                                          "base-region_code": "110000", "base-recognised_on": "2023-05-01",
                                          "base-document_number": "京人社〔2023〕9号"}, to="/programme/bases/"),
    "programme.register_base~national": dict(form={"base-organization_name": "授权矩阵国家级基地", "base-level": "national",
                                                   "base-region_code": "110000", "base-recognised_on": "2023-05-01",
                                                   "base-document_number": "人社部函〔2023〕9号"}, to="/programme/bases/"),
    "programme.register_base~bad-date": dict(form={"base-organization_name": "授权矩阵新基地", "base-level": "provincial",
                                                   "base-region_code": "110000", "base-recognised_on": "2023-02-30",
                                                   "base-document_number": "京人社〔2023〕9号"}),
    "programme.add_evaluation": dict(form=lambda w: BASE_EVALUATION, files=lambda w: {
        "eval-attachments": (BASE_PDF, "评估报告.pdf")}, to="/programme/bases/"),
    "programme.add_evaluation~other-region": dict(form=lambda w: BASE_EVALUATION, to="/programme/bases/"),
    "programme.add_evaluation~svg": dict(form=lambda w: BASE_EVALUATION, files=lambda w: {
        "eval-attachments": (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "a.png")}),
    "programme.change_base_status": dict(form={"status-status": "under_evaluation", "status-on": "2025-01-10"},
                                         to="/programme/bases/"),
    "programme.withdraw_base": dict(form={"withdraw-on": "2025-02-01", "withdraw-reason": "授权矩阵：撤销认定"},
                                    to="/programme/bases/"),
    "programme.withdraw_base~national": dict(form={"withdraw-on": "2025-02-01", "withdraw-reason": "授权矩阵：撤销认定"},
                                             to="/programme/bases/"),
    "programme.list_institution": dict(form={"inst-kind": "training", "inst-name": "授权矩阵培训机构",
                                             "inst-region_code": "110000", "inst-fields": ["ai"]},
                                       to="/programme/institutions/"),
    "programme.list_institution~other-region": dict(form={"inst-kind": "training", "inst-name": "授权矩阵粤机构",
                                                          "inst-region_code": "440000", "inst-fields": ["ai"]},
                                                    to="/programme/institutions/"),
    "programme.list_institution~bad": dict(form={"inst-kind": "training", "inst-name": "授权矩阵培训机构",
                                                 "inst-region_code": "110000"}),
    "programme.suspend_institution": dict(form={"change-reason": "授权矩阵：暂停"}, to="/programme/institutions/"),
    "programme.suspend_institution~other-region": dict(form={"change-reason": "授权矩阵：暂停"},
                                                       to="/programme/institutions/"),
    "programme.suspend_institution~bad-check": dict(form={"change-reason": "授权矩阵：暂停"}),
    "programme.restore_institution": dict(form={"change-reason": "授权矩阵：恢复"}, to="/programme/institutions/"),
    "programme.create_inspection": dict(form={"plan-title": "授权矩阵抽查", "plan-scope": "national",
                                              "plan-population": "bases", "plan-year": "2025",
                                              "plan-target_count": "2", "plan-inspectors_per_target": "1"},
                                        to="/programme/inspections/"),
    "programme.create_inspection~region": dict(form={"plan-title": "授权矩阵京抽查", "plan-scope": "110000",
                                                     "plan-population": "courses", "plan-year": "2025",
                                                     "plan-target_count": "2", "plan-inspectors_per_target": "1"},
                                               to="/programme/inspections/"),
    "programme.create_inspection~bad": dict(form={"plan-title": "授权矩阵抽查", "plan-scope": "national",
                                                  "plan-population": "bases", "plan-year": "2025",
                                                  "plan-target_count": "0", "plan-inspectors_per_target": "1"}),
    "programme.freeze_inspection": dict(to="/programme/inspections/"),
    "programme.freeze_inspection~national": dict(to="/programme/inspections/"),
    "programme.freeze_inspection~drawn": dict(to="/programme/inspections/"),
    "programme.draw_inspection": dict(form={"reveal-seed": ""}, to="/programme/inspections/"),
    "programme.draw_inspection~bad-seed": dict(form={"reveal-seed": "11" * 32}),
    "programme.close_inspection": dict(to="/programme/inspections/"),
    "programme.cancel_inspection": dict(form={"cancel-reason": "授权矩阵：撤销草稿"}, to="/programme/inspections/"),
    "programme.cancel_inspection~national": dict(form={"cancel-reason": "授权矩阵：撤销已抽取计划"},
                                                 to="/programme/inspections/"),
    "programme.cancel_inspection~no-reason": dict(form={"cancel-reason": ""}),
    "programme.inspection_not_inspected": dict(form={"left-reason": "授权矩阵：检查人员离任"}),
    "programme.record_finding": dict(form={"finding-result": "compliant", "finding-notes": ""},
                                     to="/programme/inspections/tasks"),
    "programme.record_finding~other": dict(form={"finding-result": "compliant", "finding-notes": ""}),
    "programme.record_finding~bad": dict(form={"finding-result": "rectify", "finding-notes": ""}),
    "programme.restore_institution~active": dict(form={"change-reason": "授权矩阵：恢复"}),
    "admin.revoke_role": dict(form={"reason": "授权矩阵：岗位调整"}, to="/admin/people/"),
    "admin.revoke_role~other-person": dict(form={"reason": "授权矩阵：岗位调整"}),
    "admin.disable": dict(form={"reason": "授权矩阵：停用"}, to="/admin/people/"),
    "admin.disable~self": dict(form={"reason": "授权矩阵：停用自己"}),
    "admin.enable": dict(form={"reason": "授权矩阵：启用"}, to="/admin/people/"),
    "admin.reset_exam": dict(form={"reason": "授权矩阵：重置"}),
    "federation.archive~token": dict(headers=lambda w: {"Authorization": f"Bearer {w.ids['federation_secret']}"}),
    "federation.archive~not-shared": dict(headers=lambda w: {"Authorization": f"Bearer {w.ids['federation_secret']}"}),
    "federation.share": dict(form={"share-code": "GX-NS-001"}, to="/admin/federation"),
    "federation.share~empty": dict(form={"share-code": ""}),
    "federation.unshare": dict(to="/admin/federation"),
    "federation.issue_token": dict(form={"token-name": "另一省平台"}),
    "federation.issue_token~empty": dict(form={"token-name": ""}),
    "federation.revoke_token": dict(to="/admin/federation"),
    "federation.subscribe:POST": dict(form={"url": "", "token": "gxf_x", "mode": "draft"}),
    "federation.add_issuer": dict(form={"issuer_id": "", "name": ""}),
    "federation.remove_issuer": dict(to="/admin/federation/issuers"),
    "federation.refresh_issuer": dict(to="/admin/federation/issuers"),
    "federation.present": dict(form={"link": ""}),
    "federation.create_consent": dict(to="/me/certificates"),
    "federation.revoke_consent": dict(to="/me/consent-links"),
    "federation.pull": dict(to="/admin/federation/subscriptions/"),
    "federation.replace_token": dict(form={"replace-token": "gxf_new"}, to="/admin/federation/subscriptions/"),
    "federation.replace_token~empty": dict(form={"replace-token": ""}),
    "federation.unsubscribe": dict(to="/admin/federation/subscriptions/"),
}

# Columns that change on reads (last activity, last use): left out of "nothing changed".
TOUCHED_COLUMNS = {"user_session": {"last_seen_at"}, "api_client": {"last_used_at"}}
# Tables written by refusals on purpose (audit log, counted failures).
BOOKKEEPING_TABLES = {"audit_event", "login_failure"}


class Row:
    def __init__(self, line: str, roles: tuple[str, ...], columns: int):
        parts = line.split()
        self.endpoint_name, self.method, self.path = parts[0], parts[1], parts[2]
        self.endpoint, _, self.variant = self.endpoint_name.partition("~")
        cells = parts[3:]
        assert len(cells) == columns, f"{self.endpoint_name} {self.method}: {len(cells)} outcomes for {columns} roles"
        self.expected = dict(zip(roles, cells, strict=True))
        self.name = self.endpoint_name  # ":METHOD" is added when the endpoint has rows of several methods

    def request_spec(self) -> dict:
        return REQUESTS.get(self.name, {})


def _rows(table: str, roles: tuple[str, ...], header: str) -> list[Row]:
    lines = [line for line in table.strip().splitlines() if line.strip() and not line.startswith("#")]
    assert lines[0].split()[3:] == header.split(), "the header names the role columns"
    return [Row(line, roles, len(roles)) for line in lines[1:]]


PAGE_ROWS = _rows(PAGES, COOKIE_ROLES, PAGE_COLUMNS)
BASE_ROWS = _rows(BASES, BASE_ROLES, BASE_COLUMNS)
API_ROWS = _rows(HR_API, API_ROLES, API_COLUMNS)
ALL_ROWS = PAGE_ROWS + BASE_ROWS + API_ROWS
for _row in ALL_ROWS:
    if len({r.method for r in ALL_ROWS if r.endpoint == _row.endpoint}) > 1:
        _row.name = f"{_row.endpoint_name}:{_row.method}"
assert len({r.name for r in ALL_ROWS}) == len(ALL_ROWS), "two rows with the same name: add a ~variant"
assert set(REQUESTS) <= {r.name for r in ALL_ROWS}, set(REQUESTS) - {r.name for r in ALL_ROWS}


# ---------------------------------------------------------------- the world (once per module)

@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """An app on a database of its own: the world is committed once, each case rolls back."""
    with committed_app(tmp_path_factory.mktemp("authz"), "authz", packages=("GX-NS-001", "GX-DT-002"),
                       LMS_WEBHOOK_ALLOW_HTTP=True, LMS_WEBHOOK_ALLOW_PRIVATE=True,
                       # 找回密码 offers the ways that are configured: both, so every page has its form.
                       LMS_SMTP_HOST="127.0.0.1", LMS_SMS_SENDER="console") as application:
        yield application


@pytest.fixture(scope="module")
def world(app):
    return build(app)


def _fill(template: str, world) -> str:
    return template.format(**world.ids)


def _value(spec, world):
    return spec(world) if callable(spec) else spec


def _client(app, identity):
    client = app.test_client()
    for key, value, domain, path in identity.cookies:
        client.set_cookie(key, value, domain=domain, path=path)
    return client


def _send(app, world, row: Row, role: str):
    identity = world.identities[role]
    spec = row.request_spec()
    client = _client(app, identity)
    headers = {}
    if identity.bearer:
        headers["Authorization"] = f"Bearer {identity.bearer}"
    kwargs = {}
    headers.update(_value(spec.get("headers", {}), world))
    if "raw" in spec:  # a body sent as is (an upload's part), the CSRF token in its header
        headers["X-CSRFToken"] = identity.csrf
        kwargs["data"] = _value(spec["raw"], world)
    elif row.method in ("POST", "PUT", "DELETE"):
        if "json" in spec:
            body = dict(_value(spec["json"], world))
            headers["X-CSRFToken"] = identity.csrf
            kwargs["json"] = body
        else:
            data = dict(_value(spec.get("form", {}), world))
            if spec.get("csrf", True) and identity.csrf:
                data["csrf_token"] = identity.csrf
            for name, (content, filename) in _value(spec.get("files", {}), world).items():
                data[name] = (io.BytesIO(content), filename)
            kwargs["data"] = data
    response = client.open(_fill(row.path, world), method=row.method, headers=headers, **kwargs)
    response.get_data()  # files are sent as streams: read, then close (no open file outlives the case)
    response.close()
    return response


def _fingerprint(session) -> dict:
    """Every row of every table (but bookkeeping), to tell that a refused request changed nothing."""
    from lms.extensions import db

    state = {}
    for table in db.metadata.sorted_tables:
        if table.name in BOOKKEEPING_TABLES:
            continue
        skip = TOUCHED_COLUMNS.get(table.name, set())
        columns = [c for c in table.columns if c.name not in skip]
        order = list(table.primary_key.columns) or columns[:1]
        state[table.name] = [tuple(row) for row in session.execute(select(*columns).order_by(*order))]
    return state


def _changed(before: dict, after: dict) -> list[str]:
    return [name for name in before if before[name] != after[name]]


def _check(row: Row, role: str, expected: str, response, world) -> None:
    status, location = response.status_code, response.headers.get("Location", "")
    what = f"{row.method} {_fill(row.path, world)} as {role}"
    body = response.get_data()[:300].decode("utf-8", "replace")
    if expected == "login":
        assert status == 302 and urlsplit(location).path == "/login" and "next=" in location, \
            f"{what}: expected a redirect to sign in, got {status} {location} {body}"
        return
    if expected == "empty":
        assert status == 200 and _records_in(response) == 0, \
            f"{what}: expected an answer without records, got {status} {body}"
        return
    assert status == int(expected.rstrip("!")), f"{what}: expected {expected}, got {status} {location} {body}"
    if 300 <= status < 400:
        target = urlsplit(location).path
        assert not (target == "/login" and "next=" in location), f"{what}: redirected to sign in ({location})"
        spec = row.request_spec()
        if "to" in spec and not expected.endswith("!"):
            assert target.startswith(_fill(spec["to"], world)), f"{what}: redirected to {location}, not {spec['to']}"
    if status == 405:
        assert response.headers.get("Allow"), f"{what}: 405 without an Allow header"


def _records_in(response) -> int:
    """Records in a JSON page (``data``) or an export file (CSV lines after the header)."""
    if response.mimetype == "application/json":
        return len(response.get_json()["data"])
    assert response.mimetype == "text/csv", response.mimetype
    return len([line for line in response.get_data(as_text=True).splitlines()[1:] if line.strip()])


def _cases(rows):
    for row in rows:
        for role, expected in row.expected.items():
            yield pytest.param(row, role, expected, id=f"{row.name}[{role}]")


@pytest.mark.parametrize(("row", "role", "expected"), list(_cases(ALL_ROWS)))
def test_access(app, world, db_session, row, role, expected):
    writes = row.method != "GET"
    before = _fingerprint(db_session) if writes else None
    response = _send(app, world, row, role)
    _check(row, role, expected, response, world)
    if writes and (expected.endswith("!") or expected == "login" or response.status_code >= 400):
        changed = _changed(before, _fingerprint(db_session))
        assert not changed, f"{row.method} {_fill(row.path, world)} as {role} was refused but changed {changed}"


# ---------------------------------------------------------------- every route is registered; wrong methods

def _routes(app) -> dict[tuple[str, str], str]:
    """(endpoint, method) → rule, for every route but static files."""
    routes = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes[(rule.endpoint, method, rule.rule)] = rule.rule
    return routes


def _matched(app, world, row: Row):
    adapter = app.url_map.bind("localhost")
    path = urlsplit(_fill(row.path, world)).path
    rule, _args = adapter.match(path, method=row.method, return_rule=True)
    return rule


def test_every_route_is_registered(app, world):
    reached = set()
    for row in ALL_ROWS:
        rule = _matched(app, world, row)
        assert rule.endpoint == row.endpoint, f"row {row.name}: {row.path} reaches {rule.endpoint}, not {row.endpoint}"
        reached.add((rule.endpoint, row.method, rule.rule))
    missing = sorted(set(_routes(app)) - reached)
    assert not missing, (
        "Routes not registered in the authorization matrix (tests/web/test_authorization_matrix.py):\n"
        + "\n".join(f"  {endpoint} {method} {rule}" for endpoint, method, rule in missing)
        + "\nAdd one line per route to PAGES (cookie sign-in) or HR_API (bearer tokens) with the expected "
          "outcome for every role, and its body in REQUESTS if it takes one (see the module docstring).")


def _wrong_method_cases():
    seen = set()
    for row in ALL_ROWS:
        key = re.sub(r"\?.*", "", row.path)
        if key in seen:
            continue
        seen.add(key)
        yield pytest.param(row, id=f"{row.name}[wrong-method]")


@pytest.mark.parametrize("row", list(_wrong_method_cases()))
def test_wrong_method(app, world, db_session, row):
    path = urlsplit(_fill(row.path, world)).path
    allowed = app.url_map.bind("localhost").allowed_methods(path)
    method = next(m for m in ("GET", "POST", "DELETE", "PUT") if m not in allowed)
    response = _client(app, world.identities["anonymous"]).open(path, method=method)
    response.close()
    assert response.status_code == 405, f"{method} {path}: {response.status_code}"
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= set(allowed) - {"HEAD", "OPTIONS"}
