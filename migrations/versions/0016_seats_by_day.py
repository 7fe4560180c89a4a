"""offer_days: a partial index on the day of runs holding seats (the matcher's seat read)

Revision ID: 0016_seats_by_day
Revises: 0015_trips
Create Date: 2026-12-02 02:20:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0016_seats_by_day'
down_revision = '0015_trips'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_offer_days_day_held', 'offer_days', ['day'], unique=False,
                    postgresql_where=sa.text('held > 0'), sqlite_where=sa.text('held > 0'))


def downgrade():
    op.drop_index('ix_offer_days_day_held', table_name='offer_days')
