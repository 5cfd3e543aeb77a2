"""search: the dictionary admins edit (terms kept whole, their synonyms), seeded with the shipped one

Revision ID: search01
Revises: api01
Create Date: 2026-11-30 05:04:45.132703+00:00

"""
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa


# The shipped dictionary (lms/search/dictionary.py DEFAULT_ENTRIES) as it was when this revision
# was written: (term, synonyms separated by spaces, a phrase's words joined by _).
SEED = [
    ('网络安全', '网安'),
    ('网络安全法', ''),
    ('数据安全法', ''),
    ('个人信息保护法', '个保法 PIPL'),
    ('个人信息', ''),
    ('等级保护', '等保'),
    ('关键信息基础设施', '关基'),
    ('数据出境', '数据跨境'),
    ('人工智能', 'AI'),
    ('大模型', 'LLM 大语言模型'),
    ('机器学习', 'machine_learning'),
    ('知识产权', '知产'),
    ('著作权', '版权'),
    ('应急预案', '预案'),
    ('应急管理', 'emergency_management'),
    ('双重预防机制', ''),
    ('突发事件应对法', ''),
    ('安全生产', 'work_safety'),
    ('危险化学品', '危化品'),
    ('心肺复苏', 'CPR'),
    ('数字化转型', 'digital_transformation'),
    ('碳达峰', '双碳'),
]

# revision identifiers, used by Alembic.
revision = 'search01'
down_revision = 'api01'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('search_dictionary_generation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_search_dictionary_generation'))
    )
    op.create_table('search_term',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('term', sa.String(length=40), nullable=False),
    sa.Column('synonyms', sa.String(length=400), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_search_term')),
    sa.UniqueConstraint('term', name=op.f('uq_search_term_term'))
    )
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    terms = sa.table("search_term", sa.column("term", sa.String), sa.column("synonyms", sa.String),
                     sa.column("updated_at", sa.DateTime))
    op.bulk_insert(terms, [{"term": t, "synonyms": s, "updated_at": now} for t, s in SEED])
    generation = sa.table("search_dictionary_generation", sa.column("id", sa.Integer),
                          sa.column("generation", sa.Integer))
    op.bulk_insert(generation, [{"id": 1, "generation": 1}])


def downgrade():
    op.drop_table('search_term')
    op.drop_table('search_dictionary_generation')
