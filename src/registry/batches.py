"""Operations over many artifacts that report per item instead of stopping at the first error:
the seed's report shapes of ``safe_register_batch`` and ``validate_registry_state``, and how
many items a batched registration writes per store transaction.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from registry.errors import ValidationError

__all__ = ["BATCH_CHUNK", "chunks", "new_batch_report", "record_failure", "state_report"]

T = TypeVar("T")

#: ``safe_register_batch`` drafts and writes this many items per store transaction: large
#: enough that a transaction's cost is spread thin, small enough that a batch of any size
#: holds a few MiB of drafts and records at a time.
BATCH_CHUNK = 500


def chunks(items: Sequence[T], size: int = BATCH_CHUNK) -> Iterator[Sequence[T]]:
    """Yield ``items`` ``size`` at a time, in order."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def new_batch_report(total: int) -> dict[str, Any]:
    """Return the empty ``safe_register_batch`` report: ``{"successful": [keys], "failed":
    [keys], "total": n, "errors": [{"key", "error", "suggestions", "context"}]}``."""
    return {"successful": [], "failed": [], "total": total, "errors": []}


def record_failure(report: dict[str, Any], key: object, error: ValidationError) -> None:
    """Add the failure of ``key`` to a ``safe_register_batch`` report."""
    report["failed"].append(key)
    report["errors"].append(
        {
            "key": key,
            "error": error.message,
            "suggestions": error.suggestions,
            "context": error.context,
        }
    )


def state_report(
    registry_name: str,
    valid: list[str],
    invalid: dict[str, ValidationError],
    warnings: list[dict[str, str]],
    cache_stats: dict[str, Any],
) -> dict[str, Any]:
    """Return the ``validate_registry_state`` report: the seed's keys (``total_artifacts``,
    ``validation_errors``, ``warnings``, ``cache_stats``) and ours beside them
    (``registry_name``, ``total``, ``valid``, ``invalid``, ``ok``)."""
    total = len(valid) + len(invalid)
    return {
        "total_artifacts": total,
        "validation_errors": [
            {"key": key, "error": error.message, "suggestions": list(error.suggestions)}
            for key, error in invalid.items()
        ],
        "warnings": warnings,
        "cache_stats": cache_stats,
        "registry_name": registry_name,
        "total": total,
        "valid": valid,
        "invalid": {key: error.to_dict() for key, error in invalid.items()},
        "ok": not invalid,
    }
