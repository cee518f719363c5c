"""The JSON form of store records, shared by the registry server and ``HttpStore``.

A record's JSON object holds the fields of its dataclass in ``store.base``, in the same order:
those dataclasses are the one declaration of each record's shape. How each value travels is
derived from its declared type (datetimes as ISO 8601 text, bytes as base64, enums as their
value, nested records as objects, tuples as lists), and the server's pydantic models are
derived from the same dataclasses (``server.derived``), so a field added to a record reaches
the wire, the request schema and the OpenAPI description at once.

The codecs are built once, at import, into plain functions: encoding a record is one
``attrgetter`` call plus the few conversions its types need. The server's read and write paths
and ``HttpStore`` run them on every request; against the hand-written codecs they replaced,
they cost one to two microseconds more per entry, which ``benchmarks/bench_server.py``'s remote
``register`` and ``get_entry`` latencies do not show, so no path keeps an encoder of its own.

Blobs travel as base64 text and are never unpickled here: they stay opaque bytes on both
sides of the wire. Imports only ``errors`` and ``store.base``.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import enum
import hashlib
import json
import operator
import re
import types
import typing
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar, cast

from registry.errors import RegistryError, ValidationError, error_from_dict
from registry.store.base import (
    BlobDraft,
    BlobRecord,
    ChangeSet,
    EntryDraft,
    EntryRecord,
    NamespaceRecord,
    Registration,
)

__all__ = [
    "blob_from_json",
    "blob_to_json",
    "change_token",
    "changes_from_json",
    "changes_to_json",
    "draft_from_json",
    "draft_to_json",
    "entry_from_json",
    "entry_to_json",
    "json_bytes",
    "namespace_from_json",
    "namespace_to_json",
    "registration_from_json",
    "registration_to_json",
    "result_from_json",
    "result_to_json",
]

_R = TypeVar("_R")
_Convert = Callable[[Any], Any]
#: Codecs built so far, by record type (nested records share them).
_ENCODERS: dict[type, Any] = {}
_DECODERS: dict[type, Any] = {}


def json_bytes(data: Any) -> bytes:
    """``data`` as the wire sends it: compact JSON (no spaces after separators), UTF-8."""
    return json.dumps(data, separators=(",", ":")).encode()


def change_token(generations: Mapping[str, int]) -> str:
    """Return a short token that changes whenever any namespace generation changes.

    It is derived from the generations alone, so every worker behind one database hands out
    the same token for the same state and a client may switch workers between polls.
    """
    payload = json.dumps(sorted(generations.items()), separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def _noun(record_type: type) -> str:
    """``BlobDraft`` -> ``blob``: how messages name a record."""
    return re.sub(r"(Draft|Record)$", "", record_type.__name__).lower()


def _base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _datetime(text: Any) -> datetime:
    value = str(text)
    # pydantic writes UTC as "Z", which datetime.fromisoformat accepts only from Python 3.11.
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    return datetime.fromisoformat(value)


def _optional_part(hint: Any) -> Any:
    """``X`` for ``X | None``; ``None`` for any other type."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        parts = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(parts) == 1 and len(typing.get_args(hint)) == 2:
            return parts[0]
    return None


def _same(value: Any) -> Any:
    return value


def _item(hint: Any, convert: _Convert | None) -> _Convert:
    """``convert`` for the items of a tuple: codecs skip a ``None`` field, but not an item."""
    convert = convert or _same
    if _optional_part(hint) is None:
        return convert
    return lambda value: None if value is None else convert(value)


def _to_json(hint: Any) -> _Convert | None:
    """How a value of type ``hint`` becomes JSON data (``None``: it already is)."""
    inner = _optional_part(hint)
    if inner is not None:  # the codecs keep None as it is
        return _to_json(inner)
    if typing.get_origin(hint) is tuple:
        items = typing.get_args(hint)
        if len(items) == 2 and items[1] is Ellipsis and _to_json(items[0]) is not None:
            each = _item(items[0], _to_json(items[0]))
            return lambda values: [each(value) for value in values]
        return list  # items that are JSON data already
    if hint is bytes:
        return _base64
    if hint is datetime:
        return _iso
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return operator.attrgetter("value")
    if dataclasses.is_dataclass(hint):
        return _encoder(cast(type, hint))
    return None


