"""Models and their versions, as registered in the database."""

from __future__ import annotations

from dataclasses import asdict
from functools import cache
from typing import Any

from sqlalchemy import Connection, Row, Select, String, bindparam, select, update

from jobline.domain.records import InputSpec, Model, ModelVersion, OutputSpec
from jobline.store.tables import model_versions, models


def register(conn: Connection, name: str, description: str, version: ModelVersion) -> None:
    """Create or refresh a model and one of its versions (what the code declares wins)."""
    model_id = conn.execute(
        select(models.c.id).where(models.c.identifier == version.model_identifier)
    ).scalar()
    if model_id is None:
        model_id = conn.execute(
            models.insert()
            .values(identifier=version.model_identifier, name=name, description=description)
            .returning(models.c.id)
        ).scalar_one()
    else:
        conn.execute(
            update(models).where(models.c.id == model_id).values(name=name, description=description)
        )
    values: dict[str, Any] = {
        "inputs": [asdict(spec) for spec in version.inputs],
        "outputs": [asdict(spec) for spec in version.outputs],
        "timeout_seconds": version.timeout_seconds,
        "entry_point": version.entry_point,
    }
    where = (model_versions.c.model_id == model_id, model_versions.c.version == version.version)
    if conn.execute(select(model_versions.c.id).where(*where)).first() is None:
        conn.execute(
            model_versions.insert().values(model_id=model_id, version=version.version, **values)
        )
    else:
        conn.execute(update(model_versions).where(*where).values(**values))


def list_models(conn: Connection, identifier: str | None = None) -> list[Model]:
    """Every model with its versions, oldest version first (or just the one named), in one
    query: every submission asks."""
    named = {"identifier": identifier} if identifier is not None else {}
    rows_of: dict[int, list[Row[Any]]] = {}
    for row in conn.execute(_models(identifier is not None), named):
        rows_of.setdefault(row.id, []).append(row)
    return [
        Model(
            id=rows[0].id,
            identifier=rows[0].model_identifier,
            name=rows[0].name,
            description=rows[0].description,
            versions=tuple(_version(row) for row in rows if row.version is not None),
        )
        for rows in rows_of.values()
    ]


@cache
def _models(named: bool) -> Select[Any]:
    """Models with their versions; ``named``: the one of parameter ``identifier``."""
    query = (
        select(
            models.c.id,
            models.c.name,
            models.c.description,
            models.c.identifier.label("model_identifier"),
            *(model_versions.c[name] for name in _VERSION_COLUMNS),
        )
        .select_from(models.outerjoin(model_versions, model_versions.c.model_id == models.c.id))
        .order_by(models.c.identifier, model_versions.c.id)
    )
    if named:
        query = query.where(models.c.identifier == bindparam("identifier", type_=String()))
    return query


# What a ModelVersion is read from, besides its model's identifier.
_VERSION_COLUMNS = ("version", "inputs", "outputs", "timeout_seconds", "entry_point", "created_at")


def get_model(conn: Connection, identifier: str) -> Model | None:
    found = list_models(conn, identifier)
    return found[0] if found else None


def _version(row: Row[Any]) -> ModelVersion:
    return ModelVersion(
        model_identifier=row.model_identifier,
        version=row.version,
        inputs=tuple(
            InputSpec(**{**spec, "media_types": tuple(spec["media_types"])}) for spec in row.inputs
        ),
        outputs=tuple(OutputSpec(**spec) for spec in row.outputs),
        timeout_seconds=row.timeout_seconds,
        entry_point=row.entry_point,
        created_at=row.created_at,
    )
