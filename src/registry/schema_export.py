"""JSON Schemas for config files, built from the scheme JSON stored with each entry.

Editors (VS Code YAML, JetBrains) validate config files against these schemas. Imports only
``store.base``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from registry.store.base import EntryRecord

__all__ = ["combined_schema", "entry_schema"]

DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _config_schema(record: EntryRecord) -> dict[str, Any]:
    schema: dict[str, Any] = copy.deepcopy(record.scheme) if record.scheme else {}
    schema.setdefault("type", "object")
    properties: dict[str, Any] = schema.setdefault("properties", {})
    properties["_type"] = {"const": record.identifier, "description": f"builds {record.origin}"}
    return schema


def entry_schema(record: EntryRecord) -> dict[str, Any]:
    """Return the JSON Schema of one artifact's config (``_type`` allowed and pinned)."""
    schema = _config_schema(record)
    schema["$schema"] = DIALECT
    schema["title"] = f"{record.namespace}:{record.identifier}"
    return schema


def _rename_refs(node: Any, renames: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {
            key: renames.get(value, value)
            if key == "$ref" and isinstance(value, str)
            else _rename_refs(value, renames)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_rename_refs(item, renames) for item in node]
    return node


def combined_schema(namespace: str, records: Sequence[EntryRecord]) -> dict[str, Any]:
    """Return one schema accepting a config of any artifact in ``namespace``, chosen by ``_type``.

    Each artifact's ``$defs`` are moved to the top, prefixed with its identifier so that two
    artifacts can both define a ``Model`` without clashing.
    """
    variants: list[dict[str, Any]] = []
    definitions: dict[str, Any] = {}
    for record in records:
        schema = _config_schema(record)
        local = schema.pop("$defs", {})
        renames = {f"#/$defs/{name}": f"#/$defs/{record.identifier}__{name}" for name in local}
        for name, definition in local.items():
            definitions[f"{record.identifier}__{name}"] = _rename_refs(definition, renames)
        schema = _rename_refs(schema, renames)
        schema["required"] = ["_type", *[r for r in schema.get("required", []) if r != "_type"]]
        variants.append(schema)
    combined: dict[str, Any] = {
        "$schema": DIALECT,
        "title": namespace,
        "oneOf": variants,
        "discriminator": {"propertyName": "_type"},
    }
    if definitions:
        combined["$defs"] = definitions
    return combined
