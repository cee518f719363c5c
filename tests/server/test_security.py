"""Requests the server must refuse with a 4xx JSON error, never a 500 or a traceback."""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import time

import pytest

from registry.errors import StoreError, ValidationError
from registry.server.auth import TokenTable, load_tokens, parse_token_lines
from registry.server.run import check_listen_address, is_loopback
from registry.store.http import HttpStore

from .conftest import READ_TOKEN, WRITE_TOKEN, LiveServer, child_env, free_port, request

DRAFT = {"identifier": "f", "origin": "pkg.mod:f"}


def assert_error(status: int, body: dict, expected_status: int, error_type: str) -> None:
    assert status == expected_status, body
    assert set(body["error"]) == {"type", "message", "suggestions", "context"}
    assert body["error"]["type"] == error_type
    assert "Traceback" not in body["error"]["message"]


def test_health_needs_no_token(server: LiveServer) -> None:
    assert request(server, "GET", "/health") == (
        200,
        {"status": "healthy", "service": "registry-server"},
    )


def test_stats_reports_sizes(server: LiveServer, namespace: str) -> None:
    request(server, "PUT", f"/namespaces/{namespace}", {"kind": "function"}, token=WRITE_TOKEN)
    request(server, "POST", f"/namespaces/{namespace}/entries", DRAFT, token=WRITE_TOKEN)
    status, body = request(server, "GET", "/stats", token=READ_TOKEN)
    assert status == 200
    assert body["sizes"][namespace] == 1
    assert body["namespaces"] >= 1
    assert body["entries"] >= 1


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/namespaces/{ns}", {"kind": "function"}),
        ("POST", "/namespaces/{ns}/entries", DRAFT),
        ("POST", "/namespaces/{ns}/batch", {"drafts": [DRAFT]}),
        ("DELETE", "/namespaces/{ns}/entries/f", None),
        ("DELETE", "/namespaces/{ns}/entries", None),
    ],
)
def test_writes_need_a_write_token(server: LiveServer, namespace: str, method, path, body) -> None:
    path = path.format(ns=namespace)
    status, answer = request(server, method, path, body)
    assert_error(status, answer, 401, "PermissionDeniedError")
    status, answer = request(server, method, path, body, token="not-a-token-of-this-server")
    assert_error(status, answer, 401, "PermissionDeniedError")
    status, answer = request(server, method, path, body, token=READ_TOKEN)
    assert_error(status, answer, 403, "PermissionDeniedError")
    assert request(server, "GET", f"/namespaces/{namespace}", token=READ_TOKEN)[1] == {
        "namespace": None
    }


def test_reads_need_a_token_when_tokens_are_configured(server: LiveServer) -> None:
    status, body = request(server, "GET", "/namespaces")
    assert_error(status, body, 401, "PermissionDeniedError")


def test_malformed_json_is_400(open_server: LiveServer, namespace: str) -> None:
    request(open_server, "PUT", f"/namespaces/{namespace}", {"kind": "function"})
    for raw in (b"{not json", b"", b"[1, 2", b"\xff\xfe"):
        status, body = request(open_server, "POST", f"/namespaces/{namespace}/entries", raw=raw)
        assert status in (400, 422), (raw, body)
        assert body["error"]["type"] == "ValidationError"


@pytest.mark.parametrize(
    "body",
    [
        {"identifier": "has space", "origin": "pkg.mod:f"},
        {"identifier": "a:b", "origin": "pkg.mod:f"},
        {"identifier": "", "origin": "pkg.mod:f"},
        {"identifier": "x" * 256, "origin": "pkg.mod:f"},
        {"identifier": "f", "origin": "no-colon"},
        {"identifier": "f", "origin": "pkg.mod:f", "unknown": 1},
        {"identifier": 5, "origin": "pkg.mod:f"},
        {"identifier": "f", "origin": "pkg.mod:f", "blob": {"data": "!!", "sha256": "0" * 64}},
        [],
        "text",
    ],
)
def test_bad_drafts_are_422(open_server: LiveServer, namespace: str, body) -> None:
    request(open_server, "PUT", f"/namespaces/{namespace}", {"kind": "function"})
    status, answer = request(open_server, "POST", f"/namespaces/{namespace}/entries", body)
    assert_error(status, answer, 422, "ValidationError")


