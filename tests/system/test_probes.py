"""Operational routes and the published API description."""

import httpx


async def test_health_and_ready_answer_without_a_token(client: httpx.AsyncClient) -> None:
    health = await client.get("/health")
    ready = await client.get("/ready")

    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})


async def test_docs_are_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs")

    assert response.status_code == 200
    assert "swagger" in response.text.lower()


async def test_openapi_describes_every_route_security_and_problems(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()

    paths = spec["paths"]
    assert set(paths["/api/tasks"]) == {"get", "post"}
    assert set(paths["/api/tasks/{task_id}"]) == {"get", "put", "patch", "delete"}
    assert set(paths["/api/tasks/{task_id}/complete"]) == {"patch"}
    assert "/api/{user_id}/tasks/{task_id}" in paths
    assert "/api/me" in paths
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert "Problem" in spec["components"]["schemas"]
    not_found = paths["/api/tasks/{task_id}"]["get"]["responses"]["404"]
    assert "application/problem+json" in not_found["content"]
    created = paths["/api/tasks"]["post"]["responses"]["201"]
    assert "Location" in created["headers"]
    assert spec["components"]["schemas"]["TaskCreate"]["additionalProperties"] is False
    assert spec["components"]["schemas"]["TaskRead"]["examples"]
