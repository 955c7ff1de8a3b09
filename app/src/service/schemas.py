from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Page size rule: default 50, at most 100; a larger `limit` is rejected with 422.
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100

NameField = Field(min_length=1, max_length=200)
DescriptionField = Field(default=None, max_length=2000)
QuantityField = Field(default=0, ge=0, le=1_000_000_000)


class ItemIn(BaseModel):
    """Body of POST and PUT (PUT replaces every field)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = NameField
    description: str | None = DescriptionField
    quantity: int = QuantityField


class ItemPatch(BaseModel):
    """Body of PATCH: only the fields sent are changed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = DescriptionField
    quantity: int | None = Field(default=None, ge=0, le=1_000_000_000)

    @model_validator(mode="after")
    def _no_null_for_required(self) -> ItemPatch:
        for field in ("name", "quantity"):
            if field in self.model_fields_set and getattr(self, field) is None:
                raise ValueError(f"{field} may not be null")
        return self

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class ItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str | None
    quantity: int
    created_at: datetime
    updated_at: datetime


class ItemPage(BaseModel):
    items: list[ItemOut]
    total: int
    limit: int
    offset: int


class Problem(BaseModel):
    detail: str
