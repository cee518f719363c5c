"""A short tour of registry: local registries, strict checks, schemes and errors.

Run it with ``make tour`` (or ``python examples/tour.py`` once the package is installed).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from registry import (
    ConformanceError,
    FunctionalRegistry,
    InheritanceError,
    RegistryError,
    SchemeRegistry,
    TypeRegistry,
    ValidationError,
)


def section(title: str) -> None:
    print(f"\n== {title}")


# --------------------------------------------------------------------------- functions
section("FunctionalRegistry")


class Losses(FunctionalRegistry):
    """Registry of loss functions."""


@Losses.register_artifact
def mse(y_true: float, y_pred: float) -> float:
    """Squared error."""
    return (y_true - y_pred) ** 2


@Losses.register_artifact
def mae(y_true: float, y_pred: float) -> float:
    """Absolute error."""
    return abs(y_true - y_pred)


print("registered:", list(Losses.iter_identifiers()))
print("mse(3, 1) =", Losses.get_artifact("mse")(3.0, 1.0))

try:
    Losses.get_artifact("msee")
except RegistryError as error:
    print("miss ->", error.message, "|", error.suggestions[0])


# --------------------------------------------------------------------------- strict
section("strict signatures")


class Unary(FunctionalRegistry[[int], int], strict=True):
    """Functions int -> int."""


@Unary.register_artifact
def double(x: int) -> int:
    return 2 * x


def shout(text: str) -> str:
    return text.upper()


try:
    Unary.register_artifact(shout)
except ConformanceError as error:
    print("refused shout:", "; ".join(error.context["problems"]))


# --------------------------------------------------------------------------- classes
section("TypeRegistry[Base], abstract=True")


class Model(ABC):
    @abstractmethod
    def forward(self, x: float) -> float: ...


class Models(TypeRegistry[Model], abstract=True):
    """Model implementations."""


@Models.register_artifact
class Linear(Model):
    def __init__(self, slope: float, bias: float = 0.0) -> None:
        self.slope, self.bias = slope, bias

    def forward(self, x: float) -> float:
        return self.slope * x + self.bias


class NotAModel:
    pass


try:
    Models.register_artifact(NotAModel)
except InheritanceError as error:
    print("refused NotAModel:", error.suggestions[0])
print("Linear(2).forward(3) =", Models.get_artifact("Linear")(2.0).forward(3.0))


# --------------------------------------------------------------------------- schemes
section("SchemeRegistry")


class Configurations(SchemeRegistry):
    """Configuration schemes."""


@Configurations.register_artifact
def create_optimizer(learning_rate: float, momentum: float = 0.9) -> dict[str, float]:
    return {"lr": learning_rate, "momentum": momentum}


config = Configurations.build_config("create_optimizer", learning_rate=0.01)
print(type(config).__name__, config)
print("execute ->", Configurations.execute("create_optimizer", {"learning_rate": "0.01"}))
try:
    Configurations.execute("create_optimizer", {"learning_rate": "fast"})
except ValidationError as error:
    print("bad config ->", error.message)


# --------------------------------------------------------------------------- batches
section("batches")
report = Losses.safe_register_batch({"huber": lambda a, b: abs(a - b), "bad": 3})
print("successful:", report["successful"], "failed:", report["failed"])
print("error for 'bad':", report["errors"][0]["error"])


# --------------------------------------------------------------------------- persistence
section("persistence (logic_namespace=, embedded SQLite by default)")

import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import labcode  # noqa: E402

from registry.settings import resolve_url  # noqa: E402


class LabLosses(FunctionalRegistry, logic_namespace="tour.losses"):
    """Shared with every process (and, with PostgreSQL, every machine) of the lab."""


LabLosses.register_artifact(labcode.focal)  # running the tour again is a no-op
LabLosses.register_artifact(labcode.hinge)
print("store:", resolve_url())
print("stored:", list(LabLosses.iter_identifiers()))

# A brand-new process sees the names without importing labcode, and imports it on first use.
child = f"""
import sys
sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
import registry
Losses = registry.open("tour.losses")
print("  new process lists:", list(Losses.iter_identifiers()), "| labcode imported:", "labcode" in sys.modules)
print("  focal(1, 0) =", Losses.get_artifact("focal")(1.0, 0.0), "| labcode imported:", "labcode" in sys.modules)
"""
print(
    subprocess.run(
        [sys.executable, "-c", child], capture_output=True, text=True, check=True
    ).stdout,
    end="",
)
print("history of focal:", [(r.version, r.created_by) for r in LabLosses.history("focal")])
