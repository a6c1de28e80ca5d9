"""The comparison page in a real browser: Debian's headless ``chromium`` opens ``compare.html``
from file:// and shows the matrix (run columns, coloured cells, the diff column). Screenshot:
``reports/browser/compare.png``. Skipped, with the reason, when chromium is missing."""

from __future__ import annotations

import re
import shutil

import pytest

from conformance.compare import __main__ as cli
from tests.test_allure_browser import SHOTS, _chromium, _dom
from tests.test_compare import T_CHAT, T_STREAM, row, write_run

pytestmark = pytest.mark.skipif(shutil.which("chromium") is None and shutil.which("chromium-browser") is None,
                                reason="Debian chromium is not installed "
                                       "(apt-get install -y --no-install-recommends chromium)")


def test_compare_page_shows_the_matrix(tmp_path):
    a = write_run(tmp_path / "a", {"OAI-CHAT-001": row("passed", {T_CHAT: "passed"}),
                                   "OAI-STREAM-007": row("xfailed", {T_STREAM: "xfailed"}, "<script>x</script>")},
                  profile="reference")
    b = write_run(tmp_path / "b", {"OAI-CHAT-001": row("failed", {T_CHAT: "failed"}, "boom"),
                                   "OAI-STREAM-007": row("xfailed", {T_STREAM: "xfailed"})},
                  profile="reference-thinking")
    out = tmp_path / "compare"
    assert cli.main([str(a), str(b), "--out", str(out)]) == 0
    page = (out / "compare.html").as_uri()
    dom = _dom(page, tmp_path)
    assert "Conformance comparison of 2 runs" in dom and "2 requirements, 1 differ" in dom
    assert re.search(r"OAI-CHAT-001 MUST .* passed failed differs: passed \(reference\); failed "
                     r"\(reference-thinking\)", dom)
    assert "OAI-STREAM-007" in dom and "known deviation" in dom
    SHOTS.mkdir(parents=True, exist_ok=True)
    target = SHOTS / "compare.png"
    target.unlink(missing_ok=True)
    proc = _chromium(page, tmp_path, f"--screenshot={target}")
    assert proc.returncode == 0 and target.is_file() and target.stat().st_size > 10_000, proc.stderr[-2000:]
