"""The config builder's server side: validate a config tree with ``check_config`` and write it
as YAML, JSON and TOML.

Validation runs in the server process on a registry opened with ``registry.open`` over the
store that the served store's URL names in this process (the served store itself for
``registry serve`` and ``registry ui``, which open it by URL): artifacts are imported only as far as validation needs their signatures,
and nothing is called. A pickled artifact is never unpickled here, so its configs cannot be
checked by the server (the answer says so).
"""

from __future__ import annotations

from typing import Any

from registry.errors import ValidationError
from registry.factorize.engines import render_config
from registry.server.ui.views import ConfigCheck, FieldProblem
from registry.store.base import Store

__all__ = ["FORMATS", "check_config"]

FORMATS = ("yaml", "json", "toml")


def _problems(error: ValidationError) -> list[FieldProblem]:
    listed = error.context.get("errors")
    if isinstance(listed, list) and listed:
        return [
            FieldProblem(path=str(item.get("field", "")), message=str(item.get("message", "")))
            for item in listed
            if isinstance(item, dict)
        ]
    return [FieldProblem(path=str(error.context.get("path", "")), message=error.message)]


def check_config(
    store: Store, namespace: str, identifier: str, config: dict[str, Any]
) -> ConfigCheck:
    """Validate ``config`` for ``identifier`` of ``namespace`` as ``registry build`` would.

    Raises:
        RegistryError: the namespace does not exist.
    """
    from registry.namespaces import open_namespace

    registry = open_namespace(namespace, url=store.url)
    try:
        registry.check_config(identifier, **config)
    except ValidationError as error:
        return ConfigCheck(
            valid=False,
            message=error.message,
            suggestions=error.suggestions,
            problems=_problems(error),
            document=None,
            files={},
            unavailable={},
        )
    document = {"_type": f"{namespace}:{identifier}", **config}
    files: dict[str, str] = {}
    unavailable: dict[str, str] = {}
    for name in FORMATS:
        try:
            files[name] = render_config(document, name)
        except ValidationError as error:  # TOML has no null, for one
            unavailable[name] = error.message
    return ConfigCheck(
        valid=True,
        message=f"Valid config for {namespace}:{identifier}",
        suggestions=[],
        problems=[],
        document=document,
        files=files,
        unavailable=unavailable,
    )
