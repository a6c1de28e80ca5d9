"""The single-file Allure report in a real browser: Debian's headless ``chromium`` opens it from
file:// and the overview, the categories (known deviations apart) and a failed test with its
attachments render. Screenshots go to ``reports/browser/`` (kept as CI artifacts). Skipped, with
the reason, when chromium or the pinned Allure is missing."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conformance.report import allure
from tests.test_allure_report import NOT_INSTALLED, write_results

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "reports" / "browser"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed "
                       "(apt-get install -y --no-install-recommends chromium)"),
    pytest.mark.skipif(NOT_INSTALLED is not None, reason=f"Allure not usable: {NOT_INSTALLED}"),
]


def _chromium(url: str, tmp: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    args = [CHROMIUM, "--headless", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
            "--no-default-browser-check", "--disable-extensions", "--disable-dev-shm-usage",
            f"--user-data-dir={tmp / 'profile'}", "--window-size=1440,1000", "--virtual-time-budget=8000",
            *extra, url]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.insert(1, "--no-sandbox")  # chromium refuses to run as root with its sandbox
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


def _dom(url: str, tmp: Path) -> str:
    proc = _chromium(url, tmp, "--dump-dom")
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = re.sub(r"(?s)<(style|script)[^>]*>.*?</\1>", " ", proc.stdout)  # the rendered text only
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text))


def _screenshot(url: str, tmp: Path, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    target = SHOTS / name
    target.unlink(missing_ok=True)
    proc = _chromium(url, tmp, f"--screenshot={target}")
    assert proc.returncode == 0 and target.is_file(), proc.stderr[-2000:]
    assert target.stat().st_size > 10_000, "an empty page"
    return target


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    tmp = tmp_path_factory.mktemp("browser")
    generated = allure.generate(write_results(tmp / "allure-results"), tmp / "single", single_file=True,
                                history=False)
    ids = {}
    for name, data in allure.single_file_data(generated.index).items():
        if name.startswith("data/test-results/"):
            doc = json.loads(data)
            ids[doc["name"]] = doc["id"]
    return generated.index, ids


def test_overview_renders_and_is_not_all_green(report, tmp_path):
    index, _ = report
    dom = _dom(index.as_uri(), tmp_path)
    assert "LLM endpoint conformance — FAIL" in dom and "2 known deviations" in dom  # the title states them
    assert "Success rate: 14.28%" in dom and "Failed 5" in dom  # not "100 %"
    _screenshot(index.as_uri(), tmp_path, "overview.png")


def test_categories_render_known_deviations_apart(report, tmp_path):
    index, _ = report
    url = index.as_uri() + "#/categories"
    dom = _dom(url, tmp_path)
    for name in ("Known deviation (excused by the profile)", "Known deviation fixed (XPASS)", "Product defect",
                 "Capability not declared (skipped)"):
        assert name in dom, name
    _screenshot(url, tmp_path, "categories.png")


def test_failed_test_shows_its_attachments(report, tmp_path):
    index, ids = report
    url = f"{index.as_uri()}#/{ids['test_must_violation']}"
    dom = _dom(url, tmp_path)
    assert "test_must_violation" in dom and "no [DONE]" in dom
    assert "request-1.json" in dom
    _screenshot(url, tmp_path, "failed-test.png")
