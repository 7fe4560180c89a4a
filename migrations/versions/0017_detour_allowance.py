"""bookings: the detour a driver is asked to accept for a near miss (the run's budget)

Revision ID: 0017_detour_allowance
Revises: 0016_seats_by_day
Create Date: 2026-12-02 02:30:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0017_detour_allowance'
down_revision = '0016_seats_by_day'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('bookings') as batch:
        batch.add_column(sa.Column('detour_allowance_min', sa.Float(), nullable=True))


def downgrade():
    with op.batch_alter_table('bookings') as batch:
        batch.drop_column('detour_allowance_min')
