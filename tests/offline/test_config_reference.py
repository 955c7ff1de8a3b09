"""The README's config reference is generated from the model and describes every key."""

from __future__ import annotations

from offline import config_reference


def test_the_readme_holds_the_generated_reference() -> None:
    readme = config_reference.README.read_text()
    assert config_reference.section() in readme, "regenerate it: python -m offline.config_reference --write"


def test_every_key_has_a_description() -> None:
    rows = config_reference.rows()
    assert len(rows) > 50
    assert [key for key, _, _, description in rows if not description.strip()] == []
