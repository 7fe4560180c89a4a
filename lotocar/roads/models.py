"""Road graph and place-to-place matrix tables, versioned by `road_graphs.id`.

A load creates a new graph version and makes it current; older versions are deleted with
their vertices, edges and matrix (foreign keys ON DELETE CASCADE). The matrix rows of a
graph are only ever read with that graph: a matrix can never outlive the graph it came from.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from lotocar.core.types import POINT, UTCDateTime
from lotocar.extensions import db


class RoadGraph(db.Model):
    """One import of an OpenStreetMap extract (a version of the road graph)."""

    __tablename__ = "road_graphs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_name: Mapped[str] = mapped_column(String(255))
    source_sha256: Mapped[str] = mapped_column(String(64))
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    speeds: Mapped[str] = mapped_column(Text)          # "class=km/h,…" used for the costs
    access_kmh: Mapped[float] = mapped_column(Float)   # from a point to its nearest vertex
    max_kmh: Mapped[float] = mapped_column(Float)      # fastest speed of any edge or access leg
    vertices: Mapped[int] = mapped_column(Integer)
    edges: Mapped[int] = mapped_column(Integer)
    routable_vertices: Mapped[int] = mapped_column(Integer)
    is_current: Mapped[bool] = mapped_column(Boolean, default=False)
    matrix_built_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    matrix_within_km: Mapped[float | None] = mapped_column(Float, nullable=True)
    matrix_pairs: Mapped[int] = mapped_column(Integer, default=0)

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"<RoadGraph {self.id} {self.source_name}>"


class RoadVertex(db.Model):
    __tablename__ = "road_vertices"

    graph_id: Mapped[int] = mapped_column(ForeignKey("road_graphs.id", ondelete="CASCADE"), primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    # in the graph's largest strongly connected component: points only snap onto those
    routable: Mapped[bool] = mapped_column(Boolean, default=False)
    geom: Mapped[object] = mapped_column(POINT)

    __table_args__ = (Index("ix_road_vertices_geom", "geom", postgresql_using="gist"),)


class RoadEdge(db.Model):
    """A directed-or-not road segment between two vertices; a negative cost = one way."""

    __tablename__ = "road_edges"

    graph_id: Mapped[int] = mapped_column(ForeignKey("road_graphs.id", ondelete="CASCADE"), primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    source: Mapped[int] = mapped_column(BigInteger)
    target: Mapped[int] = mapped_column(BigInteger)
    osm_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    road_class: Mapped[str] = mapped_column(String(40))
    name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    length_m: Mapped[float] = mapped_column(Float)       # spherical length of the geometry
    cost_s: Mapped[float] = mapped_column(Float)         # seconds source -> target (< 0: closed)
    reverse_cost_s: Mapped[float] = mapped_column(Float)  # seconds target -> source (< 0: closed)


class RoadPlace(db.Model):
    """A place of the matrix: its point when the matrix was computed and where it snaps."""

    __tablename__ = "road_places"

    graph_id: Mapped[int] = mapped_column(ForeignKey("road_graphs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(20), primary_key=True)   # the place's code (INSEE…)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    vertex_id: Mapped[int] = mapped_column(BigInteger)
    snap_km: Mapped[float] = mapped_column(Float)


class RoadLeg(db.Model):
    """Road minutes and km from one place to another on one graph version."""

    __tablename__ = "road_legs"

    graph_id: Mapped[int] = mapped_column(ForeignKey("road_graphs.id", ondelete="CASCADE"), primary_key=True)
    origin: Mapped[str] = mapped_column(String(20), primary_key=True)
    destination: Mapped[str] = mapped_column(String(20), primary_key=True)
    minutes: Mapped[float] = mapped_column(Float)
    km: Mapped[float] = mapped_column(Float)
