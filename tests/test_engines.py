"""Config files and network sources: ConfigFileEngine, SocketEngine, dump_config."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry import (
    ConfigFileEngine,
    RegistryError,
    SchemeRegistry,
    SocketEngine,
    ValidationError,
    dump_config,
    load_config_file,
)


@dataclass
class Level5:
    value: float


class Level4:
    def __init__(self, inner: Level5, name: str = "four") -> None:
        self.inner = inner
        self.name = name

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)

    __hash__ = None  # type: ignore[assignment]


class Level3:
    def __init__(self, items: list[Level4], scale: int = 1) -> None:
        self.items = items
        self.scale = scale

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)

    __hash__ = None  # type: ignore[assignment]


def level2(block: Level3, tags: list[str]) -> dict[str, Any]:
    return {"block": block, "tags": tags}


def level1(body: dict, seed: int = 0) -> dict[str, Any]:
    return {"body": body, "seed": seed}


class Lab(SchemeRegistry):
    """Registry for the file and network tests."""


for _artifact in (Level5, Level4, Level3, level2, level1):
    Lab.register_artifact(_artifact)

FIVE_LEVELS: dict[str, Any] = {
    "seed": 7,
    "body": {
        "_type": "level2",
        "tags": ["a", "b"],
        "block": {
            "_type": "Level3",
            "scale": "2",
            "items": [
                {"_type": "Level4", "inner": {"_type": "Level5", "value": "0.5"}},
                {"_type": "Level4", "name": "x", "inner": {"value": 1}},
            ],
        },
    },
}

YAML_TEXT = """\
seed: 7
body:
  _type: level2
  tags: [a, b]
  block:
    _type: Level3
    scale: "2"
    items:
      - _type: Level4
        inner: {_type: Level5, value: "0.5"}
      - _type: Level4
        name: x
        inner: {value: 1}
"""

TOML_TEXT = """\
seed = 7

[body]
_type = "level2"
tags = ["a", "b"]

[body.block]
_type = "Level3"
scale = "2"

[[body.block.items]]
_type = "Level4"
inner = { _type = "Level5", value = "0.5" }