def _from_json(hint: Any, record_type: type, field: str) -> _Convert | None:
    """How JSON data becomes a value of type ``hint`` (``None``: taken as it is)."""
    inner = _optional_part(hint)
    if inner is not None:  # the codecs keep None as it is
        return _from_json(inner, record_type, field)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            each = _item(args[0], _from_json(args[0], record_type, field))
            return lambda values: tuple(each(value) for value in values)
        parts = [_item(arg, _from_json(arg, record_type, field)) for arg in args]
        return lambda values: tuple(part(value) for part, value in zip(parts, values, strict=True))
    if origin is typing.Literal:
        return _one_of(frozenset(args), record_type, field)
    if origin is dict:
        return dict
    if hint in (str, int, bool):
        return cast(_Convert, hint)
    if hint is bytes:
        return _bytes_of(record_type, field)
    if hint is datetime:
        return _datetime
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint
    if dataclasses.is_dataclass(hint):
        return _decoder(cast(type, hint))
    return None


def _one_of(allowed: frozenset[Any], record_type: type, field: str) -> _Convert:
    def check(value: Any) -> Any:
        if value not in allowed:
            raise ValidationError(
                f"Unknown {_noun(record_type)} {field} {value!r}", context={field: value}
            )
        return value

    return check


def _bytes_of(record_type: type, field: str) -> _Convert:
    def decode(text: Any) -> bytes:
        try:
            return base64.b64decode(str(text), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValidationError(
                f"{_noun(record_type).capitalize()} {field} is not valid base64",
                context={"field": f"{_noun(record_type)}.{field}"},
            ) from exc

    return decode


def _encoder(record_type: type[_R]) -> Callable[[_R], dict[str, Any]]:
    """The JSON form of a record: its dataclass fields in order, each converted by its type."""
    if record_type in _ENCODERS:
        return cast(Callable[[_R], dict[str, Any]], _ENCODERS[record_type])
    hints = typing.get_type_hints(record_type)
    names = tuple(field.name for field in dataclasses.fields(cast(Any, record_type)))
    values_of = operator.attrgetter(*names)
    converted = tuple(
        (name, convert) for name in names if (convert := _to_json(hints[name])) is not None
    )

    def encode(record: _R) -> dict[str, Any]:
        data = dict(zip(names, values_of(record), strict=False))
        for name, convert in converted:
            value = data[name]
            if value is not None:
                data[name] = convert(value)
        return data

    _ENCODERS[record_type] = encode
    return encode


def _decoder(record_type: type[_R]) -> Callable[[Mapping[str, Any]], _R]:
    """Rebuild a record from its JSON form; a field that is absent or ``null`` gets the
    dataclass default, and keys that are not fields are ignored."""
    if record_type in _DECODERS:
        return cast(Callable[[Mapping[str, Any]], _R], _DECODERS[record_type])
    hints = typing.get_type_hints(record_type)
    required: list[tuple[str, _Convert]] = []
    optional: list[tuple[str, _Convert]] = []
    for field in dataclasses.fields(cast(Any, record_type)):
        convert = _from_json(hints[field.name], record_type, field.name) or _same
        has_default = (
            field.default is not dataclasses.MISSING
            or field.default_factory is not dataclasses.MISSING
        )
        (optional if has_default else required).append((field.name, convert))

    def decode(data: Mapping[str, Any]) -> _R:
        values = {name: convert(data[name]) for name, convert in required}
        for name, convert in optional:
            value = data.get(name)
            if value is not None:
                values[name] = convert(value)
        return record_type(**values)

    _DECODERS[record_type] = decode
    return decode


#: JSON form of each record (see the module docstring); the ``*_from_json`` functions rebuild
#: records from it.
namespace_to_json = _encoder(NamespaceRecord)
namespace_from_json = _decoder(NamespaceRecord)
blob_to_json: Callable[[BlobDraft], dict[str, Any]] = _encoder(BlobDraft)
blob_from_json = _decoder(BlobRecord)
draft_to_json = _encoder(EntryDraft)
draft_from_json = _decoder(EntryDraft)
entry_to_json = _encoder(EntryRecord)
entry_from_json = _decoder(EntryRecord)
registration_to_json = _encoder(Registration)
registration_from_json = _decoder(Registration)
changes_to_json = _encoder(ChangeSet)
changes_from_json = _decoder(ChangeSet)


def result_to_json(result: Registration | RegistryError) -> dict[str, Any]:
    """Return one batch item: ``{"registration": ...}`` or ``{"error": ...}``."""
    if isinstance(result, RegistryError):
        return {"error": result.to_dict()}
    return {"registration": registration_to_json(result)}


def result_from_json(data: Mapping[str, Any]) -> Registration | RegistryError:
    """Rebuild one batch item from :func:`result_to_json` output."""
    if data.get("error") is not None:
        error = error_from_dict(data["error"])
        if isinstance(error, RegistryError):
            return error
        return RegistryError(error.message, error.suggestions, error.context)
    return registration_from_json(data["registration"])
