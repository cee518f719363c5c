"""FastAPI's OpenTelemetry instrumentation (FastAPI 0.165 and later) is on in the registry
server only when the environment configures OpenTelemetry: checking for it on every request
cost a cached entry read 40% of its time in the app. When it is on, every request goes through
FastAPI (entry reads held in memory too), so each gets its span. Each case runs in a process of
its own, since OpenTelemetry's tracer provider can be set once per process."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys

import pytest
from fastapi import FastAPI

from registry.server.app import _instrumented, _telemetry_option
from registry.settings import opentelemetry_configured

HAS_INSTRUMENTATION = "telemetry" in inspect.signature(FastAPI.__init__).parameters

#: Installs a tracer provider that records the spans started, builds the server's app over a
#: memory store and sends it a GET /health and a cached entry read; prints the spans each
#: request started.
SERVE_AND_COUNT_SPANS = """
import asyncio, json
from opentelemetry import trace
from registry.server.app import create_app
from registry.store.base import EntryDraft
from registry.store.memory import MemoryStore

started = []

class RecordingTracer(trace.NoOpTracer):
    def start_span(self, name, *args, **kwargs):
        started.append(name)
        return super().start_span(name, *args, **kwargs)

class RecordingProvider(trace.TracerProvider):  # FastAPI takes a NoOpTracerProvider for "off"
    def get_tracer(self, *args, **kwargs):
        return RecordingTracer()

trace.set_tracer_provider(RecordingProvider())
store = MemoryStore()
store.ensure_namespace("lab", "function")
store.register("lab", EntryDraft(identifier="f", origin="lab.mod:f", source_hash="h"))
app = create_app(store)

async def get(path):
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
    }
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"]

async def main():
    statuses, spans = [], []
    for path in ("/health", "/namespaces/lab/entries/f", "/namespaces/lab/entries/f"):
        statuses.append(await get(path))
        spans.append(len(started))
        started.clear()
    print(json.dumps({"statuses": statuses, "spans": spans}))

asyncio.run(main())
"""


def serve_and_count_spans(**environment: str) -> dict[str, object]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    env.pop("FASTAPI_OTEL_AUTO_CONFIGURE", None)
    done = subprocess.run(
        [sys.executable, "-c", SERVE_AND_COUNT_SPANS],
        env={**env, **environment},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.skipif(not HAS_INSTRUMENTATION, reason="this FastAPI has no instrumentation")
def test_the_instrumentation_is_off_unless_the_environment_configures_opentelemetry() -> None:
    assert serve_and_count_spans() == {"statuses": [200, 200, 200], "spans": [0, 0, 0]}
    for configured in ({"OTEL_SERVICE_NAME": "registry"}, {"FASTAPI_OTEL_AUTO_CONFIGURE": "true"}):
        result = serve_and_count_spans(**configured)
        assert result["statuses"] == [200, 200, 200]
        spans = result["spans"]
        assert isinstance(spans, list)
        # a server span for each request, the repeated (in-memory) entry read included
        assert all(count >= 1 for count in spans), (configured, spans)


def test_the_option_follows_the_environment_and_is_left_out_where_fastapi_has_none() -> None:
    off = {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    for environment, on in (
        ({}, False),
        ({"PATH": "/usr/bin"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317"}, True),
        ({"FASTAPI_OTEL_AUTO_CONFIGURE": "TRUE"}, True),
        ({"FASTAPI_OTEL_AUTO_CONFIGURE": "false"}, False),
    ):
        assert opentelemetry_configured(environment) is on, environment
        instrumented = _instrumented(opentelemetry_configured(environment))
        assert instrumented is (on and HAS_INSTRUMENTATION), environment
        # FastAPI before 0.165 is given nothing
        assert _telemetry_option(instrumented) == (off if HAS_INSTRUMENTATION and not on else {})
