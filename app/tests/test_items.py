from __future__ import annotations

import httpx

from service.schemas import MAX_PAGE_SIZE


async def create(client: httpx.AsyncClient, name: str = "widget", **fields: object) -> dict[str, object]:
    response = await client.post("/api/v1/items", json={"name": name, **fields})
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


async def test_create_item_returns_201_with_id_and_timestamps(client: httpx.AsyncClient) -> None:
    body = await create(client, "widget", description="blue", quantity=3)
    assert isinstance(body["id"], int)
    assert body["name"] == "widget"
    assert body["description"] == "blue"
    assert body["quantity"] == 3
    assert str(body["created_at"]).endswith("Z") or "+00:00" in str(body["created_at"])


async def test_get_item_returns_the_stored_item(client: httpx.AsyncClient) -> None:
    created = await create(client, "gear", quantity=7)
    response = await client.get(f"/api/v1/items/{created['id']}")
    assert response.status_code == 200
    assert response.json() == created


async def test_get_unknown_item_returns_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/items/999999")
    assert response.status_code == 404
    assert response.json() == {"detail": "item not found"}


async def test_non_numeric_item_id_returns_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/items/abc")
    assert response.status_code == 422


async def test_list_items_paginates_in_id_order(client: httpx.AsyncClient) -> None:
    ids = [(await create(client, f"item-{i}"))["id"] for i in range(5)]
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


async def test_put_replaces_every_field(client: httpx.AsyncClient) -> None:
    created = await create(client, "old", description="text", quantity=1)
    response = await client.put(f"/api/v1/items/{created['id']}", json={"name": "new"})
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["description"], body["quantity"]) == ("new", None, 0)


async def test_patch_changes_only_the_fields_sent(client: httpx.AsyncClient) -> None:
    created = await create(client, "keep", description="text", quantity=1)
    response = await client.patch(f"/api/v1/items/{created['id']}", json={"quantity": 9})
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["description"], body["quantity"]) == ("keep", "text", 9)


async def test_patch_rejects_null_name(client: httpx.AsyncClient) -> None:
    created = await create(client)
    response = await client.patch(f"/api/v1/items/{created['id']}", json={"name": None})
    assert response.status_code == 422


async def test_update_unknown_item_returns_404(client: httpx.AsyncClient) -> None:
    response = await client.put("/api/v1/items/999999", json={"name": "x"})
    assert response.status_code == 404


async def test_delete_item_removes_it(client: httpx.AsyncClient) -> None:
    created = await create(client)
    assert (await client.delete(f"/api/v1/items/{created['id']}")).status_code == 204
    assert (await client.get(f"/api/v1/items/{created['id']}")).status_code == 404


async def test_delete_unknown_item_returns_404(client: httpx.AsyncClient) -> None:
    response = await client.delete("/api/v1/items/999999")
    assert response.status_code == 404
