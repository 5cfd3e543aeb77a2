"""Who may fetch a media file. Media knows nothing of courses: a package that puts media files into
content others may see (the catalog's published lessons) registers a check with
:func:`public_when`, and a file any check accepts is open to every signed-in user."""

from collections.abc import Callable

from ..accounts.models import Role
from .models import MediaAsset

# asset id → True when the file is part of something every signed-in user may see
_public_checks: list[Callable[[int], bool]] = []


def public_when(check: Callable[[int], bool]) -> Callable[[int], bool]:
    """Register a check (a decorator; registering the same function again changes nothing)."""
    if check not in _public_checks:
        _public_checks.append(check)
    return check


def can_view(actor, asset: MediaAsset) -> bool:
    """Published courseware is open to signed-in users; anything else only to its organization's
    publishers, reviewers and admins."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        return False
    if any(check(asset.id) for check in _public_checks):
        return True
    if actor.has_role(Role.ADMIN) or actor.has_role(Role.REVIEWER):
        return True
    return any(g.organization_id == asset.organization_id for g in actor.grants_for(Role.PUBLISHER))
