"""Fixtures shared by the web tests: a publishing organization and its publisher."""

import pytest

from lms.accounts.models import OrgKind, Role
from lms.accounts.services import get_or_create_organization


@pytest.fixture
def org(app, db_session):
    with app.test_request_context():
        org = get_or_create_organization("市继续教育基地", OrgKind.PUBLISHER)
        db_session.commit()
    return org


@pytest.fixture
def publisher(make_user, org):
    return make_user(roles=(Role.PUBLISHER,), organization=org, real_name="发布员")
