"""offer_skips: dates of a regular trip the driver cancelled (issue #14)

Revision ID: 0015_trips
Revises: 0014_people
Create Date: 2026-12-02 01:20:00

"""
from alembic import op
import sqlalchemy as sa

revision = '0015_trips'
down_revision = '0014_people'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'offer_skips',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('offer_id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['offer_id'], ['offers.id'], name=op.f('fk_offer_skips_offer_id_offers'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_offer_skips')),
        sa.UniqueConstraint('offer_id', 'day', name='uq_offer_skips_offer_day'),
    )
    with op.batch_alter_table('offer_skips', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_offer_skips_offer_id'), ['offer_id'], unique=False)


def downgrade():
    with op.batch_alter_table('offer_skips', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_offer_skips_offer_id'))
    op.drop_table('offer_skips')
