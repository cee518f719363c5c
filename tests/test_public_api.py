"""The public surface: __all__, light import, entry-point plugins."""

from __future__ import annotations

import textwrap

import registry


def test_all_is_sorted_and_complete():
    assert list(registry.__all__) == sorted(registry.__all__)
    public = {name for name in vars(registry) if not name.startswith("_")}
    submodules = {name for name in public if type(getattr(registry, name)).__name__ == "module"}
    assert public - submodules == set(registry.__all__)


def test_import_is_light(python):
    result = python(
        "import sys, registry\n"
        "heavy = [m for m in ('sqlalchemy', 'alembic', 'yaml', 'cloudpickle', 'fastapi', 'psycopg') if m in sys.modules]\n"
        "print(heavy)"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_entry_point_plugins_load_once_on_first_miss(python, tmp_path):
    package = tmp_path / "labplugin"
    package.mkdir()
    (package / "__init__.py").write_text(
        textwrap.dedent(
            """
            import os
            from registry import find_registry
            COUNT_FILE = os.environ["PLUGIN_COUNT_FILE"]
            with open(COUNT_FILE, "a") as handle:
                handle.write("x")
            def plugin_loss(x):
                return x
            find_registry("Losses").register_artifact(plugin_loss)
            """
        )
    )
    dist = tmp_path / "labplugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: labplugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[registry]\nlab = labplugin\n")
    count_file = tmp_path / "count"
    code = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        from registry import FunctionalRegistry, RegistryError
        class Losses(FunctionalRegistry):
            pass
        def local(x):
            return x
        Losses.register_artifact(local)
        Losses.get_artifact("local")                     # a hit never scans
        assert open({str(count_file)!r}).read() == "" if __import__("os").path.exists({str(count_file)!r}) else True
        print(Losses.get_artifact("plugin_loss").__module__)  # first miss loads plugins
        try:
            Losses.get_artifact("still_missing")         # later misses do not rescan
        except RegistryError:
            pass
        print(open({str(count_file)!r}).read())
        """
    )
    result = python(code, env={"PLUGIN_COUNT_FILE": str(count_file)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["labplugin", "x"]
