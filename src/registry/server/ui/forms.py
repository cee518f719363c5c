"""Config fields read from an entry's stored scheme (its JSON Schema): the field table of the
entry page, the config builder's form, the YAML skeleton and the copyable snippets.

Only the stored JSON is read; validation is the server's ``check_config`` (``ui.checks``).
"""

from __future__ import annotations

import json
import keyword
import re
import shlex
from dataclasses import dataclass
from typing import Any, Literal

from registry.store.base import EntryRecord

__all__ = ["ConfigField", "Widget", "config_fields", "snippets", "yaml_skeleton"]

Widget = Literal["integer", "number", "string", "boolean", "choice", "component", "json"]

_SCALARS: dict[str, Widget] = {
    "integer": "integer",
    "number": "number",
    "string": "string",
    "boolean": "boolean",
}
# pydantic describes a parameter annotated with a plain class (checked with isinstance) so.
_INSTANCE_OF = re.compile(r"IsInstanceSchema \(<class '(?:[\w.]+\.)?(\w+)'>\)")
_PLACEHOLDERS: dict[Widget, Any] = {
    "integer": 0,
    "number": 0.0,
    "string": "",
    "boolean": False,
    "component": {},
    "json": None,
}


@dataclass(frozen=True)
class ConfigField:
    """One parameter of an artifact's config."""

    name: str
    path: str
    """Dotted path of the field in the whole config (``model.hidden_dim``)."""
    type_label: str
    widget: Widget
    """How the builder asks for it; ``component`` may name a registered artifact with _type."""
    required: bool
    default: str | None
    """The default as JSON text; ``None`` when the field is required."""
    description: str
    choices: tuple[str, ...]
    """Allowed values as JSON text, for ``choice`` fields."""
    nullable: bool


def _resolve(spec: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    wrapped = spec.get("allOf")
    if isinstance(wrapped, list) and len(wrapped) == 1 and isinstance(wrapped[0], dict):
        # pydantic before 2.9 writes a $ref with siblings (a default) as allOf: [{$ref}].
        spec = {**wrapped[0], **{k: v for k, v in spec.items() if k != "allOf"}}
    ref = spec.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target = definitions.get(ref.rpartition("/")[2])
        if isinstance(target, dict):
            return {**target, **{k: v for k, v in spec.items() if k != "$ref"}}
    return spec


def _without_null(spec: dict[str, Any], definitions: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    options = spec.get("anyOf")
    if isinstance(options, list):
        kept = [o for o in options if isinstance(o, dict) and o.get("type") != "null"]
        if len(kept) < len(options) and len(kept) == 1:
            merged = {**spec, **_resolve(kept[0], definitions)}
            merged.pop("anyOf", None)
            return merged, True
    return spec, False


def _label(spec: dict[str, Any], definitions: dict[str, Any]) -> str:
    spec = _resolve(spec, definitions)
    instance = _INSTANCE_OF.search(str(spec.get("description", "")))
    if instance:
        return instance.group(1)
    if "enum" in spec:
        return " | ".join(json.dumps(v) for v in spec["enum"])
    if "const" in spec:
        return json.dumps(spec["const"])
    if "properties" in spec and "title" in spec:  # a model or dataclass parameter
        return str(spec["title"])
    kind = spec.get("type")
    if kind == "array" and isinstance(spec.get("items"), dict):
        return f"list[{_label(spec['items'], definitions)}]"
    if kind == "object" and isinstance(spec.get("additionalProperties"), dict):
        return f"dict[str, {_label(spec['additionalProperties'], definitions)}]"
    if isinstance(kind, str):
        return {"integer": "int", "number": "float", "string": "str", "boolean": "bool"}.get(
            kind, "dict" if kind == "object" else "list" if kind == "array" else kind
        )
    options = spec.get("anyOf") or spec.get("oneOf")
    if isinstance(options, list):
        return " | ".join(_label(o, definitions) for o in options if isinstance(o, dict))
    return "any"


def _widget(spec: dict[str, Any]) -> Widget:
    if "enum" in spec or "const" in spec:
        return "choice"
    kind = spec.get("type")
    if isinstance(kind, str) and kind in _SCALARS:
        return _SCALARS[kind]
    if kind == "object" and "properties" not in spec:
        return "component"  # a dict parameter: a plain mapping or a built artifact
    if kind is None and ("properties" not in spec) and not spec.get("anyOf"):
        return "component"  # Any, or a class checked with isinstance
    return "json"


def config_fields(scheme: dict[str, Any] | None, prefix: str = "") -> list[ConfigField]:
    """Return the fields of a stored scheme, in declaration order, paths under ``prefix``."""
    if not scheme or not isinstance(scheme.get("properties"), dict):
        return []
    found = scheme.get("$defs")
    definitions: dict[str, Any] = found if isinstance(found, dict) else {}
    required = set(scheme.get("required") or ())
    fields: list[ConfigField] = []
    for name, raw in scheme["properties"].items():
        if name == "_type" or not isinstance(raw, dict):
            continue
        spec, nullable = _without_null(_resolve(raw, definitions), definitions)
        widget = _widget(spec)
        choices = spec.get("enum", [spec["const"]] if "const" in spec else [])
        label = _label(spec, definitions)
        if nullable and label != "any":  # Any admits None already (3.10 reads `Any = None` so)
            label += " | None"
        fields.append(
            ConfigField(
                name=name,
                path=f"{prefix}.{name}" if prefix else name,
                type_label=label,
                widget=widget,
                required=name in required,
                default=None if name in required else json.dumps(raw.get("default")),
                description=""
                if _INSTANCE_OF.search(str(spec.get("description", "")))
                else str(spec.get("description", "")),
                choices=tuple(json.dumps(choice) for choice in choices),
                nullable=nullable,
            )
        )
    return fields


def yaml_skeleton(record: EntryRecord) -> str:
    """Return a YAML config to fill in: required fields with placeholders, the others with
    their defaults, commented out. JSON scalars are valid YAML, so values are written as JSON."""
    lines = [f"_type: {json.dumps(f'{record.namespace}:{record.identifier}')}"]
    for field in config_fields(record.scheme):
        if field.required:
            placeholder = (
                json.loads(field.choices[0]) if field.choices else _PLACEHOLDERS[field.widget]
            )
            lines.append(f"{field.name}: {json.dumps(placeholder)}  # required: {field.type_label}")
        else:
            lines.append(f"# {field.name}: {field.default}  # {field.type_label}")
    return "\n".join(lines) + "\n"


def snippets(record: EntryRecord) -> dict[str, str]:
    """Return the copyable snippets of the entry page: Python, shell and a YAML skeleton."""
    name = record.identifier
    variable = name.lower()
    if not variable.isidentifier() or keyword.iskeyword(variable) or variable.startswith("_"):
        variable = "artifact"
    python = (
        "import registry\n\n"
        f"{variable} = registry.open({json.dumps(record.namespace)})"
        f".get_artifact({json.dumps(name)})\n"
    )
    shell = f"registry show {shlex.quote(record.namespace)} {shlex.quote(name)}\n"
    return {"python": python, "shell": shell, "yaml": yaml_skeleton(record)}
