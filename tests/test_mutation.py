"""The mutation runner's verdict logic and its adapter table."""

from conformance.faults.adapters import ADAPTERS
from conformance.faults.mutation import ADAPTED, judge
from conformance.faults.registry import FAULTS, resolve
from conformance.harness.capabilities import CAPABILITIES

T1, T2 = "t.py::test_a[x]", "t.py::test_a[y]"


def test_caught_when_a_passing_test_records_a_violation():
    result = judge("f", ["R-1"], {"R-1": {T1: "passed", T2: "xfailed"}}, {"R-1": {T1: "failed", T2: "xfailed"}})
    assert result.outcome == "caught" and result.caught_by == ["R-1"]


def test_should_violations_and_known_deviations_count_as_caught():
    assert judge("f", ["R"], {"R": {T1: "passed"}}, {"R": {T1: "non-strict"}}).outcome == "caught"
    assert judge("f", ["R"], {"R": {T1: "xpassed"}}, {"R": {T1: "xfailed"}}).outcome == "caught"


def test_unmeasurable_when_nothing_passed_without_the_fault():
    result = judge("f", ["R"], {"R": {T1: "xfailed"}}, {"R": {T1: "xfailed"}})
    assert result.outcome == "unmeasurable" and "R=xfailed" in result.detail
    assert judge("f", ["R"], {}, {}).outcome == "unmeasurable"


def test_missed_and_broken():
    assert judge("f", ["R"], {"R": {T1: "passed"}}, {"R": {T1: "passed"}}).outcome == "missed"
    assert judge("f", ["R"], {"R": {T1: "passed"}}, {"R": {T1: "broken"}}).outcome == "broken"


def test_adapter_table_names_real_faults_adapters_and_capabilities():
    for fault, (adapters, caps) in ADAPTED.items():
        assert fault in FAULTS
        assert all(a in ADAPTERS for a in adapters)
        assert set(caps) <= CAPABILITIES.keys()
        resolved = resolve([*(ADAPTERS[a] for a in adapters), fault])
        assert [f.name for f in resolved] == [*adapters, fault]  # adapters first, then the fault
    assert not set(ADAPTERS) & set(FAULTS)
