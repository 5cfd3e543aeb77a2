"""Relevance: what learners actually type, over the eight demo courses shipped in courses/.

The index (fixture ``demo_index`` in conftest.py) is built once per session from the course packages.
"""

import pytest

from lms.search import services

# (what a learner types, the course that must be among the first three)
QUERIES = [
    ("网络安全法", "GX-NS-001"),
    ("安全法", "GX-NS-001"),
    ("数据安全", "GX-NS-001"),
    ("等级保护", "GX-NS-001"),
    ("关键信息基础设施", "GX-NS-001"),
    ("网络钓鱼 勒索", "GX-NS-001"),
    ("个人信息保护", "GX-NS-002"),
    ("GDPR", "GX-NS-002"),
    ("PIPL", "GX-NS-002"),
    ("敏感个人信息", "GX-NS-002"),
    ("数据跨境", "GX-NS-002"),
    ("人工智能", "GX-DT-002"),
    ("AI 伦理", "GX-DT-002"),
    ("大模型", "GX-DT-002"),
    ("生成式AI", "GX-DT-002"),
    ("LLM", "GX-DT-002"),
    ("机器学习", "GX-DT-002"),
    ("数字经济", "GX-DT-001"),
    ("数字化转型", "GX-DT-001"),
    ("数字政府", "GX-DT-001"),
    ("数字素养", "GX-DT-001"),
    ("数据要素", "GX-DT-001"),
    ("突发事件应对法", "GX-EM-001"),
    ("应急预案", "GX-EM-001"),
    ("自救互救", "GX-EM-001"),
    ("地震 火灾 逃生", "GX-EM-001"),
    ("心肺复苏", "GX-EM-001"),
    ("安全生产", "GX-EM-002"),
    ("事故报告", "GX-EM-002"),
    ("隐患排查", "GX-EM-002"),
    ("有限空间 动火作业", "GX-EM-002"),
    ("知识产权", "GX-IP-001"),
    ("著作权", "GX-IP-001"),
    ("商业秘密", "GX-IP-001"),
    ("职务发明", "GX-IP-001"),
    ("专利申请", "GX-IP-002"),
    ("商标注册", "GX-IP-002"),
    ("发明专利 实用新型", "GX-IP-002"),
    ("PCT", "GX-IP-002"),
    ("Cybersecurity", "GX-NS-001"),
    ("Work Safety", "GX-EM-002"),
]


def test_the_demo_catalog_is_eight_courses(demo_documents):
    assert len(demo_documents) == 8


@pytest.mark.parametrize(("query", "code"), QUERIES, ids=[q for q, _ in QUERIES])
def test_learner_query_finds_the_course_in_the_top_three(demo_index, query, code):
    result = services.search(query, index_dir=demo_index)
    top = [hit.code for hit in result.hits[:3]]
    assert code in top, f"{query!r}: {code} not in top 3 {top}"


def test_there_are_at_least_thirty_relevance_queries():
    assert len(QUERIES) >= 30
