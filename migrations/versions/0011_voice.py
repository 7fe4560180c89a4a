"""voice calls: outbox channel and call attempts, passengers' call consent (issue #17)

Revision ID: 0011_voice
Revises: 0010_money
Create Date: 2026-12-01 22:00:00

"""
from alembic import op
import sqlalchemy as sa

revision = '0011_voice'
down_revision = '0010_money'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('sms_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channel', sa.Enum('sms', 'voice', name='message_channel',
                                                         native_enum=False, length=20),
                                      server_default='sms', nullable=False))
        batch_op.add_column(sa.Column('attempt', sa.Integer(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('twiml_token', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('twiml_served_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('answered_by', sa.String(length=30), nullable=True))
        batch_op.add_column(sa.Column('digit', sa.String(length=1), nullable=True))
        batch_op.add_column(sa.Column('digit_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('call_seconds', sa.Integer(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_sms_messages_twiml_token'), ['twiml_token'])
    with op.batch_alter_table('passengers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('call_consent_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('call_consent_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('prefers_calls', sa.Boolean(), server_default='0', nullable=False))
        batch_op.create_foreign_key(batch_op.f('fk_passengers_call_consent_by_id_users'), 'users',
                                    ['call_consent_by_id'], ['id'])


def downgrade():
    with op.batch_alter_table('passengers', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_passengers_call_consent_by_id_users'), type_='foreignkey')
        batch_op.drop_column('prefers_calls')
        batch_op.drop_column('call_consent_by_id')
        batch_op.drop_column('call_consent_at')
    with op.batch_alter_table('sms_messages', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_sms_messages_twiml_token'), type_='unique')
        batch_op.drop_column('call_seconds')
        batch_op.drop_column('digit_at')
        batch_op.drop_column('digit')
        batch_op.drop_column('answered_by')
        batch_op.drop_column('twiml_token')
        batch_op.drop_column('twiml_served_at')
        batch_op.drop_column('attempt')
        batch_op.drop_column('channel')
