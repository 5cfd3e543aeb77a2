"""Separation of duties (职责分离): who made or changed a thing may not also approve it.

One rule for every approval on the platform — a course version's review today; approving external
hours, a continuing-education base's evaluation or an inspection report later. The caller knows
what its approval covers and who took part in making it; this module only decides:

- the approver must be a named person (``None`` — an import or a federation message without a
  person — is refused: such paths name their approving reviewer explicitly);
- the approver must not be among ``involved_user_ids`` (created, edited or submitted the thing).

The caller checks first that the approver holds the role that may approve at all; this rule
comes on top and applies to every role, administrators included.

    ensure_not_involved(reviewer, involved_user_ids(course), _("审核通过"),
                        subject=_("《%(title)s》第 %(version)s 版", title=course.title, version=course.version))
"""

from collections.abc import Iterable

from flask_babel import gettext as _

from .errors import NotAllowed


def ensure_not_involved(actor, involved_user_ids: Iterable[int | None], action_label: str, *,
                        subject: str | None = None) -> None:
    """Raise NotAllowed unless ``actor`` (anything with an ``id``) is a named person who took no
    part in ``subject`` (default: "this item"). ``action_label`` is the approval in words, already
    translated, e.g. ``_("审核通过")``."""
    if actor is None or getattr(actor, "id", None) is None:
        raise NotAllowed(_("%(action)s必须由具名的审核人员进行：请指明审核人（其账号须具有相应的审核角色）。",
                           action=action_label))
    if actor.id in set(involved_user_ids):
        raise NotAllowed(_("职责分离：您参与了%(subject)s的创建、编辑或提交，不能由您%(action)s。"
                           "请由未参与编写的其他审核人员%(action)s。",
                           subject=subject or _("这项内容"), action=action_label))
