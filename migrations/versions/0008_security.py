"""security: per-user session token (ends sessions and "remember me" cookies)

Revision ID: 0008_security
Revises: 0007_places
Create Date: 2026-12-01 22:15:00

"""
import secrets

from alembic import op
import sqlalchemy as sa

revision = '0008_security'
down_revision = '0007_places'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_token', sa.String(length=64), nullable=True))
    # every existing account gets its own token: the sessions and cookies issued before
    # (which held the bare id) stop working, as they should
    conn = op.get_bind()
    users = sa.table('users', sa.column('id', sa.Integer), sa.column('session_token', sa.String))
    for (user_id,) in conn.execute(sa.select(users.c.id)).all():
        conn.execute(users.update().where(users.c.id == user_id)
                     .values(session_token=secrets.token_urlsafe(32)))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('session_token')
