"""The health answer: the service's state and the database schema's revision against the code's."""

from __future__ import annotations

from pydantic import BaseModel


class HealthRead(BaseModel):
    status: str
    schema_revision: str | None = None
    head_revision: str | None = None
