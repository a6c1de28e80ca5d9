"""The comparison matrix (``python -m conformance.compare``): loading runs, the requirement × run
matrix (union, absent, intermittent deviations, diff column), colours and escaping, links to each
run's Allure test, the timing table and the CLI. Synthetic documents; no endpoint, no Allure."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conformance.compare import __main__ as cli
from conformance.compare.model import (ABSENT, CompareError, allure_id, build_matrix, default_names, load_doc,
                                       load_run, load_runs, nodeid_of_result, relative_link, timing_table)
from conformance.compare.render import STYLE, html_page, markdown
from conformance.harness import outcomes, reporting
from conformance.harness.redaction import MASK

T_CHAT = "conformance/openai/test_chat_completions_basic.py::test_chat_completion_validates"
T_STREAM = "conformance/openai/test_chat_completions_streaming.py::test_created[a]"


def row(outcome, tests=(), message="", level="MUST", violations=()):
    tests = dict(tests)
    return {"level": level, "outcome": outcome, "tests": sorted(tests), "test_outcomes": tests,
            "message": message, "violations": list(violations)}


def write_run(directory: Path, requirements, *, profile="reference", model="m", endpoint="http://e:1",
              intermittent=(), **extra) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    doc = {"suite_version": "0.1.0", "endpoint": endpoint, "model": model, "profile": profile, "strict": False,
           "server": "llama.cpp", "generated_at": "2026-12-01T10:00:00Z", "requirements": requirements,
           "test_outcomes": {t: o for r in requirements.values() for t, o in r["test_outcomes"].items()},
           "intermittent_deviations": list(intermittent), **extra}
    (directory / "conformance.json").write_text(json.dumps(doc), encoding="utf-8")
    return directory


def two_runs(tmp_path, **kw_b):
    a = write_run(tmp_path / "a", {"OAI-CHAT-001": row("passed", {T_CHAT: "passed"}),
                                   "OAI-STREAM-007": row("xfailed", {T_STREAM: "xfailed"})}, profile="ref-a")
    b = write_run(tmp_path / "b", {"OAI-CHAT-001": row("failed", {T_CHAT: "failed"}, "boom")}, profile="ref-b",
                  **kw_b)
    return a, b


# --- loading --------------------------------------------------------------------------------------


def test_a_run_is_a_directory_or_its_conformance_json(tmp_path):
    a, _ = two_runs(tmp_path)
    assert load_run(a).source == a / "conformance.json"
    assert load_run(a / "conformance.json").doc["profile"] == "ref-a"


@pytest.mark.parametrize("make, says", [
    (lambda p: p / "nowhere", "no such file or directory"),
    (lambda p: p, "no conformance.json in this directory"),
    (lambda p: (p / "x.json").write_text("{not json") and p / "x.json", "not JSON"),
    (lambda p: (p / "y.json").write_text('{"totals": {}}') and p / "y.json", "not a conformance.json"),
    (lambda p: (p / "z.json").write_text('{"requirements": {"OAI-CHAT-001": {}}}') and p / "z.json", "has no outcome"),
])
def test_an_unreadable_run_is_a_clear_error_and_exit_2(tmp_path, capsys, make, says):
    bad = make(tmp_path)
    with pytest.raises(CompareError, match=says):
        load_doc(bad)
    good = write_run(tmp_path / "good", {"OAI-CHAT-001": row("passed", {T_CHAT: "passed"})})
    assert cli.main([str(good), str(bad), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("compare: ") and says in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "compare.html").exists()


def test_default_names_come_from_the_documents_and_are_unique(tmp_path):
    a, b = two_runs(tmp_path)
    assert [r.name for r in load_runs([a, b])] == ["ref-a", "ref-b"]
    same1 = write_run(tmp_path / "1-idle", {}, profile="reference", model="x")
    same2 = write_run(tmp_path / "2-loaded", {}, profile="reference", model="x")
    assert default_names([load_run(same1), load_run(same2)]) == ["reference (1-idle)", "reference (2-loaded)"]
    assert [r.name for r in load_runs([same1, same1 / "conformance.json"])] == [
        "reference (1-idle) #1", "reference (1-idle) #2"]
    assert [r.name for r in load_runs([a, b], ["old", "new"])] == ["old", "new"]
    with pytest.raises(CompareError, match="not unique"):
        load_runs([a, b], ["x", "x"])


# --- the matrix ------------------------------------------------------------------------------------


def test_rows_are_the_union_and_a_missing_row_is_absent(tmp_path):
    a, b = two_runs(tmp_path)
    m = build_matrix(load_runs([a, b]), tmp_path / "out")
    ids = [r.rid for r in m.rows]
    assert ids == ["OAI-CHAT-001", "OAI-STREAM-007"]
    stream = m.rows[1]
    assert [c.outcome for c in stream.cells] == ["xfailed", ABSENT]
    assert stream.differs and stream.diff == "differs: xfailed (ref-a); absent (ref-b)"
    chat = m.rows[0]
    assert chat.level == "MUST" and chat.title  # from the catalog
    assert chat.diff == "differs: passed (ref-a); failed (ref-b)"
    assert [f for f, _ in m.families()] == ["OAI-CHAT", "OAI-STREAM"]


def test_identical_verdicts_are_same(tmp_path):
    a, _ = two_runs(tmp_path)
    m = build_matrix(load_runs([a, a / "conformance.json"]), tmp_path / "out")
    assert not m.differing and {r.diff for r in m.rows} == {"same"}


def test_an_intermittent_deviation_shown_or_not_is_the_same_verdict(tmp_path):
    rid = "OAI-STREAM-007"
    a = write_run(tmp_path / "a", {rid: row("xfailed", {T_STREAM: "xfailed"})}, intermittent=[rid], model="a")
    b = write_run(tmp_path / "b", {rid: row("passed", {T_STREAM: "passed"})}, intermittent=[rid], model="b")
    assert not build_matrix(load_runs([a, b]), tmp_path).differing
    # without the declaration it differs; a failure never hides behind it
    a2 = write_run(tmp_path / "a2", {rid: row("xfailed", {T_STREAM: "xfailed"})}, model="a2")
    b2 = write_run(tmp_path / "b2", {rid: row("passed", {T_STREAM: "passed"})}, model="b2")
    assert [r.rid for r in build_matrix(load_runs([a2, b2]), tmp_path).differing] == [rid]
    c = write_run(tmp_path / "c", {rid: row("failed", {T_STREAM: "failed"})}, intermittent=[rid], model="c")
    assert [r.rid for r in build_matrix(load_runs([a, c]), tmp_path).differing] == [rid]


def test_a_verdict_moving_between_tests_differs(tmp_path):
    t1, t2 = "m.py::test_a[x]", "m.py::test_a[y]"
    a = write_run(tmp_path / "a", {"OAI-ERR-001": row("xfailed", {t1: "xfailed", t2: "passed"})}, model="a")
    b = write_run(tmp_path / "b", {"OAI-ERR-001": row("xfailed", {t1: "passed", t2: "xfailed"})}, model="b")
    (r,) = build_matrix(load_runs([a, b]), tmp_path).rows
    assert r.differs and r.tests_differ == [t1, t2] and r.diff.startswith("tests differ (2)")


# --- colours and escaping ----------------------------------------------------------------------------


def _cell_html(page: str, rid: str, index: int) -> str:
    tr = re.search(rf'<tr class="[a-z]+" id="{rid}">(.*?)</tr>', page, re.S).group(1)
    return re.findall(r"<td class=\"o[^\"]*\".*?</td>", tr, re.S)[index]


def test_cells_are_coloured_by_outcome_and_a_deviation_has_its_reason(tmp_path):
    dev = [{"test": T_STREAM, "kind": "known-deviation", "message": "no created", "shapes": [],
            "deviation": "llama.cpp omits created"}]
    a = write_run(tmp_path / "a", {"OAI-CHAT-001": row("passed", {T_CHAT: "passed"}),
                                   "OAI-STREAM-007": row("xfailed", {T_STREAM: "xfailed"}, violations=dev)},
                  model="a")
    b = write_run(tmp_path / "b", {"OAI-CHAT-001": row("failed", {T_CHAT: "failed"}, "boom"),
                                   "OAI-STREAM-007": row("xpassed", {T_STREAM: "xpassed"})}, model="b")
    page = html_page(build_matrix(load_runs([a, b]), tmp_path / "out"))
    assert f"background:{STYLE['passed'][2]}" in _cell_html(page, "OAI-CHAT-001", 0)
    assert f"background:{STYLE['failed'][2]}" in _cell_html(page, "OAI-CHAT-001", 1)
    known = _cell_html(page, "OAI-STREAM-007", 0)
    assert f"background:{STYLE['xfailed'][2]}" in known and "known deviation: llama.cpp omits created" in known
    assert f"background:{STYLE['xpassed'][2]}" in _cell_html(page, "OAI-STREAM-007", 1)
    assert len({STYLE[o][2] for o in ("passed", "failed", "broken", "xfailed", "xpassed", "non-strict",
                                      "skipped")}) == 7  # each outcome its own colour
    md = markdown(build_matrix(load_runs([a, b]), tmp_path / "out"))
    assert "| OAI-CHAT-001 | MUST |" in md and "✅ passed" in md and "❌ failed" in md and "⚠️ known deviation" in md


def test_endpoint_text_is_escaped_everywhere(tmp_path):
    evil = '<script>alert("x")</script> | "quoted" & more'
    a = write_run(tmp_path / "a", {"OAI-CHAT-001": row("failed", {T_CHAT: "failed"}, evil)},
                  model=evil, endpoint="http://e/<img src=x onerror=alert(1)>")
    b = write_run(tmp_path / "b", {"OAI-CHAT-001": row("passed", {T_CHAT: "passed"})}, model="b")
    m = build_matrix(load_runs([a, b], ['<b>run</b>"', "b"]), tmp_path / "out")
    page = html_page(m)
    assert "<script>" not in page and "<img" not in page and "<b>run</b>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page  # in the tooltip and the header
    assert "&lt;b&gt;run&lt;/b&gt;&quot;" in page
    md = markdown(m)
    assert "<script>" not in md and "&lt;script&gt;" in md and "&lt;/script&gt; \\| \"quoted\"" in md
    cells = [len(re.split(r"(?<!\\)\|", line)) - 2 for line in md.split("## Matrix")[0].splitlines()
             if line.startswith("| ")]
    assert cells and set(cells) == {3}  # a pipe in a value never splits a cell (label + 2 runs)


def test_a_long_message_is_truncated_in_the_tooltip_with_a_note(tmp_path):
    a = write_run(tmp_path / "a", {"OAI-CHAT-001": row("failed", {T_CHAT: "failed"}, "x" * 5000)})
    page = html_page(build_matrix(load_runs([a]), tmp_path))
    assert "x" * 600 in page and "x" * 601 not in page
    assert "4400 more characters left out here" in page


# --- links -----------------------------------------------------------------------------------------


def add_allure(run_dir: Path, nodeid: str, uuid: str = "4a16da46-7c78-4ad6-bc81-2a3d58a4084a", *,
               html: bool = True, in_report: bool = True) -> str:
    path, _, name = nodeid.partition("::")
    results = run_dir / "allure-results"
    results.mkdir(parents=True, exist_ok=True)
    (results / f"{uuid}-result.json").write_text(json.dumps(
        {"uuid": uuid, "name": name, "status": "passed", "stop": 5, "titlePath": path.split("/")}))
    if html:
        data = run_dir / "allure-html" / "data" / "test-results"
        data.mkdir(parents=True, exist_ok=True)
        (run_dir / "allure-html" / "index.html").write_text("<html></html>")
        if in_report:
            (data / f"{allure_id(uuid)}.json").write_text("{}")
    return allure_id(uuid)


def test_allure_ids_and_node_ids_follow_allure_3():
    # @allurereport/core: id = md5(uuid) (checked against a generated report of a real run)
    assert allure_id("ff6f967b-07e9-40df-956e-f14b861d027e") == "1653d309f1e7cbf61955cf3d5e9198ac"
    assert nodeid_of_result({"name": "test_x[a-b]", "titlePath": ["conformance", "openai", "test_m.py"]}) == \
        "conformance/openai/test_m.py::test_x[a-b]"
    assert nodeid_of_result({"name": "test_y", "titlePath": ["tests", "test_m.py", "TestK"]}) == \
        "tests/test_m.py::TestK::test_y"
    assert nodeid_of_result({"name": "test_y"}) is None


def test_cells_link_relative_to_the_page_to_the_runs_allure_test(tmp_path):
    a, b = two_runs(tmp_path)
    rid = add_allure(a, T_CHAT)
    out = tmp_path / "reports" / "compare"
    m = build_matrix(load_runs([a, b]), out)
    link = m.rows[0].cells[0].link
    assert link == f"../../a/allure-html/index.html#/{rid}"
    assert (out / link.split("#")[0]).resolve() == (a / "allure-html" / "index.html").resolve()
    assert m.rows[0].cells[1].link is None  # run b has no Allure HTML
    md = markdown(m)
    assert f"[✅ passed](../../a/allure-html/index.html#/{rid})" in md
    assert "ref-b: no links: no Allure HTML" in md  # the footnote says why
    assert "ref-a: links open allure-html/index.html, which loads only when served over HTTP" in md
    assert f'href="../../a/allure-html/index.html#/{rid}"' in html_page(m)


def test_no_link_to_a_test_the_report_does_not_hold(tmp_path):
    a, _ = two_runs(tmp_path)
    add_allure(a, T_CHAT, in_report=False)
    assert load_run(a).allure.ids == {}
    a2, _ = two_runs(tmp_path / "x")
    add_allure(a2, T_CHAT, html=False)
    assert load_run(a2).allure is None


def test_the_single_file_report_is_preferred_it_opens_from_file_urls(tmp_path):
    a, _ = two_runs(tmp_path)
    rid = add_allure(a, T_CHAT, html=False)
    other = add_allure(a, T_STREAM, "33333333-0000-0000-0000-000000000000", html=False)
    single = a / "allure-html-single" / "index.html"
    single.parent.mkdir()
    single.write_text(f'<script>d("data/test-results/{rid}.json","e30=")</script>')  # holds T_CHAT only
    run = load_run(a)
    assert run.allure.single_file and run.allure.ids == {T_CHAT: rid} and other not in run.allure.ids.values()
    m = build_matrix([run], tmp_path / "out")
    assert m.rows[0].cells[0].link == f"../a/allure-html-single/index.html#/{rid}"
    assert "allure-html/index.html, which loads only when served" not in markdown(m)


def test_a_cell_links_the_test_with_the_rows_outcome(tmp_path):
    t_ok, t_bad = "m.py::test_ok", "m.py::test_bad"
    a = write_run(tmp_path / "a", {"OAI-CHAT-001": row("failed", {t_ok: "passed", t_bad: "failed"})})
    add_allure(a, t_ok, "11111111-0000-0000-0000-000000000000")
    bad = add_allure(a, t_bad, "22222222-0000-0000-0000-000000000000")
    cell = build_matrix(load_runs([a]), tmp_path).rows[0].cells[0]
    assert cell.test == t_bad and cell.link.endswith(f"#/{bad}")


def test_relative_link_quotes_the_path(tmp_path):
    assert relative_link(str(tmp_path / "my run" / "index.html#/abc"), tmp_path / "out") == "../my%20run/index.html#/abc"


# --- timing ---------------------------------------------------------------------------------------


def stats(p50, p90, n=5):
    return {"n": n, "p50": p50, "p90": p90, "p99": p90, "mean": p50, "min": p50, "max": p90}


def test_timing_table_from_the_metrics_blocks(tmp_path):
    metrics = {"apis": {"chat": {"requests": 5, "ttft_ms": stats(812, 900), "tpot_ms": stats(12.34, 15.5),
                                 "e2e_ms": stats(1500, 2100), "output_tokens_per_s": stats(40.25, 60.0)}},
               "run": {"ttft_ms": stats(800, 950, 9)}}
    a = write_run(tmp_path / "a", {}, model="a", metrics=metrics)
    b = write_run(tmp_path / "b", {}, model="b")  # an older run: no metrics block
    table = timing_table(load_runs([a, b]))
    assert ("chat", "TTFT ms", ["812 / 900 (5)", "–"]) in table
    assert ("chat", "TPOT ms", ["12.3 / 15.5 (5)", "–"]) in table
    assert ("chat", "output tok/s", ["40.2 / 60.0 (5)", "–"]) in table
    assert ("run", "TTFT ms", ["800 / 950 (9)", "–"]) in table
    assert not any(api == "run" and label == "E2E ms" for api, label, _ in table)  # nothing measured: no row
    m = build_matrix(load_runs([a, b]), tmp_path)
    assert "| chat | TTFT ms | 812 / 900 (5) | – |" in markdown(m)
    assert "<td>812 / 900 (5)</td>" in html_page(m)


def test_without_metrics_the_pages_say_so_and_a_null_is_never_zero(tmp_path):
    a = write_run(tmp_path / "a", {}, model="a")
    b = write_run(tmp_path / "b", {}, model="b", metrics={"apis": {"chat": {"ttft_ms": {"n": 0, "p50": None}}}})
    runs = load_runs([a, b])
    assert timing_table(runs) == []
    assert "No run has a `metrics` block" in markdown(build_matrix(runs, tmp_path))
    c = write_run(tmp_path / "c", {}, model="c", metrics={"apis": {"chat": {"ttft_ms": {"n": 2, "p50": 5, "p90": None}}}})
    assert timing_table(load_runs([c])) == [("chat", "TTFT ms", ["5 / – (2)"])]


def test_median_test_duration_in_the_tooltip(tmp_path):
    t2 = T_CHAT + "[b]"
    a = write_run(tmp_path / "a", {"OAI-CHAT-001": row("passed", {T_CHAT: "passed", t2: "passed"})},
                  test_durations_s={T_CHAT: 1.0, t2: 3.0})
    cell = build_matrix(load_runs([a]), tmp_path).rows[0].cells[0]
    assert cell.median_duration_s == 2.0
    assert "2 citing test(s), median duration 2.00 s" in html_page(build_matrix(load_runs([a]), tmp_path))


# --- the report fields the page reads ---------------------------------------------------------------


def test_conformance_json_records_durations_and_deviation_reasons(tmp_path):
    rec = outcomes.TestRecord(nodeid=T_STREAM, requirement="OAI-STREAM-007", outcome="xfailed", duration_s=1.23456,
                              violations=[{"test": T_STREAM, "requirement": "OAI-STREAM-007", "kind": "known-deviation",
                                           "message": "m", "shapes": [], "deviation": "why"}])
    doc = reporting.write_conformance_json(tmp_path / "c.json", reporting.RunInfo(), [rec],
                                           {"OAI-STREAM-007": "MUST"})
    assert doc["test_durations_s"] == {T_STREAM: 1.235}
    assert doc["requirements"]["OAI-STREAM-007"]["violations"][0]["deviation"] == "why"


# --- CLI -----------------------------------------------------------------------------------------


def test_cli_writes_both_pages_and_exits_0_even_with_differences(tmp_path, capsys):
    a, b = two_runs(tmp_path)
    out = tmp_path / "out"
    assert cli.main([str(a), str(b), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "2 runs, 2 requirements, 2 differ: OAI-CHAT-001, OAI-STREAM-007" in printed
    page = (out / "compare.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "http://" not in page.replace("http://e:1", "")  # no external URL
    assert "<script" not in page
    assert (out / "compare.md").read_text().startswith("# Conformance comparison of 2 runs")
    assert cli.main([str(a), str(b), "--out", str(out), "--fail-on-diff"]) == 1
    assert cli.main([str(a), str(a / "conformance.json"), "--out", str(out), "--fail-on-diff"]) == 0


def test_cli_only_diff_and_names(tmp_path):
    a = write_run(tmp_path / "a", {"OAI-CHAT-001": row("passed", {T_CHAT: "passed"}),
                                   "OAI-CHAT-002": row("passed", {"m.py::t": "passed"})}, model="a")
    b = write_run(tmp_path / "b", {"OAI-CHAT-001": row("failed", {T_CHAT: "failed"}),
                                   "OAI-CHAT-002": row("passed", {"m.py::t": "passed"})}, model="b")
    out = tmp_path / "out"
    assert cli.main([str(a), str(b), "--out", str(out), "--only-diff", "--name", "old", "--name", "new"]) == 0
    md = (out / "compare.md").read_text()
    assert "| OAI-CHAT-001 |" in md and "| OAI-CHAT-002 |" not in md and "| old | new |" in md.replace("| |", "|")
    assert "OAI-CHAT-002" not in (out / "compare.html").read_text()
    assert cli.main([str(a), str(b), "--out", str(out), "--name", "1", "--name", "2", "--name", "3"]) == 2


def test_cli_masks_keys_in_both_pages(tmp_path, monkeypatch):
    secret = "plain-secret-value-1234"
    monkeypatch.setenv("MY_KEY", secret)
    leaked = f"auth failed for sk-live0123456789abcdef and {secret}"
    a = write_run(tmp_path / "a", {"OAI-CHAT-001": row("failed", {T_CHAT: "failed"}, leaked)}, model=secret,
                  endpoint="https://user:pw-in-url@host/v1?api_key=qs-secret-999")
    out = tmp_path / "out"
    assert cli.main([str(a), "--out", str(out), "--api-key-env", "MY_KEY"]) == 0
    for page in ("compare.md", "compare.html"):
        text = (out / page).read_text()
        assert secret not in text and "sk-live0123456789abcdef" not in text and MASK in text
        assert "pw-in-url" not in text and "qs-secret-999" not in text


def test_compare_runs_tool_shares_the_loader(tmp_path, capsys):
    from tools.compare_runs import main

    a, _ = two_runs(tmp_path)
    assert main([str(a), str(a)]) == 0  # a reports directory works too
    assert main([str(a), str(tmp_path / "missing.json")]) == 2
    assert "missing.json: no such file" in capsys.readouterr().err


def test_the_command_renders_without_pytest(tmp_path):
    """A CLI tool: rendering imports no test-only module (the same trace as tests/test_structure.py)."""
    import subprocess
    import sys

    from tests.test_structure import ROOT, TEST_ONLY_MODULES, _imported

    a, b = two_runs(tmp_path)
    add_allure(a, T_CHAT)
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "conformance.compare", str(a), str(b),
                           "--out", str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    modules = _imported(proc.stderr)
    assert "conformance.compare.render" in modules
    assert not sorted(m for m in modules if m.split(".")[0] in TEST_ONLY_MODULES)
