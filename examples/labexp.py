"""Lab code for the config examples (README, docs/cli.md): an experiment registry.

`registry build run.yaml --import labexp` (run from this folder) builds what run.yaml
describes; `bad.yaml` shows the error for a misspelt name.
"""

from __future__ import annotations

from typing import Any

from registry import SchemeRegistry


class Encoder:
    """A stand-in for a model: remembers its size."""

    def __init__(self, hidden_dim: int, num_layers: int = 3) -> None:
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers

    def __repr__(self) -> str:
        return f"Encoder({self.hidden_dim}, {self.num_layers})"


def make_sgd(learning_rate: float, momentum: float = 0.9) -> dict[str, float]:
    """Optimizer settings."""
    return {"lr": learning_rate, "momentum": momentum}


def make_run(model: Encoder, optimizer: dict[str, float], epochs: int = 1) -> dict[str, Any]:
    """One training run: a model, its optimizer and how long to train."""
    return {"model": model, "optimizer": optimizer, "epochs": epochs}


class Exp(SchemeRegistry):
    """The experiment's building blocks, referred to as "Exp:name" in configs."""


Exp.register_artifact(Encoder)
Exp.register_artifact(make_sgd)
Exp.register_artifact(make_run)

if __name__ == "__main__":
    from pathlib import Path

    here = Path(__file__).resolve().parent
    print(Exp.factorize_from_file("make_run", here / "run.yaml"))
