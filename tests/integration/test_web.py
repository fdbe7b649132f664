"""The PWA's static files, history fallback, caching and security headers."""

from __future__ import annotations


def test_pwa_is_served_with_a_strict_csp_and_security_headers(client):
    page = client.get("/")
    assert page.status_code == 200
    assert "FieldQ" in page.text
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-cache"


def test_history_fallback_serves_the_shell_for_app_routes(client):
    deep = client.get("/jobs/2b9a4b0e/steps")
    assert deep.status_code == 200
    assert deep.text == client.get("/").text


def test_fingerprinted_assets_are_cached_forever_and_the_worker_is_not(client):
    asset = client.get("/assets/app-abc123.js")
    assert asset.status_code == 200
    assert "immutable" in asset.headers["cache-control"]
    assert asset.headers["content-type"].startswith("text/javascript")
    worker = client.get("/sw.js")
    assert worker.headers["cache-control"] == "no-cache"
    assert worker.headers["service-worker-allowed"] == "/"


def test_missing_files_and_traversal_are_404_not_the_shell(client):
    assert client.get("/assets/missing-file.js").status_code == 404
    for path in ("/..%2f..%2fetc%2fpasswd", "/%2e%2e/%2e%2e/etc/passwd", "/assets/../../conftest.py"):
        response = client.get(path)
        assert response.status_code in (200, 404), path
        assert "root:" not in response.text and "import" not in response.text


def test_api_errors_carry_a_locked_down_csp(client):
    response = client.get("/api/users")
    assert response.status_code == 401
    assert response.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    unknown = client.get("/api/no-such-endpoint")
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "NOT_FOUND"


def test_hostile_paths_are_404_never_500(client):
    for path in ("/%00", "/assets/%00.js", "/" + "a" * 300, "/" + "a" * 300 + ".js"):
        response = client.get(path)
        assert response.status_code in (200, 404), (path, response.status_code)
