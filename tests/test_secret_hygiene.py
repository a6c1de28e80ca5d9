"""Secret hygiene: a conformance run with a sentinel API key leaves it in no report, attachment,
log or console output. Runs a small slice of the real suite against the embedded reference
endpoint (which enforces the key, so the sentinel is really on the wire)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.reference.build import find_llama_server
from conformance.report import allure

SENTINEL = "sk-llmconf-SENTINEL-7f3a9c2e41d8b6055aa1"
ROOT = Path(__file__).resolve().parents[1]
SLICE = [
    "conformance/http/test_transport.py",
    "conformance/openai/test_chat_completions_streaming.py::test_stream_is_terminated_by_done",
    "conformance/openai/test_chat_completions_errors.py::test_unknown_model_is_rejected_with_4xx",
    "conformance/sdk/test_openai_sdk.py::test_openai_sdk_creates_chat_completion",
    "conformance/sdk/test_anthropic_sdk.py::test_anthropic_sdk_creates_message",
]


@pytest.mark.skipif(find_llama_server() is None,
                    reason="the embedded reference is not prepared (python -m conformance.reference prepare)")
def test_sentinel_key_reaches_no_report_or_log(tmp_path):
    reports = tmp_path / "reports"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMCONF_")}
    env.update({"OPENAI_API_KEY": SENTINEL, "PYTHONDONTWRITEBYTECODE": "1"})
    env.pop("NGC_API_KEY", None)
    try:  # the HTML reports too, when the pinned Allure is installed
        allure.find_allure()
        html = ["--allure-html"]
    except allure.AllureError:
        html = []
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rA", *SLICE,
         f"--reports-dir={reports}", "--profile=reference", "--api-key-env=OPENAI_API_KEY", *html],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode in (0, 1), output[-2000:]
    doc = json.loads((reports / "conformance.json").read_text())
    # The sentinel really was the key: the reference enforces it and authenticated requests passed.
    assert doc["requirements"]["HTTP-AUTH-001"]["outcome"] == "passed", doc["requirements"]["HTTP-AUTH-001"]
    assert doc["requirements"]["HTTP-STATUS-001"]["outcome"] == "passed"
    # the comparison page (Markdown and HTML) of this run, rendered without the key in the
    # environment (so nothing could mask it there): it must not carry the key either
    plain_env = {k: v for k, v in env.items() if k != "OPENAI_API_KEY"}
    cmp = subprocess.run([sys.executable, "-m", "conformance.compare", str(reports), str(reports / "conformance.json"),
                          "--out", str(reports / "compare")], cwd=ROOT, env=plain_env, capture_output=True,
                         text=True, timeout=120)
    assert cmp.returncode == 0, cmp.stderr[-2000:]
    assert (reports / "compare" / "compare.md").is_file() and (reports / "compare" / "compare.html").is_file()
    assert "HTTP-AUTH-001" in (reports / "compare" / "compare.html").read_text(encoding="utf-8")
    output += cmp.stdout + cmp.stderr
    files = [p for p in reports.rglob("*") if p.is_file()]
    assert any(p.name == "reference-server.log" for p in files)
    assert sum(1 for p in files if p.name.endswith("-attachment.json")) > 5
    leaks = [str(p.relative_to(reports)) for p in files if SENTINEL.encode() in p.read_bytes()]
    if html:
        single = reports / "allure-html-single" / "index.html"
        assert (reports / "allure-html" / "index.html").is_file() and single.is_file(), output[-2000:]
        embedded = allure.single_file_data(single)  # base64 inside the page
        assert sum(1 for name in embedded if name.startswith("data/attachments/")) > 5
        leaks += [f"{single.relative_to(reports)}#{name}" for name, data in embedded.items() if SENTINEL.encode() in data]
    assert not leaks, f"sentinel key found in {leaks}"
    assert SENTINEL not in output