def test_blob_hash_must_match_its_data(open_server: LiveServer, namespace: str) -> None:
    request(open_server, "PUT", f"/namespaces/{namespace}", {"kind": "function"})
    blob = {
        "data": "aGVsbG8=",
        "sha256": "0" * 64,
        "format": "cloudpickle",
        "python_version": "3.11",
        "pickler_version": "3",
    }
    status, answer = request(
        open_server, "POST", f"/namespaces/{namespace}/entries", {**DRAFT, "blob": blob}
    )
    assert_error(status, answer, 422, "ValidationError")


@pytest.mark.parametrize(
    "path",
    [
        "/namespaces/bad%20name",
        "/namespaces/bad:name/entries",
        "/namespaces/" + "n" * 256,
        "/namespaces/ok/entries/bad%20id",
        "/namespaces/ok/entries/a@b",
        "/blobs/not-a-hash",
    ],
)
def test_bad_names_are_422(open_server: LiveServer, path: str) -> None:
    status, body = request(open_server, "GET", path)
    assert_error(status, body, 422, "ValidationError")


def test_bad_kind_is_422(open_server: LiveServer, namespace: str) -> None:
    status, body = request(open_server, "PUT", f"/namespaces/{namespace}", {"kind": "module"})
    assert_error(status, body, 422, "ValidationError")


def test_unknown_route_and_method(open_server: LiveServer) -> None:
    assert_error(*request(open_server, "GET", "/nowhere"), 404, "ValidationError")
    assert_error(*request(open_server, "PATCH", "/namespaces"), 405, "ValidationError")


def test_oversize_body_is_413(open_server: LiveServer, namespace: str) -> None:
    big = {**DRAFT, "doc": "x" * 70_000}  # the server runs with --max-body-bytes 65536
    status, body = request(open_server, "POST", f"/namespaces/{namespace}/entries", big)
    assert_error(status, body, 413, "ValidationError")


def test_oversize_chunked_body_is_413(open_server: LiveServer, namespace: str) -> None:
    # The answer comes after the server has drained the whole body (the timeout bounds a hang,
    # it does not time the server; see the next test for the hang it once met).
    conn = http.client.HTTPConnection("127.0.0.1", open_server.port, timeout=60)
    try:
        chunks = (b"x" * 8192 for _ in range(20))
        try:
            conn.request(
                "POST",
                f"/namespaces/{namespace}/entries",
                body=chunks,
                headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
                encode_chunked=True,
            )
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer 413 and close before the last chunk is sent
        response = conn.getresponse()
        assert response.status == 413
    finally:
        conn.close()