[[body.block.items]]
_type = "Level4"
name = "x"
inner = { value = 1 }
"""


def expected_five_levels() -> dict[str, Any]:
    block = Level3(items=[Level4(Level5(0.5)), Level4(Level5(1.0), name="x")], scale=2)
    return {"body": {"block": block, "tags": ["a", "b"]}, "seed": 7}


# --------------------------------------------------------------------------- files


def test_five_levels_from_yaml_json_and_toml_are_equal(tmp_path: Path) -> None:
    (tmp_path / "run.yaml").write_text(YAML_TEXT)
    (tmp_path / "run.json").write_text(json.dumps(FIVE_LEVELS))
    (tmp_path / "run.toml").write_text(TOML_TEXT)
    built = [
        Lab.factorize_from_file("level1", tmp_path / name)
        for name in ("run.yaml", "run.json", "run.toml")
    ]
    assert built[0] == built[1] == built[2] == expected_five_levels()


def test_yml_suffix_and_engine_override(tmp_path: Path) -> None:
    (tmp_path / "run.yml").write_text(YAML_TEXT)
    (tmp_path / "run.cfg").write_text(YAML_TEXT)
    assert Lab.factorize_from_file("level1", tmp_path / "run.yml") == expected_five_levels()
    assert Lab.factorize_from_file("level1", str(tmp_path / "run.cfg"), engine="yaml") == (
        expected_five_levels()
    )


def test_missing_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ValidationError) as caught:
        Lab.factorize_from_file("level1", missing)
    assert str(missing) in caught.value.message
    assert caught.value.context["file"] == str(missing)


def test_unknown_suffix_suggests_engines(tmp_path: Path) -> None:
    path = tmp_path / "run.yamll"
    path.write_text(YAML_TEXT)
    with pytest.raises(ValidationError) as caught:
        load_config_file(path)
    assert str(path) in caught.value.message
    assert any("'yaml'" in hint for hint in caught.value.suggestions)
    with pytest.raises(ValidationError, match="no suffix"):
        load_config_file(tmp_path / "Makefile")


@pytest.mark.parametrize(
    ("name", "text", "line"),
    [
        ("bad.json", '{\n  "seed": 1,\n  "body": }\n', 3),
        ("bad.yaml", "seed: 1\nbody: [1, 2\nother: 3\n", 3),
        ("bad.toml", 'seed = 1\nbody = "unterminated\n', 2),
    ],
)
def test_parse_errors_name_file_and_line(tmp_path: Path, name: str, text: str, line: int) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ValidationError) as caught:
        load_config_file(path)
    assert str(path) in caught.value.message
    assert caught.value.context["line"] == line
    assert f"line {line}" in caught.value.message


def test_yaml_is_loaded_safely(tmp_path: Path) -> None:
    path = tmp_path / "evil.yaml"
    path.write_text("seed: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ValidationError) as caught:
        load_config_file(path)
    assert str(path) in caught.value.message


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text("[1, 2]")
    with pytest.raises(ValidationError, match="mapping"):
        Lab.factorize_from_file("level1", path)


def test_users_add_a_config_file_engine(tmp_path: Path) -> None:
    import configparser

    @ConfigFileEngine.register_artifact
    def ini(filepath: Path) -> dict[str, Any]:
        parser = configparser.ConfigParser()
        parser.read(filepath)
        return dict(parser["run"])

    def broken(filepath: Path) -> dict[str, Any]:
        raise RuntimeError("cannot")

    ConfigFileEngine.register_artifact("broken", broken)
    try:
        path = tmp_path / "run.ini"
        path.write_text("[run]\nvalue = 2.5\n")
        assert Lab.factorize_from_file("Level5", path) == Level5(2.5)
        with pytest.raises(ValidationError) as caught:
            Lab.factorize_from_file("Level5", path, engine="broken")
        assert str(path) in caught.value.message
        assert isinstance(caught.value.__cause__, RuntimeError)
    finally:
        ConfigFileEngine.unregister_identifier("ini")
        ConfigFileEngine.unregister_identifier("broken")


# --------------------------------------------------------------------------- writing


@pytest.mark.parametrize("suffix", ["yaml", "yml", "json", "toml"])
def test_round_trip_object_config_file_object(tmp_path: Path, suffix: str) -> None:
    built = Lab.factorize_artifact("level1", **FIVE_LEVELS)
    config = Lab.to_config(built["body"]["block"])
    path = dump_config(config, tmp_path / f"block.{suffix}")
    assert Lab.factorize_from_file("Level3", path) == built["body"]["block"]


def test_dump_refuses_what_the_format_cannot_hold(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as caught:
        dump_config({"a": {"b": None}}, tmp_path / "x.toml")
    assert caught.value.context["path"] == "a.b"
    with pytest.raises(ValidationError):
        dump_config({"a": object()}, tmp_path / "x.json")
    with pytest.raises(ValidationError):
        dump_config({"a": 1}, tmp_path / "x.ini")
    with pytest.raises(ValidationError):
        dump_config([1, 2], tmp_path / "x.toml")
    assert json.loads(dump_config({"a": (1, 2)}, tmp_path / "x.json").read_text()) == {"a": [1, 2]}


# --------------------------------------------------------------------------- network


class _ConfigHandler(BaseHTTPRequestHandler):
    """Serves FIVE_LEVELS for ?type=level1, and misbehaves on request."""

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        if parts.path in ("/to-file", "/to-cfg"):
            target = "file:///etc/passwd" if parts.path == "/to-file" else "/cfg?type=level1"
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif parts.path == "/bad-json":
            self._send(200, b'{"seed": 1,\n "body": oops}')
        elif parts.path == "/huge":
            self._send(200, b"[" + b"1," * 5000 + b"1]")
        elif parts.path == "/auth" and self.headers.get("X-Token") != "secret":
            self._send(403, b"{}")
        elif query.get("type") == ["level1"]:
            self._send(200, json.dumps(FIVE_LEVELS).encode())
        else:
            self._send(404, b"{}")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        request = json.loads(self.rfile.read(length))
        if request == {"type": "level1"}:
            self._send(200, json.dumps(FIVE_LEVELS).encode())
        else:
            self._send(404, b"{}")


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ConfigHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_http_get_sends_type_in_query(server_url: str) -> None:
    source = {"url": f"{server_url}/cfg?x=1", "timeout": 5}
    assert Lab.factorize_from_socket("level1", source) == expected_five_levels()


def test_http_post_and_headers(server_url: str) -> None:
    assert (
        Lab.factorize_from_socket(
            "level1", {"url": f"{server_url}/cfg", "method": "POST"}, protocol="http"
        )
        == expected_five_levels()
    )
    with pytest.raises(ValidationError, match="403"):
        Lab.factorize_from_socket("level1", {"url": f"{server_url}/auth"})
    source = {"url": f"{server_url}/auth", "headers": {"X-Token": "secret"}}
    assert Lab.factorize_from_socket("level1", source) == expected_five_levels()


def test_http_bad_json_is_a_clear_error(server_url: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Lab.factorize_from_socket("level1", {"url": f"{server_url}/bad-json"})
    assert "valid JSON" in caught.value.message
    assert caught.value.context["line"] == 2


def test_http_size_limit(server_url: str) -> None:
    with pytest.raises(ValidationError, match="max_bytes"):
        Lab.factorize_from_socket("level1", {"url": f"{server_url}/huge", "max_bytes": 1000})


def test_http_not_found(server_url: str) -> None:
    with pytest.raises(ValidationError, match="404"):
        Lab.factorize_from_socket("Level5", {"url": f"{server_url}/cfg"})


def test_http_unreachable_port() -> None:
    with socket.socket() as probe:  # a port nobody listens on: bind, then close
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ValidationError) as caught:
        Lab.factorize_from_socket("level1", {"url": f"http://127.0.0.1:{port}/", "timeout": 2})
    assert "Cannot reach" in caught.value.message


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://127.0.0.1/x", "127.0.0.1:8000/cfg", "http:///nohost"]
)
def test_http_refuses_other_schemes(url: str) -> None:
    with pytest.raises(ValidationError, match="http"):
        Lab.factorize_from_socket("level1", {"url": url})


def test_http_redirects_only_to_http(server_url: str) -> None:
    assert Lab.factorize_from_socket("level1", {"url": f"{server_url}/to-cfg"}) == (
        expected_five_levels()
    )
    with pytest.raises(ValidationError, match="not (http|allowed)"):
        Lab.factorize_from_socket("level1", {"url": f"{server_url}/to-file"})


def test_http_source_is_validated() -> None:
    with pytest.raises(ValidationError):
        Lab.factorize_from_socket("level1", {"url": "http://127.0.0.1:1/", "timeout": -1})
    with pytest.raises(ValidationError):
        Lab.factorize_from_socket("level1", {"url": "http://127.0.0.1:1/", "verb": "GET"})
    with pytest.raises(ValidationError):
        Lab.factorize_from_socket("level1", "http://127.0.0.1:1/")  # type: ignore[arg-type]


def test_no_rpc_protocol() -> None:
    with pytest.raises(RegistryError, match="'rpc' protocol is retired") as info:
        Lab.factorize_from_socket("level1", {"url": "http://127.0.0.1:1/"}, protocol="rpc")
    assert any("protocol='http'" in hint for hint in info.value.suggestions)
    assert list(SocketEngine.iter_identifiers()) == ["http"]


def test_users_add_a_socket_engine() -> None:
    def static(source: dict[str, Any], identifier: str) -> dict[str, Any]:
        return dict(source["configs"][identifier])

    SocketEngine.register_artifact("static", static)
    try:
        source = {"configs": {"Level5": {"value": "3"}}}
        assert Lab.factorize_from_socket("Level5", source, protocol="static") == Level5(3.0)
    finally:
        SocketEngine.unregister_identifier("static")


# --------------------------------------------------------------------------- properties

JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
PLAIN = st.recursive(
    JSON_LEAVES,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(min_size=1, max_size=6), children, max_size=3)
    ),
    max_leaves=12,
)


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value if v is not None]
    return value


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(config=st.dictionaries(st.text(min_size=1, max_size=6), PLAIN, max_size=4))
def test_dumped_configs_load_back_equal(tmp_path: Path, config: dict[str, Any]) -> None:
    for suffix in ("json", "yaml"):
        path = dump_config(config, tmp_path / f"c.{suffix}")
        assert load_config_file(path) == config
    toml_config = _without_none(config)  # TOML has no null
    path = dump_config(toml_config, tmp_path / "c.toml")
    assert load_config_file(path) == toml_config


def test_import_registry_does_not_load_engine_dependencies() -> None:
    import os
    import subprocess
    import sys

    code = (
        "import sys, registry\n"
        "print([m for m in ('yaml', 'tomli_w', 'urllib.request', 'registry.factorize.http_source',"
        " 'registry.factorize.compiler') if m in sys.modules])"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_file_and_the_source_are_given_exactly_once(tmp_path: Path) -> None:
    path = tmp_path / "level5.json"
    path.write_text('{"value": "2.5"}')
    assert Lab.factorize_from_file("Level5", filepath=path) == Level5(2.5)
    for kwargs in ({}, {"path": path, "filepath": path}):
        with pytest.raises(ValidationError, match="exactly one of path= or filepath=") as info:
            Lab.factorize_from_file("Level5", **kwargs)
        assert info.value.context["operation"] == "factorize_from_file"
    with pytest.raises(ValidationError, match="exactly one of source= or socket_config="):
        Lab.factorize_from_socket("Level5", {"url": "http://x"}, socket_config={"url": "http://x"})


def test_positional_values_fill_parameters_in_order() -> None:
    assert Lab.factorize_artifact("Level5", "1.5") == Level5(1.5)
    built = Lab.factorize_artifact("Level4", {"_type": "Level5", "value": 3}, "four!")
    assert built == Level4(Level5(3.0), "four!")
    Lab.check_config("Level4", {"_type": "Level5", "value": 3})
    with pytest.raises(ValidationError, match="got positional values twice"):
        Lab.factorize_artifact("Level5", 1.0, _args_=[2.0])
    with pytest.raises(ValidationError, match="takes 1 positional values"):
        Lab.factorize_artifact("Level5", 1.0, 2.0)
