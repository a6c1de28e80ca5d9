"""Every check passes its good fixtures and fails its bad fixtures (a check that cannot fail is a
defect), and every registered check has both."""

from __future__ import annotations

import pytest

from conformance.harness.checks import load_all
from conformance.harness.failures import ConformanceFailure
from tests.check_fixtures import call, load_fixture_files

CHECKS = load_all()
FIXTURES = load_fixture_files()


def _cases(kind: str) -> list:
    params = []
    for name, doc in sorted(FIXTURES.items()):
        for i, case in enumerate(doc.get(kind, [])):
            params.append(pytest.param(name, case, id=f"{name}-{kind}-{i}"))
    return params


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_every_check_has_good_and_bad_fixtures(name):
    doc = FIXTURES.get(name)
    assert doc is not None, f"no tests/fixtures/checks/{name}.json"
    assert doc.get("good"), f"{name}: no good fixture"
    assert doc.get("bad"), f"{name}: no bad fixture"


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_fixture_names_a_registered_check(name):
    assert name in CHECKS, f"fixture {FIXTURES[name]['_file']} names unknown check {name}"


@pytest.mark.parametrize(("name", "case"), _cases("good"))
def test_check_passes_good_fixture(name, case):
    call(CHECKS[name].func, case)


@pytest.mark.parametrize(("name", "case"), _cases("bad"))
def test_check_fails_bad_fixture(name, case):
    with pytest.raises(ConformanceFailure) as info:
        call(CHECKS[name].func, case)
    failure = info.value
    requirement = CHECKS[name].requirement
    assert failure.requirement == requirement or str(failure).startswith(("SchemaViolation", requirement)), (
        f"{name}: failure carries {failure.requirement}, expected {requirement}"
    )
    if "expect" in case:
        assert case["expect"] in str(failure), f"{name}: {case['expect']!r} not in {failure}"
