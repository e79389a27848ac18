"""Test modules import helpers with ``from conftest import ...``; that only works while tests/ has one conftest.py.

pytest drops a rootless ``conftest`` from ``sys.modules`` before importing the next one, so a second
conftest.py in a subfolder silently becomes the ``conftest`` later test modules import from (CI failed on that).
"""

from pathlib import Path


def test_tests_has_exactly_one_conftest():
    found = sorted(str(p.relative_to(Path(__file__).parent)) for p in Path(__file__).parent.rglob("conftest.py"))
    assert found == ["conftest.py"], f"move the fixtures of {found} into tests/conftest.py"
