"""money: cost participation (drivers' choice, exemptions, amounts fixed on bookings) and
carpool proofs for the national register (issue #18)

Revision ID: 0010_money
Revises: 0005_privacy
Create Date: 2026-12-01 22:01:25

"""
from alembic import op
import sqlalchemy as sa


revision = '0010_money'
down_revision = '0006_promise_version'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('driver_contribution_choices',
    sa.Column('driver_id', sa.Integer(), nullable=False),
    sa.Column('mode', sa.String(length=20), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("mode IN ('free', 'suggested')", name=op.f('ck_driver_contribution_choices_driver_mode_known')),
    sa.ForeignKeyConstraint(['driver_id'], ['drivers.id'], name=op.f('fk_driver_contribution_choices_driver_id_drivers')),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_driver_contribution_choices_updated_by_id_users')),
    sa.PrimaryKeyConstraint('driver_id', name=op.f('pk_driver_contribution_choices'))
    )
    op.create_table('passenger_exemptions',
    sa.Column('passenger_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=300), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_passenger_exemptions_created_by_id_users')),
    sa.ForeignKeyConstraint(['passenger_id'], ['passengers.id'], name=op.f('fk_passenger_exemptions_passenger_id_passengers')),
    sa.PrimaryKeyConstraint('passenger_id', name=op.f('pk_passenger_exemptions'))
    )
    op.create_table('booking_contributions',
    sa.Column('booking_id', sa.Integer(), nullable=False),
    sa.Column('amount_cents', sa.Integer(), nullable=False),
    sa.Column('km', sa.Float(), nullable=False),
    sa.Column('basis', sa.String(length=20), nullable=False),
    sa.Column('eur_per_km', sa.Float(), nullable=False),
    sa.Column('exempt_reason', sa.String(length=300), nullable=True),
    sa.Column('fixed_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount_cents >= 0', name=op.f('ck_booking_contributions_contribution_not_negative')),
    sa.ForeignKeyConstraint(['booking_id'], ['bookings.id'], name=op.f('fk_booking_contributions_booking_id_bookings')),
    sa.PrimaryKeyConstraint('booking_id', name=op.f('pk_booking_contributions'))
    )
    op.create_table('rpc_journeys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('booking_id', sa.Integer(), nullable=False),
    sa.Column('operator_journey_id', sa.String(length=64), nullable=False),
    sa.Column('operator_trip_id', sa.String(length=64), nullable=False),
    sa.Column('driver_key', sa.String(length=64), nullable=False),
    sa.Column('passenger_key', sa.String(length=64), nullable=False),
    sa.Column('start_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('end_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('distance_m', sa.Integer(), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('status', sa.Enum('pending', 'unknown', 'accepted', 'refused', 'blocked', 'failed', name='rpc_journey_status', native_enum=False, length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('refusal_labels', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['booking_id'], ['bookings.id'], name=op.f('fk_rpc_journeys_booking_id_bookings')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rpc_journeys')),
    sa.UniqueConstraint('booking_id', name=op.f('uq_rpc_journeys_booking_id')),
    sa.UniqueConstraint('operator_journey_id', name=op.f('uq_rpc_journeys_operator_journey_id'))
    )
    with op.batch_alter_table('rpc_journeys', schema=None) as batch_op:
        batch_op.create_index('ix_rpc_journeys_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_rpc_journeys_operator_trip_id'), ['operator_trip_id'], unique=False)
        batch_op.create_index('ix_rpc_journeys_start', ['start_at'], unique=False)



def downgrade():
    with op.batch_alter_table('rpc_journeys', schema=None) as batch_op:
        batch_op.drop_index('ix_rpc_journeys_start')
        batch_op.drop_index(batch_op.f('ix_rpc_journeys_operator_trip_id'))
        batch_op.drop_index('ix_rpc_journeys_due')

    op.drop_table('rpc_journeys')
    op.drop_table('booking_contributions')
    op.drop_table('passenger_exemptions')
    op.drop_table('driver_contribution_choices')
