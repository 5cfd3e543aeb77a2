"""Certificates: the learner's downloads, the public verification page, credentials, JWKS, admin."""

import io

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..accounts.models import Role
from ..core.forms import run_form, run_service
from ..core.web import commit, roles_required, writes_on_read
from ..credits.forms import ReasonForm
from ..extensions import limiter
from . import numbers, services, signing, status_list
from .settings import verify_rate_limit

bp = Blueprint("certificates", __name__)


@bp.app_context_processor
def example_number() -> dict:
    """The reserved example certificate number (never issued) for the pages that explain numbers."""
    return {"example_number": numbers.EXAMPLE}


MAX_PDF_BYTES = 10 * 1024 * 1024


# ---------------------------------------------------------------- the learner

@bp.get("/me/certificates")
@login_required
def my_certificates():
    return render_template("certificates/mine.html", certificates=services.my_certificates(current_user),
                           issuing=services.pending_course_records(current_user.id))


@bp.post("/me/certificates/annual/<int:year>")
@login_required
def issue_annual(year: int):
    if not 2000 <= year <= 2100:  # as 我的学时 refuses it: date() has no year 0 or 10000 (it was a 500)
        abort(404)
    issued = run_service(lambda: services.issue_annual_certificate(current_user, year))
    if not issued:
        flash(issued.error.message, "warning")
        return redirect(url_for("credits.my_hours", year=year))
    flash(_("%(year)s 年度学时证明已开具，证书编号 %(number)s。", year=year, number=issued.value.number), "success")
    return redirect(url_for("certificates.my_certificates"))


@bp.get("/certificates/<number>.pdf")
@login_required
@writes_on_read
def download_pdf(number: str):
    cert = services.own_certificate(current_user, number)
    commit()  # an admin's download is audited
    data = services.pdf_bytes(cert)
    return send_file(io.BytesIO(data), mimetype="application/pdf", as_attachment=True,
                     download_name=_("学时证明-%(number)s.pdf", number=cert.number))


@bp.get("/credentials/<number>.jwt")
@login_required
@writes_on_read
def credential(number: str):
    cert = services.own_certificate(current_user, number)
    commit()
    return Response(cert.credential_jwt, mimetype="application/vc+jwt", headers={
        "Content-Disposition": f'attachment; filename="{cert.number}.jwt"'})


@bp.get("/me/credentials/clr.jwt")
@login_required
@writes_on_read
def my_clr():
    token = services.learner_clr(current_user)
    commit()
    return Response(token, mimetype="application/vc+jwt", headers={
        "Content-Disposition": 'attachment; filename="clr.jwt"'})


# ---------------------------------------------------------------- public

@bp.get("/.well-known/jwks.json")
def jwks():
    response = jsonify(signing.jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/credentials/status/<int:list_number>")
@limiter.limit(verify_rate_limit)
def status_list_credential(list_number: int):
    """The revocation list a credential's ``credentialStatus`` names (W3C Bitstring Status List): a
    VC-JWT (``application/vc+jwt``), or its payload as JSON with ``?format=json``."""
    document, token = status_list.signed_list(list_number)
    if request.args.get("format") == "json":
        response = jsonify(document)
    else:
        response = Response(token, mimetype="application/vc+jwt")
    response.headers["Cache-Control"] = "public, max-age=60"
    return response


@bp.get("/credentials/<number>/status")
@limiter.limit(verify_rate_limit)
def credential_status(number: str):
    return jsonify(services.status_document(number))


def _ip() -> str | None:
    return request.remote_addr


@bp.get("/verify")
@limiter.limit(verify_rate_limit, exempt_when=lambda: not request.args.get("no"))
@writes_on_read
def verify():
    number = request.args.get("no", "")
    result = None
    status = 200
    if number.strip():
        result = services.verify(number, ip=_ip(), via=request.args.get("via", "form")[:8])
        commit()
        status = 200 if result.outcome == "found" else 404 if result.outcome in ("not_found", "example") else 400
    return render_template("certificates/verify.html", result=result, number=number), status


@bp.post("/verify")
@limiter.limit(verify_rate_limit)
def verify_pdf():
    """Compare an uploaded PDF's SHA-256 with the one on record (the file is not kept)."""
    number = request.form.get("no", "")
    upload = request.files.get("pdf")
    result = services.verify(number, ip=_ip(), via="upload")
    commit()
    error = None
    if result.certificate is not None:
        data = upload.read(MAX_PDF_BYTES + 1) if upload else b""
        if not data:
            error = _("请选择要比对的 PDF 文件。")
        elif len(data) > MAX_PDF_BYTES:
            error = _("文件超过 10 MB，不是本平台签发的证书文件。")
        else:
            services.compare_pdf(result, data)
    status = 200 if result.outcome == "found" and not error else 404 if result.outcome in ("not_found", "example") \
        else 400
    return render_template("certificates/verify.html", result=result, number=number, upload_error=error), status


# ---------------------------------------------------------------- admin

@bp.get("/admin/certificates")
@roles_required(Role.ADMIN)
def admin_certificates():
    query = request.args.get("q", "")
    return render_template("certificates/admin_list.html", certificates=services.search_certificates(query), q=query)


@bp.route("/admin/certificates/<number>", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def admin_certificate(number: str):
    cert = services.get_by_number(number)
    form = ReasonForm()
    action = request.form.get("action")

    def act() -> str:
        if action == "revoke":
            services.revoke_certificate(current_user, cert.number, reason=form.reason.data)
            return _("证书已撤销，核验页面即时显示撤销状态；该课程学时已同时撤销。")
        if action == "reissue":
            services.reissue_certificate(current_user, cert.number, reason=form.reason.data)
            return _("证书已补发：编号不变，PDF 与凭证已按当前学时档案重新生成。")
        raise services.InvalidInput(_("请选择撤销或补发。"))

    done = run_form(form, act, field="reason")
    if done:
        flash(done.value, "success")
        return redirect(url_for("certificates.admin_certificate", number=cert.number))
    return render_template("certificates/admin_detail.html", cert=cert, form=form), done.status
