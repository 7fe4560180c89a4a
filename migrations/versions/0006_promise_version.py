"""bookings: promise version (versions the outbox key of "changed" SMS)

Revision ID: 0006_promise_version
Revises: 0005_privacy
Create Date: 2026-12-01 22:20:00

"""
from alembic import op
import sqlalchemy as sa

revision = '0006_promise_version'
down_revision = '0005_privacy'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('bookings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('promise_version', sa.Integer(), server_default='0', nullable=False))


def downgrade():
    with op.batch_alter_table('bookings', schema=None) as batch_op:
        batch_op.drop_column('promise_version')
