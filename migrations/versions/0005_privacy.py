"""privacy: anonymisation timestamps

Revision ID: 0005_privacy
Revises: 0004_outbox
Create Date: 2026-11-23 16:30:00

"""
from alembic import op
import sqlalchemy as sa

revision = '0005_privacy'
down_revision = '0004_outbox'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('passengers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('anonymised_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('anonymised_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('anonymised_at')
    with op.batch_alter_table('passengers', schema=None) as batch_op:
        batch_op.drop_column('anonymised_at')
