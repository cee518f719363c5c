"""HTTPS end to end: the server with its own certificate, ``HttpStore`` verifying it."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry.errors import StoreError
from registry.store.http import HttpStore

from .conftest import LiveServer

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command"),
]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture(scope="module")
def tls_server(certificate: tuple[Path, Path]) -> Iterator[LiveServer]:
    cert, key = certificate
    live = LiveServer(
        "memory://", None, ["--ssl-certfile", str(cert), "--ssl-keyfile", str(key)], tls=True
    )
    live.start()
    yield live
    live.stop()


def test_https_round_trip_with_the_lab_ca(
    tls_server: LiveServer, certificate: tuple[Path, Path]
) -> None:
    context = ssl.create_default_context(cafile=str(certificate[0]))
    client = HttpStore(tls_server.url, ssl_context=context, timeout=5)
    assert client.health()["status"] == "healthy"
    client.ensure_namespace("lab.tls", "function")
    assert client.get_namespace("lab.tls") is not None
    client.close()


def test_unknown_certificate_is_refused(tls_server: LiveServer) -> None:
    client = HttpStore(tls_server.url, timeout=5)
    with pytest.raises(StoreError, match="CERTIFICATE_VERIFY_FAILED"):
        client.health()
