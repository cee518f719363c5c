"""A small lab's artifacts for the web page tests.

The server process imports this module to validate configs (``check_config``) and
``registry build`` imports it to rebuild them, so it lives at an importable path.
"""

from __future__ import annotations

from typing import Literal

from registry import FunctionalRegistry, SchemeRegistry

HOSTILE_DOC = (
    "Scores <b>bold</b> claims. "
    '<script>window.__hostile = "script"</script>'
    '<img src="x" onerror="window.__hostile = \'img\'">'
)


class Encoder:
    """Embeds token sequences.

    A stack of ``num_layers`` blocks of width ``hidden_dim``.
    """

    def __init__(
        self,
        hidden_dim: int,
        num_layers: int = 3,
        dropout: float = 0.1,
        activation: Literal["relu", "gelu"] = "relu",
    ) -> None:
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.dropout = dropout
        self.activation = activation


def make_sgd(learning_rate: float, momentum: float = 0.9) -> dict[str, float]:
    """Plain SGD settings."""
    return {"lr": learning_rate, "momentum": momentum}


class Experiment:
    """One training run: a model, an optimizer and a number of epochs."""

    def __init__(
        self, model: Encoder, optimizer: dict, epochs: int = 1, tags: list[str] | None = None
    ) -> None:
        self.model = model
        self.optimizer = optimizer
        self.epochs = epochs
        self.tags = tags


def accuracy(y_true: list[int], y_pred: list[int]) -> float:
    """Share of equal labels."""
    return sum(a == b for a, b in zip(y_true, y_pred)) / max(len(y_true), 1)


def f1_score(y_true: list[int], y_pred: list[int]) -> float:
    """Harmonic mean of precision and recall."""
    return 0.0


def hostile(y_true: list[int], y_pred: list[int]) -> float:
    return 0.0


hostile.__doc__ = HOSTILE_DOC


def register(url: str | None = None) -> None:
    """Register the lab's artifacts in ``lab.experiments`` and ``lab.metrics`` of ``url``."""

    class Experiments(SchemeRegistry, logic_namespace="lab.experiments", url=url):
        pass

    class Metrics(FunctionalRegistry, logic_namespace="lab.metrics", url=url):
        pass

    for artifact in (Encoder, make_sgd, Experiment):
        Experiments.register_artifact(artifact)
    Metrics.register_artifact(accuracy)
    Metrics.register_artifact(hostile)


# Who registered what and when, fixed so that the pages (and their screenshots in docs/ui.md)
# look the same on every run: identifier -> [(created_at, created_by, package_version), ...],
# oldest first; the last one is the current version.
HISTORY: dict[str, list[tuple[str, str, str]]] = {
    "Encoder": [
        ("2025-03-02T09:14:00+00:00", "ada@gpu-01", "0.1.0"),
        ("2025-05-20T16:41:00+00:00", "grace@gpu-02", "0.2.0"),
        ("2025-09-11T08:03:00+00:00", "ada@gpu-01", "0.3.0"),
    ],
    "make_sgd": [("2025-04-01T11:30:00+00:00", "linus@laptop", "0.2.0")],
    "Experiment": [("2025-06-15T14:22:00+00:00", "grace@gpu-02", "0.2.0")],
    "accuracy": [("2025-02-01T10:00:00+00:00", "ada@gpu-01", "0.1.0")],
    "hostile": [("2025-08-08T23:59:00+00:00", "mallory@unknown", "0.3.0")],
}


def populate(url: str) -> None:
    """Fill ``url`` with the lab's namespaces and the provenance of :data:`HISTORY`.

    The artifacts are registered for real (schemes, signatures and source hashes come from the
    code above) in a staging memory store, then imported with fixed provenance; older versions
    of ``Encoder`` differ in source hash, signature and package version.
    """
    from registry.store import open_store
    from registry.transfer import export_namespace, import_namespace

    staging = "memory://ui-staging"
    register(staging)
    for namespace in ("lab.experiments", "lab.metrics"):
        document = export_namespace(open_store(staging), namespace)
        entries = []
        for item in document["entries"]:
            versions = HISTORY[item["identifier"]]
            for number, (created_at, created_by, version) in enumerate(versions, start=1):
                old = number < len(versions)
                entries.append(
                    {
                        **item,
                        "created_at": created_at,
                        "created_by": created_by,
                        "package_version": version,
                        "python_version": "3.10.14" if old else "3.11.7",
                        # Where the checkout is would differ from machine to machine.
                        "source_file": "tests/ui/lab.py",
                        "source_hash": f"{number:064x}" if old else item["source_hash"],
                        "signature": item["signature"].split(", dropout")[0] + ") -> None"
                        if old
                        else item["signature"],
                    }
                )
        document["entries"] = entries
        import_namespace(open_store(url), document)


def register_late(url: str) -> None:
    """Register one more metric (``f1_score``), as another process of the lab would."""

    class Metrics(FunctionalRegistry, logic_namespace="lab.metrics", url=url):
        pass

    Metrics.register_artifact(f1_score)


def unregister(url: str, identifier: str) -> None:
    class Metrics(FunctionalRegistry, logic_namespace="lab.metrics", url=url):
        pass

    Metrics.unregister_identifier(identifier)


def change_live(url: str, *steps: tuple[str, ...]) -> None:
    """Change namespace ``lab.live`` of ``url`` through the store, as another process of the
    lab would: ``("register", identifier, source)`` (a new ``source`` is a new version),
    ``("unregister", identifier)``, ``("clear",)``."""
    from registry.store import open_store
    from registry.store.base import EntryDraft

    store = open_store(url)
    store.ensure_namespace("lab.live", "function")
    for action, *args in steps:
        if action == "register":
            identifier, source = args
            draft = EntryDraft(
                identifier=identifier,
                origin=f"lab.live:{identifier}",
                source_hash=source.encode().hex().ljust(64, "0"),
                doc=f"{identifier.capitalize()}, revision {source}.",
            )
            store.register("lab.live", draft)
        elif action == "unregister":
            store.unregister("lab.live", args[0])
        else:
            store.clear("lab.live")


def fill_large(url: str, namespace: str, count: int) -> None:
    """Register ``count`` entries in ``namespace`` in one batch (a namespace the page outlines
    on a first visit)."""
    from registry.store import open_store
    from registry.store.base import EntryDraft

    store = open_store(url)
    store.ensure_namespace(namespace, "function")
    drafts = [
        EntryDraft(identifier=f"metric_{n:05d}", origin=f"lab.many:metric_{n:05d}")
        for n in range(count)
    ]
    store.register_batch(namespace, drafts)
