"""roads: road graph (pgRouting) and place-to-place matrix, versioned by graph (issue #19)

Revision ID: 0009_roads
Revises: 0008_security
Create Date: 2026-12-01 21:56:45.517150

"""
from alembic import op
import sqlalchemy as sa
from geoalchemy2 import Geography

# revision identifiers, used by Alembic.
revision = '0009_roads'
down_revision = '0008_security'
branch_labels = None
depends_on = None


def upgrade():
    
    op.create_table('road_graphs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source_name', sa.String(length=255), nullable=False),
    sa.Column('source_sha256', sa.String(length=64), nullable=False),
    sa.Column('loaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('speeds', sa.Text(), nullable=False),
    sa.Column('access_kmh', sa.Float(), nullable=False),
    sa.Column('max_kmh', sa.Float(), nullable=False),
    sa.Column('vertices', sa.Integer(), nullable=False),
    sa.Column('edges', sa.Integer(), nullable=False),
    sa.Column('routable_vertices', sa.Integer(), nullable=False),
    sa.Column('is_current', sa.Boolean(), nullable=False),
    sa.Column('matrix_built_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('matrix_within_km', sa.Float(), nullable=True),
    sa.Column('matrix_pairs', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_road_graphs'))
    )
    op.create_table('road_edges',
    sa.Column('graph_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('source', sa.BigInteger(), nullable=False),
    sa.Column('target', sa.BigInteger(), nullable=False),
    sa.Column('osm_id', sa.BigInteger(), nullable=True),
    sa.Column('road_class', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('length_m', sa.Float(), nullable=False),
    sa.Column('cost_s', sa.Float(), nullable=False),
    sa.Column('reverse_cost_s', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['graph_id'], ['road_graphs.id'], name=op.f('fk_road_edges_graph_id_road_graphs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('graph_id', 'id', name=op.f('pk_road_edges'))
    )
    op.create_table('road_legs',
    sa.Column('graph_id', sa.Integer(), nullable=False),
    sa.Column('origin', sa.String(length=20), nullable=False),
    sa.Column('destination', sa.String(length=20), nullable=False),
    sa.Column('minutes', sa.Float(), nullable=False),
    sa.Column('km', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['graph_id'], ['road_graphs.id'], name=op.f('fk_road_legs_graph_id_road_graphs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('graph_id', 'origin', 'destination', name=op.f('pk_road_legs'))
    )
    op.create_table('road_places',
    sa.Column('graph_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=20), nullable=False),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('lon', sa.Float(), nullable=False),
    sa.Column('vertex_id', sa.BigInteger(), nullable=False),
    sa.Column('snap_km', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['graph_id'], ['road_graphs.id'], name=op.f('fk_road_places_graph_id_road_graphs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('graph_id', 'key', name=op.f('pk_road_places'))
    )
    op.create_table('road_vertices',
    sa.Column('graph_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('lon', sa.Float(), nullable=False),
    sa.Column('routable', sa.Boolean(), nullable=False),
    sa.Column('geom', sa.Text().with_variant(Geography(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeogFromText', name='geography'), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['graph_id'], ['road_graphs.id'], name=op.f('fk_road_vertices_graph_id_road_graphs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('graph_id', 'id', name=op.f('pk_road_vertices'))
    )
    with op.batch_alter_table('road_vertices', schema=None) as batch_op:
        batch_op.create_index('ix_road_vertices_geom', ['geom'], unique=False, postgresql_using='gist')

    


def downgrade():
    
    with op.batch_alter_table('road_vertices', schema=None) as batch_op:
        batch_op.drop_index('ix_road_vertices_geom', postgresql_using='gist')

    op.drop_table('road_vertices')
    op.drop_table('road_places')
    op.drop_table('road_legs')
    op.drop_table('road_edges')
    op.drop_table('road_graphs')
    
