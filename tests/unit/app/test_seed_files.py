"""Reading seed files (app/seeds.py): by extension, syntax errors as one line naming the file, the refusals of
the parser with the file in front, and the examples of docs/seeds.md and the README."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from tests.unit.ops.test_seeding import _deps
from trent.app.seeds import apply_seed, load_seed
from trent.app.storage import SetupError
from trent.ops.seeds import Seed

DOCS = Path(__file__).parents[3] / "docs" / "seeds.md"
README = Path(__file__).parents[3] / "README.md"


def _blocks(path: Path, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", path.read_text(), flags=re.DOTALL)


def _written(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_toml_and_yaml_examples_are_the_same_seed(tmp_path: Path) -> None:
    (toml,) = _blocks(DOCS, "toml")
    (yaml,) = _blocks(DOCS, "yaml")
    from_toml = load_seed(_written(tmp_path, "seed.toml", toml))
    from_yaml = load_seed(_written(tmp_path, "seed.yaml", yaml))
    assert from_toml.keys and from_toml.users and from_toml.access_keys
    assert _normalized(from_toml) == _normalized(from_yaml)


def _normalized(seed: Seed) -> Seed:
    """The seed with each policy as canonical JSON (a table becomes compact JSON, TOML text keeps its spacing)."""

    def canonical(policy: str | None) -> str | None:
        return None if policy is None else json.dumps(json.loads(policy), sort_keys=True)

    return replace(
        seed,
        source="",
        users=tuple(replace(u, policy=canonical(u.policy)) for u in seed.users),
        keys=tuple(replace(k, policy=canonical(k.policy)) for k in seed.keys),
    )


def test_the_readme_example_reads(tmp_path: Path) -> None:
    examples = [b for b in _blocks(README, "toml") if "[[keys]]" in b]
    assert examples, "the README shows a seed file"
    for text in examples:
        assert load_seed(_written(tmp_path, "seed.toml", text)).keys


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("seed.ini", "", "give it the extension .toml, .yaml or .yml"),
        ("seed.toml", "[[keys]\n", "is not valid TOML"),
        ("seed.yaml", "keys: [\n", "is not valid YAML"),
        ("seed.yaml", "- a\n- b\n", "the document must be a table"),
        ("seed.toml", '[[keys]]\nkey_id = "x"\n', "keys[0]: key_id 'x' is not a key id"),
    ],
)
def test_a_bad_file_is_one_setup_error_naming_it(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = _written(tmp_path, name, text)
    with pytest.raises(SetupError) as caught:
        load_seed(path)
    assert str(caught.value).startswith(f"seed file {path}") and message in str(caught.value)


def test_a_syntax_error_does_not_quote_the_file(tmp_path: Path) -> None:
    secret = "zq9Xsecretmaterialzq9X"
    path = _written(tmp_path, "seed.yaml", f"keys:\n  - key_id: x\n    material: {secret}: [\n")
    with pytest.raises(SetupError) as caught:
        load_seed(path)
    assert "is not valid YAML" in str(caught.value) and "line 3" in str(caught.value)
    assert secret not in str(caught.value)


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SetupError, match="cannot be read"):
        load_seed(tmp_path / "absent.toml")


def test_an_empty_file_is_an_empty_seed(tmp_path: Path) -> None:
    assert load_seed(_written(tmp_path, "seed.yaml", "")).keys == ()


def test_the_docs_example_plants(tmp_path: Path) -> None:
    (toml,) = _blocks(DOCS, "toml")
    deps = _deps()
    made = apply_seed(load_seed(_written(tmp_path, "seed.toml", toml)), deps)
    assert made == {"account": 2, "user": 1, "access key": 2, "key": 5, "alias": 2, "grant": 1}
    assert apply_seed(load_seed(_written(tmp_path, "seed.toml", toml)), deps) == {}