def test_oversize_chunked_body_that_arrives_at_once_is_413() -> None:
    # The whole request in one TCP segment, so the server's first read of the body holds its
    # end as well. The server used to wait for more after such a read and answered 408 when
    # the body timeout ran out: 4 of 1,500 chunked uploads to the 64 KiB server on a busy
    # machine, whenever the rest of a body arrived together with its end.
    live = LiveServer("memory://", None, ["--max-body-bytes", "1000", "--body-timeout", "60"])
    live.start()
    try:
        chunk = b"x" * 500
        body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(4)) + b"0\r\n\r\n"
        head = (
            b"POST /namespaces/lab.big/entries HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        with socket.create_connection(("127.0.0.1", live.port), timeout=30) as connection:
            connection.sendall(head + body)
            assert connection.recv(65536).startswith(b"HTTP/1.1 413")
    finally:
        live.stop()


def test_conflict_is_409_with_registry_error(open_server: LiveServer, namespace: str) -> None:
    request(open_server, "PUT", f"/namespaces/{namespace}", {"kind": "function"})
    assert request(open_server, "POST", f"/namespaces/{namespace}/entries", DRAFT)[0] == 200
    other = {"identifier": "f", "origin": "pkg.mod:g"}
    status, body = request(open_server, "POST", f"/namespaces/{namespace}/entries", other)
    assert_error(status, body, 409, "RegistryError")
    assert body["error"]["suggestions"]


def test_register_into_missing_namespace_does_not_create_it(
    open_server: LiveServer, namespace: str
) -> None:
    status, body = request(open_server, "POST", f"/namespaces/{namespace}/entries", DRAFT)
    assert_error(status, body, 404, "NotFoundError")
    assert request(open_server, "GET", f"/namespaces/{namespace}")[1] == {"namespace": None}


def test_refuses_exposed_host_without_tokens() -> None:
    with pytest.raises(ValidationError, match="Refusing to listen on 0.0.0.0"):
        check_listen_address("0.0.0.0", {}, insecure=False)
    check_listen_address("0.0.0.0", {}, insecure=True)
    check_listen_address("0.0.0.0", {"t" * 16: "read"}, insecure=False)
    check_listen_address("127.0.0.1", {}, insecure=False)
    assert is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("lab-server.example")


def test_command_line_refuses_exposed_host_without_tokens() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "registry.server.run",
            "--host",
            "0.0.0.0",
            "--port",
            str(free_port()),
        ],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "Refusing to listen" in result.stderr
    assert "Traceback" not in result.stderr


def test_token_parsing(tmp_path, monkeypatch) -> None:
    token_file = tmp_path / "tokens"
    token_file.write_text("# lab tokens\nalice-0123456789abcdef:write\n\nbob-0123456789abcdef:ro\n")
    monkeypatch.setenv("REGISTRY_SERVER_TOKENS", "carol-0123456789abcd:read")
    tokens = load_tokens(token_file)
    assert tokens == {
        "alice-0123456789abcdef": "write",
        "bob-0123456789abcdef": "read",
        "carol-0123456789abcd": "read",
    }
    with pytest.raises(ValidationError, match="Line 1"):
        parse_token_lines(["alice-0123456789abcdef:admin"], "test")
    with pytest.raises(ValidationError, match="shorter"):
        parse_token_lines(["short:write"], "test")
    with pytest.raises(ValidationError, match="Cannot read token file"):
        load_tokens(tmp_path / "missing")


def test_token_table_scopes() -> None:
    table = TokenTable({"w" * 16: "write", "r" * 16: "read"})
    table.check("w" * 16, "write")
    table.check("r" * 16, "read")
    with pytest.raises(ValidationError):
        table.check("r" * 16, "write")
    with pytest.raises(ValidationError):
        table.check(None, "read")
    TokenTable().check(None, "write")  # no tokens configured: everything allowed


def test_host_and_port_from_environment() -> None:
    refused = subprocess.run(
        [sys.executable, "-m", "registry.server.run", "--url", "memory://"],
        env=child_env({"REGISTRY_SERVER_HOST": "0.0.0.0"}),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert refused.returncode == 2
    assert "Refusing to listen on 0.0.0.0" in refused.stderr

    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "registry.server.run",
            "--url",
            "memory://",
            "--log-level",
            "warning",
        ],
        env=child_env({"REGISTRY_SERVER_HOST": "127.0.0.1", "REGISTRY_SERVER_PORT": str(port)}),
    )
    try:
        client = HttpStore(f"http://127.0.0.1:{port}", timeout=2)
        deadline = time.monotonic() + 20
        while True:
            try:
                assert client.health()["status"] == "healthy"
                break
            except StoreError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        client.close()
    finally:
        process.terminate()
        process.wait(15)


def test_port_in_use_is_a_clear_error(open_server: LiveServer) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "registry.server.run", "--url", "memory://"]
        + ["--port", str(open_server.port), "--log-level", "critical"],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert f"could not listen on 127.0.0.1:{open_server.port}" in result.stderr
