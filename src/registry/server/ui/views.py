"""How records are shown on the web page, shared by the HTML templates and their JSON twins:
summaries, the stored drift status, times, URLs and the JSON answer models.

Everything here reads stored records only: nothing is imported and no source file is read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal
from urllib.parse import quote, urlencode

from pydantic import BaseModel, Field

from registry.server.ui.catalog import Hit, NamespaceIndex, Page
from registry.store.base import EntryRecord, NamespaceKind

__all__ = [
    "CheckBody",
    "ConfigCheck",
    "EntryPage",
    "EntrySummary",
    "FieldProblem",
    "NamespaceSummary",
    "Overview",
    "SearchHit",
    "SearchResults",
    "Version",
    "api_url",
    "browse_url",
    "drift_of",
    "entry_page",
    "entry_summary",
    "namespace_summary",
    "search_results",
    "store_label",
    "summary_of",
    "timeline",
    "when",
]

DriftStatus = Literal["first version", "revised", "pickled", "no source hash"]


def store_label(url: str) -> str:
    """Return a store URL fit to show: without the user and password of a database URL."""
    return re.sub(r"//[^/@]*@", "//", url)


def summary_of(doc: str) -> str:
    """Return the first non-empty line of a docstring."""
    for line in doc.splitlines():
        if line.strip():
            return line.strip()
    return ""


def drift_of(record: EntryRecord) -> tuple[DriftStatus, str]:
    """Return what the store says about source drift of ``record``, and an explanation.

    Read from the stored record alone (the page never imports or reads source files per row);
    the entry page adds the check against the source on the server machine.
    """
    if record.blob_sha256:
        return "pickled", "stored as a pickle: there is no source to compare"
    if not record.source_hash:
        return "no source hash", "registered without a source hash: drift cannot be detected"
    if record.version > 1:
        return "revised", f"{record.version - 1} newer version(s) recorded since version 1"
    return "first version", "the source has not changed since it was first registered"


def when(moment: datetime | None) -> str:
    """Return a stored time as ``YYYY-MM-DD HH:MM UTC`` (empty when unknown)."""
    if moment is None:
        return ""
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def browse_url(namespace: str, identifier: str | None = None, *parts: str, **query: Any) -> str:
    """Return the page URL of a namespace or an entry (path segments percent-encoded)."""
    path = "/browse/" + quote(namespace, safe="")
    if identifier is not None:
        path += "/" + quote(identifier, safe="")
    for part in parts:
        path += "/" + part
    kept = {key: value for key, value in query.items() if value not in (None, "")}
    return f"{path}?{urlencode(kept)}" if kept else path


@dataclass(frozen=True)
class Version:
    """One version on the entry page's timeline, with what changed since the one before."""

    record: EntryRecord
    changes: list[str]


def timeline(history: list[EntryRecord]) -> list[Version]:
    """Return the versions newest first, each with its changes against the previous one."""
    versions: list[Version] = []
    previous: EntryRecord | None = None
    for record in history:
        changes: list[str] = []
        if previous is None:
            changes.append("first registered")
        else:
            if record.source_hash != previous.source_hash:
                changes.append("source changed")
            if record.origin != previous.origin:
                changes.append(f"import path was {previous.origin}")
            if record.signature != previous.signature:
                changes.append(f"signature was {previous.signature}")
            if (record.package, record.package_version) != (
                previous.package,
                previous.package_version,
            ):
                changes.append("package version changed")
            if record.python_version != previous.python_version:
                changes.append("Python version changed")
        versions.append(Version(record, changes))
        previous = record
    return versions[::-1]


def api_url(namespace: str, identifier: str | None = None, *parts: str) -> str:
    """Return the URL of a JSON twin: ``/ui/api/namespaces/{ns}/entries[/{id}[/part...]]``."""
    path = f"/ui/api/namespaces/{quote(namespace, safe='')}/entries"
    if identifier:
        path += "/" + quote(identifier, safe="")
    return "/".join([path, *parts])


# --------------------------------------------------------------------------- JSON answers


class NamespaceSummary(BaseModel):
    name: str
    kind: NamespaceKind
    size: int = Field(description="current entries")
    generation: int = Field(description="change counter")
    last_registered_at: datetime | None = Field(description="newest registration still current")
    last_registered_by: str | None = Field(description="user@host of that registration")


class Overview(BaseModel):
    namespaces: list[NamespaceSummary]


class EntrySummary(BaseModel):
    identifier: str
    origin: str = Field(description="module:qualname (the import path)")
    version: int
    created_by: str
    created_at: datetime | None
    summary: str = Field(description="first line of the docstring")
    drift: DriftStatus = Field(description="drift status as stored")


class EntryPage(BaseModel):
    namespace: NamespaceSummary
    query: str
    sort: str
    descending: bool
    total: int = Field(description="entries matching the query, over all pages")
    offset: int
    limit: int
    entries: list[EntrySummary]


class SearchHit(BaseModel):
    namespace: str
    kind: NamespaceKind
    entry: EntrySummary


class SearchResults(BaseModel):
    query: str
    total: int = Field(description="matches over every namespace")
    hits: list[SearchHit] = Field(description="the best matches, identifier matches first")


class CheckBody(BaseModel):
    config: dict[str, Any] = Field(description="the parameters, without the top-level _type")


class FieldProblem(BaseModel):
    path: str = Field(description="dotted path of the field in the config ('' for the root)")
    message: str


class ConfigCheck(BaseModel):
    """The server's verdict on a config, from ``check_config`` (nothing is called)."""

    valid: bool
    message: str
    suggestions: list[str]
    problems: list[FieldProblem]
    document: dict[str, Any] | None = Field(
        description="the config file's content, with _type 'namespace:identifier', when valid"
    )
    files: dict[str, str] = Field(description="format (yaml, json, toml) -> file text")
    unavailable: dict[str, str] = Field(description="format -> why the config cannot be written so")


def namespace_summary(index: NamespaceIndex) -> NamespaceSummary:
    latest = index.latest
    return NamespaceSummary(
        name=index.record.name,
        kind=index.record.kind,
        size=len(index.entries),
        generation=index.record.generation,
        last_registered_at=None if latest is None else latest.created_at,
        last_registered_by=None if latest is None else latest.created_by,
    )


def entry_summary(record: EntryRecord) -> EntrySummary:
    return EntrySummary(
        identifier=record.identifier,
        origin=record.origin,
        version=record.version,
        created_by=record.created_by,
        created_at=record.created_at,
        summary=summary_of(record.doc),
        drift=drift_of(record)[0],
    )


def entry_page(
    index: NamespaceIndex, page: Page, query: str, sort: str, descending: bool
) -> EntryPage:
    return EntryPage(
        namespace=namespace_summary(index),
        query=query,
        sort=sort,
        descending=descending,
        total=page.total,
        offset=page.offset,
        limit=page.limit,
        entries=[entry_summary(e) for e in page.entries],
    )


def search_results(query: str, total: int, hits: list[Hit]) -> SearchResults:
    return SearchResults(
        query=query,
        total=total,
        hits=[
            SearchHit(
                namespace=h.namespace.name, kind=h.namespace.kind, entry=entry_summary(h.entry)
            )
            for h in hits
        ],
    )
