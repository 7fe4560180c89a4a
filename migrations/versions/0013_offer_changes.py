"""offer_changes: the trips' change log (matching indexes apply changes, never rebuild)

Revision ID: 0013_offer_changes
Revises: 0011_voice
Create Date: 2026-12-01 23:15:00

"""
from alembic import op
import sqlalchemy as sa

revision = '0013_offer_changes'
down_revision = '0011_voice'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'offer_changes',
        sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('offer_id', sa.Integer(), nullable=False),
        sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('seq'),
    )


def downgrade():
    op.drop_table('offer_changes')
