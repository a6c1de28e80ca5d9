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
