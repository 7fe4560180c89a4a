"""change counters (matching index version stamp)

Revision ID: 0002_change_counters
Revises: 0001_initial
Create Date: 2026-11-23 16:00:00

"""
from alembic import op
import sqlalchemy as sa

revision = '0002_change_counters'
down_revision = '0001_initial'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'change_counters',
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('value', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_change_counters')),
    )
    op.bulk_insert(sa.table('change_counters', sa.column('name', sa.String), sa.column('value', sa.Integer)),
                   [{'name': 'offers', 'value': 0}])


def downgrade():
    op.drop_table('change_counters')
