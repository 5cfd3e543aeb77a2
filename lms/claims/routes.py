"""学时登记 pages: the learner's claims, the reviewers' queue, one claim with its steps, evidence files."""

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..accounts.models import Role
from ..core import attachments
from ..core.forms import run_form
from ..core.web import FORM_OVERHEAD_BYTES, body_limit, commit, roles_required, writes_on_read
from . import services
from .evidence import Upload
from .forms import ClaimForm, ReviewForm

bp = Blueprint("claims", __name__)


@bp.get("/me/claims")
@login_required
def my_claims():
    return render_template("claims/my_claims.html", claims=services.my_claims(current_user),
                           status_label=services.status_label)


# Room for a learner's form whose file is too large: it is refused by the evidence check, on the form,
# with what was typed (the app-wide 16 MB cap would answer with an error page instead). Read in blocks,
# spooled to disk by the form parser, never held in memory.
SIGNED_IN_BODY_CAP = 64 * 1024 * 1024


def _claim_body_cap() -> int | None:
    return SIGNED_IN_BODY_CAP + FORM_OVERHEAD_BYTES if current_user.is_authenticated else None


@bp.route("/me/claims/new", methods=["GET", "POST"])
@body_limit(_claim_body_cap)
@login_required
def new_claim():
    form = ClaimForm()

    def submit():
        data = services.ClaimData(kind=form.kind.data, title=form.title.data, activity_date=form.activity_date.data,
                                  hours=form.hours.data, category=form.category.data,
                                  description=form.description.data)
        uploads = [Upload(f.filename, f.stream) for f in (form.evidence.data or []) if getattr(f, "filename", None)]
        return services.submit_claim(current_user, data, uploads)

    done = run_form(form, submit)
    if done:
        flash(_("学时登记已提交，审核进度可在本页查看。"), "success")
        return redirect(url_for("claims.claim", claim_id=done.value.id), 303)
    if form.is_submitted() and form.evidence.data and (form.errors or form.form_errors):
        form.form_errors.append(_("为安全起见，已选择的文件没有保留，请重新选择证明材料后提交；其他内容已保留。"))
    return render_template("claims/new_claim.html", form=form), done.status


@bp.get("/claims/review")
@roles_required(Role.UNIT_ADMIN, Role.HR_AUDITOR, Role.ADMIN)
def review_queue():
    return render_template("claims/review_queue.html", claims=services.review_queue(current_user),
                           status_label=services.status_label)


def _claim_page(claim_id: int, form: ReviewForm, status: int = 200):
    claim = services.claim_for(current_user, claim_id)
    return render_template("claims/claim.html", claim=claim, form=form, stage=services.current_stage(claim),
                           status_label=services.status_label,
                           may_review=services.may_review(current_user, claim)), status


@bp.get("/claims/<int:claim_id>")
@login_required
def claim(claim_id: int):
    return _claim_page(claim_id, ReviewForm())


@bp.post("/claims/<int:claim_id>/review")
@login_required
def review(claim_id: int):
    claim = services.claim_for(current_user, claim_id)  # 404 for those who may not see it
    services.check_reviewer(current_user, claim)  # 403/409 with the reason, whatever was sent
    form = ReviewForm()
    done = run_form(form, lambda: services.review_claim(current_user, claim_id, decision=form.decision.data,
                                                        hours=form.hours.data, reason=form.reason.data or ""))
    if done:
        flash(_("审核结果已保存，学员可在登记页看到。"), "success")
        return redirect(url_for("claims.claim", claim_id=claim_id), 303)
    if done.error is not None and not services.may_review(current_user, claim):
        raise done.error  # not theirs to decide (now): the error page says why
    return _claim_page(claim_id, form, done.status)


@bp.get("/claims/<int:claim_id>/evidence/<int:evidence_id>")
@login_required
@writes_on_read
def evidence(claim_id: int, evidence_id: int):
    """Only as an attachment, with the type it was checked to be, and a policy that runs nothing;
    audited when someone other than the learner opens it."""
    item = services.evidence_for(current_user, claim_id, evidence_id)
    response = attachments.download(item.path, item.content_type, item.original_name)
    commit()
    return response
