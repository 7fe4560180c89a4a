"""people: editable records, a passenger's pickup place, accessibility needs as data

Revision ID: 0014_people
Revises: 0013_offer_changes
Create Date: 2026-12-02 01:30:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0014_people'
down_revision = '0013_offer_changes'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('passengers') as batch:
        batch.add_column(sa.Column('needs_flags', sa.String(length=100), nullable=True))
        batch.add_column(sa.Column('pickup_place', sa.String(length=200), nullable=True))
        batch.add_column(sa.Column('pickup_lat', sa.Float(), nullable=True))
        batch.add_column(sa.Column('pickup_lon', sa.Float(), nullable=True))
    with op.batch_alter_table('drivers') as batch:
        batch.add_column(sa.Column('accepts_flags', sa.String(length=100), nullable=True))


def downgrade():
    with op.batch_alter_table('drivers') as batch:
        batch.drop_column('accepts_flags')
    with op.batch_alter_table('passengers') as batch:
        batch.drop_column('pickup_lon')
        batch.drop_column('pickup_lat')
        batch.drop_column('pickup_place')
        batch.drop_column('needs_flags')
