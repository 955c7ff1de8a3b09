from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from service.schemas import MAX_PAGE_SIZE, NAME_MAX_LENGTH, ItemOut, Problem
from service_tests.api import create_item


async def test_create_item_returns_201_with_id_and_timestamps(client: httpx.AsyncClient) -> None:
    body = await create_item(client, "widget", description="blue", quantity=3)
    item = ItemOut.model_validate(body)
    assert (item.name, item.description, item.quantity) == ("widget", "blue", 3)
    assert item.created_at.utcoffset() is not None and not item.created_at.utcoffset()  # UTC, and says so


async def test_get_item_returns_the_stored_item(client: httpx.AsyncClient) -> None:
    created = await create_item(client, "gear", quantity=7)
    response = await client.get(f"/api/v1/items/{created['id']}")
    assert response.status_code == 200
    assert response.json() == created


async def test_get_unknown_item_returns_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/items/999999")
    assert response.status_code == 404
    Problem.model_validate(response.json())


async def test_non_numeric_item_id_returns_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/items/abc")
    assert response.status_code == 422


async def test_list_items_paginates_in_id_order(client: httpx.AsyncClient) -> None:
    ids = [(await create_item(client, f"item-{i}"))["id"] for i in range(5)]
    first = (await client.get("/api/v1/items", params={"limit": 2, "offset": 0})).json()
    second = (await client.get("/api/v1/items", params={"limit": 2, "offset": 2})).json()
    assert [i["id"] for i in first["items"]] == ids[:2]
    assert [i["id"] for i in second["items"]] == ids[2:4]
    assert first["total"] == 5
    assert (first["limit"], second["offset"]) == (2, 2)


async def test_list_items_rejects_page_size_above_maximum(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/items", params={"limit": MAX_PAGE_SIZE + 1})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "limit"]


async def test_list_items_rejects_negative_offset(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/items", params={"offset": -1})
    assert response.status_code == 422


async def test_create_item_with_invalid_body_returns_field_errors(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/items", json={"name": "", "quantity": -1, "colour": "red"})
    assert response.status_code == 422
    locations = {tuple(e["loc"]) for e in response.json()["detail"]}
    assert {("body", "name"), ("body", "quantity"), ("body", "colour")} <= locations


@pytest.mark.parametrize(
    ("field", "value"),
    [("quantity", "3"), ("quantity", True), ("quantity", 1.5), ("name", 7), ("description", ["a"])],
    ids=["quantity-as-string", "quantity-as-boolean", "quantity-as-fraction", "name-as-number", "description-as-list"],
)
async def test_a_value_of_another_json_type_is_a_field_error_not_coerced(
    client: httpx.AsyncClient, field: str, value: object
) -> None:
    response = await client.post("/api/v1/items", json={"name": "typed", field: value})
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["body", field]]


async def test_strings_are_stored_as_sent(client: httpx.AsyncClient) -> None:
    # What the schema accepts is what is stored: no trimming that would change a value's length.
    name = " padded ".ljust(NAME_MAX_LENGTH - 2, "é") + "🚀\t"  # the longest allowed, spaces at both ends
    body = await create_item(client, name)
    assert body["name"] == name
    assert (await client.get(f"/api/v1/items/{body['id']}")).json()["name"] == name


async def test_put_replaces_every_field(client: httpx.AsyncClient) -> None:
    created = await create_item(client, "old", description="text", quantity=1)
    response = await client.put(f"/api/v1/items/{created['id']}", json={"name": "new"})
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["description"], body["quantity"]) == ("new", None, 0)


async def test_patch_changes_only_the_fields_sent(client: httpx.AsyncClient) -> None:
    created = await create_item(client, "keep", description="text", quantity=1)
    response = await client.patch(f"/api/v1/items/{created['id']}", json={"quantity": 9})
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["description"], body["quantity"]) == ("keep", "text", 9)


async def test_patch_with_null_description_clears_it(client: httpx.AsyncClient) -> None:
    created = await create_item(client, "keep", description="text")
    response = await client.patch(f"/api/v1/items/{created['id']}", json={"description": None})
    assert (response.status_code, response.json()["description"]) == (200, None)


@pytest.mark.parametrize("field", ["name", "quantity"])
async def test_patch_with_null_for_a_required_field_is_a_field_error(client: httpx.AsyncClient, field: str) -> None:
    created = await create_item(client)
    response = await client.patch(f"/api/v1/items/{created['id']}", json={field: None})
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["body", field]]


def test_patch_schema_says_name_and_quantity_may_be_left_out_but_not_null(app: FastAPI) -> None:
    (patch,) = [r for r in app.routes if isinstance(r, APIRoute) and "PATCH" in (r.methods or ())]
    document = app.openapi()
    reference = document["paths"][patch.path_format]["patch"]["requestBody"]["content"]["application/json"]["schema"]
    schema = document["components"]["schemas"][reference["$ref"].rsplit("/", 1)[1]]
    assert schema.get("required", []) == []
    for field in ("name", "quantity"):
        assert "null" not in str(schema["properties"][field]), field


async def test_patch_with_a_null_body_is_a_field_error(client: httpx.AsyncClient) -> None:
    created = await create_item(client)
    response = await client.patch(
        f"/api/v1/items/{created['id']}", content=b"null", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][0] == "body"


async def test_update_unknown_item_returns_404(client: httpx.AsyncClient) -> None:
    response = await client.put("/api/v1/items/999999", json={"name": "x"})
    assert response.status_code == 404


async def test_delete_item_removes_it(client: httpx.AsyncClient) -> None:
    created = await create_item(client)
    assert (await client.delete(f"/api/v1/items/{created['id']}")).status_code == 204
    assert (await client.get(f"/api/v1/items/{created['id']}")).status_code == 404


async def test_delete_unknown_item_returns_404(client: httpx.AsyncClient) -> None:
    response = await client.delete("/api/v1/items/999999")
    assert response.status_code == 404
