"""The API's bodies, as the OpenAPI document states them: what validates here is what the schema allows.

JSON Schema's types, not Python's: an integer is any JSON number without a fraction (``3`` or
``3.0``), never ``"3"`` or ``true``; strings are kept as sent (no trimming that would change a
length the schema checked). So no value the schema rejects is accepted after a coercion, and
none it allows is refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import MISSING, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

# Page size rule: default 50, at most 100; a larger `limit` is rejected with 422.
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100
MAX_OFFSET = 10_000_000

MAX_ITEM_ID = 2**63 - 1  # the id column is a signed BIGINT

NAME_MAX_LENGTH = 200  # the column is VARCHAR(200)
DESCRIPTION_MAX_LENGTH = 2000
MAX_QUANTITY = 1_000_000_000  # within the column's INT

_BODY = ConfigDict(extra="forbid")


def _a_json_number(value: object) -> object:
    # Pydantic's lax int also takes numeric strings and booleans; JSON Schema's integer does not.
    if isinstance(value, str | bool):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


Name = Annotated[str, Field(min_length=1, max_length=NAME_MAX_LENGTH)]
Description = Annotated[str, Field(max_length=DESCRIPTION_MAX_LENGTH)]
# The constraints before the validator: after it, pydantic writes them as `ge`/`le`, which JSON Schema ignores.
Quantity = Annotated[int, Field(ge=0, le=MAX_QUANTITY), BeforeValidator(_a_json_number)]


class ItemIn(BaseModel):
    """Body of POST and PUT (PUT replaces every field)."""

    model_config = _BODY

    name: Name
    description: Description | None = None
    quantity: Quantity = 0


class ItemPatch(BaseModel):
    """Body of PATCH: only the fields sent change. `name` and `quantity` may be left out, not sent as null."""

    model_config = _BODY

    name: Name | MISSING = MISSING
    description: Description | MISSING | None = MISSING
    quantity: Quantity | MISSING = MISSING

    def changes(self) -> dict[str, Any]:
        return self.model_dump()  # fields left out are MISSING, which a dump omits


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


class ImportIn(BaseModel):
    """Body of POST /api/v1/imports: items as POST /api/v1/items takes them, at least one.

    The most a request may carry is a setting (IMPORT_MAX_ITEMS), checked before the items are
    validated (service/api/imports.py); the document cannot state it, so the description does.
    """

    model_config = _BODY

    items: list[ItemIn] = Field(
        min_length=1, description="Items to create, in order; at most IMPORT_MAX_ITEMS (default 1000)."
    )


class ImportAccepted(BaseModel):
    """202 to POST /api/v1/imports: the job, queued; its state is at ``GET /api/v1/imports/{id}``."""

    id: int
    state: Literal["queued"]
    total: int


class ImportProblem(BaseModel):
    """An item the worker could not insert, by its position in the request (0-based)."""

    position: int
    detail: str


class ImportOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    state: Literal["queued", "running", "succeeded", "failed"]
    total: int = Field(description="items in the request")
    inserted: int = Field(description="items created")
    failed: int = Field(description="items refused by the database, or left undone by a failed job")
    attempts: int = Field(description="task runs that worked on the job (more than 1 after a worker was lost)")
    errors: list[ImportProblem] = Field(description="why items failed, at most 100 listed")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class Problem(BaseModel):
    detail: str


CheckState = Literal["ok", "unavailable"]


class Checks(BaseModel):
    database: CheckState
    redis: CheckState


class Readiness(BaseModel):
    status: Literal["ok", "degraded", "unavailable"]
    checks: Checks
