"""The OpenAPI document: served, with an interactive UI, every operation named and its errors documented."""

from __future__ import annotations


def test_every_operation_has_an_id_and_documents_its_errors(client):
    schema = client.get("/api/schema/openapi.json").json()
    assert schema["openapi"].startswith("3.")
    operation_ids = []
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete", "head"):
                continue
            assert operation.get("operationId"), f"{method} {path} has no operationId"
            assert not operation["operationId"].startswith(("Api", "api")), operation["operationId"]
            operation_ids.append(operation["operationId"])
            responses = operation["responses"]
            public = operation.get("security") == [] or path in (
                "/api/auth/login",
                "/api/auth/refresh",
                "/api/auth/logout",
                "/api/health",
            )
            if not public:
                assert "401" in responses and "403" in responses, f"{method} {path} does not document 401/403"
            if operation.get("requestBody"):
                assert "400" in responses, f"{method} {path} takes a body but does not document 400"
                assert "413" in responses, f"{method} {path} takes a body but does not document 413"
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    content = response["content"]["application/json"]["schema"]
                    assert "$ref" in content and content["$ref"].endswith("ErrorBody"), (path, status)
    assert len(operation_ids) == len(set(operation_ids))
    assert {"login", "refreshTokens", "logout", "createUser", "revokeDevice"} <= set(operation_ids)
    assert "BearerToken" in schema["components"]["securitySchemes"]
    error_body = schema["components"]["schemas"]["ErrorBody"]
    assert set(error_body["required"]) == {"code", "message"}


def test_interactive_docs_are_served(client):
    page = client.get("/api/schema/swagger")
    assert page.status_code == 200
    assert "swagger" in page.text.lower()
    assert client.get("/api/schema/openapi.yaml").status_code == 200
