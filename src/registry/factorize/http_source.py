"""The built-in ``http`` network source of ``SocketEngine``: stdlib ``urllib`` only.

GET sends ``type=<identifier>`` in the query, POST sends ``body`` (default
``{"type": identifier}``) as JSON; headers, a timeout and a response size limit apply, and only
``http``/``https`` URLs are fetched (redirects included). Every failure is a
``registry.ValidationError`` naming the URL. Imported on first use, so ``import registry`` does
not load urllib or pydantic.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from registry import schemes
from registry.errors import ValidationError

__all__ = ["HttpSource", "fetch"]


class HttpSource(BaseModel):
    """How to fetch a config over HTTP(S)."""

    model_config = ConfigDict(extra="forbid")

    url: str
    method: Literal["GET", "POST"] = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: float = Field(default=10.0, gt=0)
    max_bytes: int = Field(default=1_048_576, gt=0)
    body: dict[str, Any] | None = None


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects to http(s) URLs only (urllib alone would also follow ftp)."""

    def redirect_request(  # noqa: PLR0917 - urllib's signature
        self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> urllib.request.Request | None:
        if urllib.parse.urlsplit(newurl).scheme not in ("http", "https"):
            raise ValidationError(
                f"{req.full_url} redirects to {newurl}, which is not http(s)",
                context={"url": req.full_url, "redirect": newurl},
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_HttpOnlyRedirects)


def _http_request(spec: HttpSource, identifier: str) -> urllib.request.Request:
    parts = urllib.parse.urlsplit(spec.url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValidationError(
            f"Only http:// and https:// URLs can be fetched, got {spec.url!r}",
            context={"url": spec.url},
        )
    headers = {"Accept": "application/json", **spec.headers}
    if spec.method == "POST":
        headers.setdefault("Content-Type", "application/json")
        body = json.dumps(spec.body if spec.body is not None else {"type": identifier})
        return urllib.request.Request(spec.url, body.encode(), headers, method="POST")
    query = urllib.parse.urlencode([*urllib.parse.parse_qsl(parts.query), ("type", identifier)])
    return urllib.request.Request(parts._replace(query=query).geturl(), None, headers, method="GET")


def _http_payload(request: urllib.request.Request, spec: HttpSource) -> bytes:
    url = request.full_url
    try:
        with _OPENER.open(request, timeout=spec.timeout) as response:
            payload: bytes = response.read(spec.max_bytes + 1)
    except urllib.error.HTTPError as exc:
        raise ValidationError(
            f"{url} answered HTTP {exc.code} {exc.reason}", context={"url": url, "status": exc.code}
        ) from None
    except urllib.error.URLError as exc:
        raise ValidationError(
            f"Cannot reach {url}: {exc.reason}",
            suggestions=["Check the host and port, and that the server is running"],
            context={"url": url, "cause": repr(exc.reason)},
        ) from None
    except (OSError, ValueError) as exc:  # timeouts, resets, malformed responses
        raise ValidationError(
            f"Fetching {url} failed: {type(exc).__name__}: {exc}", context={"url": url}
        ) from None
    if len(payload) > spec.max_bytes:
        raise ValidationError(
            f"{url} sent more than max_bytes={spec.max_bytes} bytes",
            suggestions=["Raise max_bytes in the source if the config really is that large"],
            context={"url": url, "max_bytes": spec.max_bytes},
        )
    return payload


def fetch(source: Mapping[str, Any], identifier: str) -> Any:
    """Fetch a JSON config: GET ``url?type=<identifier>``, or POST ``body`` (default
    ``{"type": identifier}``). ``source`` keys: url, method, headers, timeout, max_bytes, body."""
    try:
        spec = HttpSource.model_validate(dict(source))
    except pydantic.ValidationError as error:
        raise schemes.validation_error("SocketEngine:http", error) from None
    request = _http_request(spec, identifier)
    payload = _http_payload(request, spec)
    try:
        return json.loads(payload.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ValidationError(
            f"{request.full_url} did not send UTF-8: {exc}", context={"url": request.full_url}
        ) from None
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"{request.full_url} did not send valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}",
            context={"url": request.full_url, "line": exc.lineno, "column": exc.colno},
        ) from None
