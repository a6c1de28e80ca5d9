"""Comparison matrix of several conformance runs (endpoints, configurations or releases):

    python -m conformance.compare RUN_DIR_OR_CONFORMANCE_JSON... [--out reports/compare] [--name NAME]...
                                  [--only-diff] [--fail-on-diff]

Writes ``compare.md`` and ``compare.html`` (one static page, no script, no external URL): a
requirement × run matrix with outcome colours, a link per cell to that run's Allure test (when the
run has an Allure HTML report), a diff column, a header per run (endpoint, model, profile, suite,
gate, totals) and the runs' timing percentiles. Exit 0 when rendered (differences included: they
are the point of the page); 1 with ``--fail-on-diff`` when any requirement differs; 2 when a run
cannot be read. ``tools/compare_runs.py`` stays the strict stability check (exit 1 on any
difference, per test too).
"""

from conformance.compare.model import CompareError, Matrix, Run, build_matrix, load_doc, load_runs
from conformance.compare.render import html_page, markdown

__all__ = ["CompareError", "Matrix", "Run", "build_matrix", "html_page", "load_doc", "load_runs", "markdown"]
