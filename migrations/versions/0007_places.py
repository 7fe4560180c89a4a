"""places: communes around the Lot (département) and former communes

Revision ID: 0007_places
Revises: 0006_promise_version
Create Date: 2026-12-01 22:00:00

"""
from alembic import op
import sqlalchemy as sa

revision = '0007_places'
down_revision = '0006_promise_version'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('communes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('departement', sa.String(length=3), server_default='46',
                                      nullable=False))
        batch_op.create_index(batch_op.f('ix_communes_departement'), ['departement'], unique=False)
    op.create_table('former_communes',
    sa.Column('former_insee', sa.String(length=5), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('commune_insee', sa.String(length=5), nullable=False),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('lon', sa.Float(), nullable=False),
    sa.Column('merged_on', sa.Date(), nullable=False),
    sa.Column('delegated', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['commune_insee'], ['communes.insee'],
                            name=op.f('fk_former_communes_commune_insee_communes')),
    sa.PrimaryKeyConstraint('former_insee', name=op.f('pk_former_communes'))
    )
    with op.batch_alter_table('former_communes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_former_communes_commune_insee'), ['commune_insee'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('former_communes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_former_communes_commune_insee'))
    op.drop_table('former_communes')
    with op.batch_alter_table('communes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_communes_departement'))
        batch_op.drop_column('departement')
