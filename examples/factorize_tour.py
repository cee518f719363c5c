"""A tour of factorization: build a validated object graph from nested configs, files and an
HTTP source, then turn it back into a config.

Run with ``python examples/factorize_tour.py`` (from the repository root).
"""

from __future__ import annotations

import json
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

# The experiment's building blocks (Encoder, make_sgd, make_run in the registry Exp) are lab
# code: examples/labexp.py, which `registry build` and the README use too.
from labexp import Exp

import registry
from registry import ConfigFileEngine, FunctionalRegistry, ValidationError


class Optimizers(FunctionalRegistry):
    """Another registry, referenced from configs as ``Optimizers:name``."""


@Optimizers.register_artifact
def adam(learning_rate: float = 1e-3) -> dict[str, float]:
    return {"adam_lr": learning_rate}


def from_keywords() -> None:
    run = Exp.factorize_artifact(
        "make_run",
        model={"_type": "Encoder", "hidden_dim": "256"},  # "256" is coerced to 256
        optimizer={"_type": "make_sgd", "learning_rate": 0.01},
        epochs=5,
    )
    print("built:", run)
    # Encoder is the annotation of make_run's model: a plain mapping builds it
    print("annotated:", Exp.factorize_artifact("make_run", model={"hidden_dim": 8}, optimizer={}))
    print(
        "other registry:",
        Exp.factorize_artifact(
            "make_run", model={"hidden_dim": 8}, optimizer={"_type": "Optimizers:adam"}
        ),
    )
    encoder_factory = Exp.factorize_artifact("Encoder", _partial_=True, num_layers=2)
    print("partial:", encoder_factory, "->", encoder_factory(hidden_dim=4))


def errors() -> None:
    for bad in (
        {"model": {"_type": "Encoder", "hidden_dim": "wide"}, "optimizer": {}},
        {"model": {"_type": "Encodr", "hidden_dim": 1}, "optimizer": {}},
        {"model": {"_type": "os.system", "command": "echo pwned"}, "optimizer": {}},
    ):
        try:
            Exp.factorize_artifact("make_run", **bad)
        except ValidationError as error:
            print(f"refused at {error.context['path']!r}: {error.message}")


def files_and_round_trip(folder: Path) -> None:
    run = Exp.factorize_artifact(
        "make_run",
        model={"_type": "Encoder", "hidden_dim": 64},
        optimizer={"_type": "make_sgd", "learning_rate": 0.1},
    )
    config = Exp.to_config(run["model"])
    print("to_config:", config)
    for suffix in ("yaml", "json", "toml"):
        path = registry.dump_config(config, folder / f"encoder.{suffix}")
        print(f"from {path.name}:", Exp.factorize_from_file("Encoder", path))

    @ConfigFileEngine.register_artifact
    def ini(filepath: Path) -> dict[str, Any]:
        import configparser

        parser = configparser.ConfigParser()
        parser.read(filepath)
        return dict(parser["encoder"])

    (folder / "encoder.ini").write_text("[encoder]\nhidden_dim = 32\n")
    print("from encoder.ini:", Exp.factorize_from_file("Encoder", folder / "encoder.ini"))


class _Configs(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps(
            {"model": {"hidden_dim": 128}, "optimizer": {"_type": "make_sgd", "learning_rate": 0.2}}
        )
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: Any) -> None:
        pass


def from_http() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Configs)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/cfg"
        print("from http:", Exp.factorize_from_socket("make_run", {"url": url, "timeout": 5}))
    finally:
        server.shutdown()
        server.server_close()


def main() -> None:
    from_keywords()
    errors()
    with tempfile.TemporaryDirectory() as folder:
        files_and_round_trip(Path(folder))
    from_http()


if __name__ == "__main__":
    main()
