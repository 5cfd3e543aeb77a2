"""A frozen population's exclusion lists (separation of duties) are computed for the whole
population at once (lms/programme/inspections.py ``_exclusion_lists``): a property test holds them
equal, candidate by candidate, to the plain rule ``_excluded`` (an inspector of the candidate's
organization, or the learner of a credit record), so the published document does not change."""

from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from lms.programme.inspections import Candidate, _excluded, _exclusion_lists

ORGS = st.integers(1, 6)
USERS = st.integers(1, 12)


@settings(deadline=None)  # the machine may be busy: a slow example is no failure
@given(pool=st.lists(st.tuples(USERS, st.sets(ORGS, max_size=3)), max_size=10, unique_by=lambda p: p[0]),
       candidates=st.lists(st.tuples(st.none() | ORGS, st.none() | USERS), max_size=30))
def test_the_lists_for_a_whole_population_are_the_plain_rule(pool, candidates):
    users = [SimpleNamespace(id=user_id) for user_id, _orgs in pool]
    orgs = [set(organizations) for _user, organizations in pool]
    excluded = _exclusion_lists(users, orgs)
    for n, (organization_id, user_id) in enumerate(candidates):
        candidate = Candidate(f"R{n}", "", n, organization_id, user_id)
        assert excluded(candidate) == _excluded(candidate, users, orgs)


def test_candidates_barred_alike_share_one_list():
    users = [SimpleNamespace(id=1), SimpleNamespace(id=2), SimpleNamespace(id=3)]
    excluded = _exclusion_lists(users, [{10}, {11}, {10}])
    first, second = excluded(Candidate("B1", "", 1, 10)), excluded(Candidate("B2", "", 2, 10))
    assert first == [0, 2] and first is second
    assert excluded(Candidate("R1", "", 3, 11, user_id=3)) == [1, 2]
    assert excluded(Candidate("R2", "", 4, None, user_id=9)) == []
