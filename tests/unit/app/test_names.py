"""trent.app's names, loaded on first use (app/__init__.py): each is its module's object, and the names type
checkers see (the TYPE_CHECKING imports) are the names offered."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import trent.app

SOURCE = Path(trent.app.__file__).read_text()


def _checked_names() -> dict[str, tuple[str, str]]:
    names = {}
    for node in ast.walk(ast.parse(SOURCE)):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom) and statement.module is not None
                for alias in statement.names:
                    names[alias.asname or alias.name] = (statement.module, alias.name)
    return names


def test_the_names_offered_are_the_names_type_checkers_see() -> None:
    assert _checked_names() == trent.app._LAZY
    assert sorted(trent.app.__all__) == sorted(trent.app._LAZY)


def test_each_name_is_its_modules_object() -> None:
    for name, (module, attr) in trent.app._LAZY.items():
        assert getattr(trent.app, name) is getattr(importlib.import_module(module), attr)
    assert set(trent.app.__all__) <= set(dir(trent.app))


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        trent.app.no_such_thing  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:
        raise AssertionError("no AttributeError")


def test_importing_the_package_loads_none_of_its_modules() -> None:
    code = "import sys, trent.app; print(sorted(m for m in sys.modules if m.startswith('trent.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['trent.app']"
