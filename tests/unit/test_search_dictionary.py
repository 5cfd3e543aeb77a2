"""The search dictionary as data: admins' edits bump its generation and rebuild the index with it;
the index carries the dictionary it was cut with, and every searching process applies it."""

import pytest

from lms.core.errors import Conflict, InvalidInput
from lms.search import dictionary, services, tasks, terms
from lms.search.models import SearchDictionaryGeneration, SearchTerm


def test_the_migration_seeds_the_shipped_dictionary(app, db_session):
    seeded = terms.current_dictionary(db_session)
    assert dict(seeded.entries) == {t: tuple(s) for t, s in dictionary.DEFAULT_ENTRIES}
    assert seeded.synonyms("网安") and "网络安全" in seeded.synonyms("网安")


def test_an_edit_bumps_the_generation_and_rebuilds_the_index_with_the_new_synonyms(app, db_session, ctx):
    assert services.search("入门读本").total == 0
    before = db_session.query(SearchDictionaryGeneration).one().generation
    terms.save_term(None, None, "通识", "入门读本")
    db_session.commit()  # the rebuild is queued after the commit (the queue runs it at once in tests)
    try:
        assert db_session.query(SearchDictionaryGeneration).one().generation == before + 1
        result = services.search("入门读本")
        assert result.hits and result.hits[0].code == "GX-DT-002"
        row = db_session.query(SearchTerm).filter_by(term="通识").one()
        terms.delete_term(None, row.id)
        db_session.commit()
        assert services.search("入门读本").total == 0
    finally:
        tasks.rebuild_index_job()


@pytest.mark.parametrize(("term", "synonyms", "field"), [
    ("", "", "term"), ("网络,安全", "", "term"), ("很" * 41, "", "term"), ("数据", "a/b", "synonyms"),
])
def test_bad_terms_are_refused_with_a_message(app, db_session, term, synonyms, field):
    with pytest.raises(InvalidInput) as exc:
        terms.save_term(None, None, term, synonyms)
    assert exc.value.field == field and exc.value.message


def test_a_term_already_in_the_dictionary_is_a_conflict(app, db_session):
    with pytest.raises(Conflict):
        terms.save_term(None, None, "网络安全", "")


def test_a_dictionary_travels_with_its_index_generation(tmp_path, demo_documents):
    custom = dictionary.Dictionary.of([("突发事件应对", ("凤凰计划",))], generation=7)
    live = tmp_path / "search-index"
    services.rebuild_index(demo_documents, index_dir=live, dictionary=custom)
    assert dictionary.read(live.resolve()).generation == 7
    assert services.search("凤凰计划", index_dir=live).hits[0].code == "GX-EM-001"
    services.rebuild_index(demo_documents, index_dir=live)  # the shipped dictionary: the synonym is gone
    assert services.search("凤凰计划", index_dir=live).total == 0
