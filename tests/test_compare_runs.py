"""tools/compare_runs.py flags any verdict that differs between runs."""

import json

from tools.compare_runs import main


def _write(path, outcomes):
    path.write_text(json.dumps({"requirements": {k: {"outcome": v} for k, v in outcomes.items()}}))
    return path


def test_identical_runs_pass(tmp_path):
    a = _write(tmp_path / "a.json", {"OAI-CHAT-001": "passed", "OAI-STREAM-007": "xfailed"})
    b = _write(tmp_path / "b.json", {"OAI-CHAT-001": "passed", "OAI-STREAM-007": "xfailed"})
    assert main([str(a), str(b)]) == 0


def test_a_changed_verdict_fails(tmp_path, capsys):
    a = _write(tmp_path / "a.json", {"OAI-CHAT-001": "passed", "OAI-STREAM-007": "xfailed"})
    b = _write(tmp_path / "b.json", {"OAI-CHAT-001": "passed", "OAI-STREAM-007": "xpassed"})
    c = _write(tmp_path / "c.json", {"OAI-CHAT-001": "passed"})
    assert main([str(a), str(b), str(c), "--markdown", str(tmp_path / "d.md")]) == 1
    out = capsys.readouterr().out
    assert "| OAI-STREAM-007 | xfailed | xpassed | absent |" in out
    assert (tmp_path / "d.md").read_text().startswith("# Verdict comparison")


def _doc(path, rows, intermittent=()):
    path.write_text(json.dumps({"requirements": {rid: {"outcome": o, "test_outcomes": t} for rid, (o, t) in rows.items()},
                                "intermittent_deviations": list(intermittent)}))
    return path


def test_intermittent_deviation_shown_or_not_is_one_verdict(tmp_path):
    t = "conformance/openai/test_x.py::test_created"
    a = _doc(tmp_path / "a.json", {"OAI-STREAM-007": ("xfailed", {t: "xfailed"})}, ["OAI-STREAM-007"])
    b = _doc(tmp_path / "b.json", {"OAI-STREAM-007": ("passed", {t: "passed"})}, ["OAI-STREAM-007"])
    assert main([str(a), str(b)]) == 0
    # without the declaration the same change is a verdict change; an XPASS never is excused
    a2 = _doc(tmp_path / "a2.json", {"OAI-STREAM-007": ("xfailed", {t: "xfailed"})})
    b2 = _doc(tmp_path / "b2.json", {"OAI-STREAM-007": ("passed", {t: "passed"})})
    assert main([str(a2), str(b2)]) == 1
    c = _doc(tmp_path / "c.json", {"OAI-STREAM-007": ("failed", {t: "failed"})}, ["OAI-STREAM-007"])
    assert main([str(a), str(c)]) == 1


def test_a_verdict_moving_between_tests_is_seen(tmp_path, capsys):
    t1, t2 = "m.py::test_a[x]", "m.py::test_a[y]"
    a = _doc(tmp_path / "a.json", {"OAI-ERR-001": ("xfailed", {t1: "xfailed", t2: "passed"})})
    b = _doc(tmp_path / "b.json", {"OAI-ERR-001": ("xfailed", {t1: "passed", t2: "xfailed"})})
    assert main([str(a), str(b)]) == 1
    assert f"test:{t1}" in capsys.readouterr().out
