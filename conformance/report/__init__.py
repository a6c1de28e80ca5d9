"""Reports rendered after a run: ``python -m conformance.report allure-html`` (Allure 3 HTML, offline).

The run itself writes ``reports/allure-results`` (conformance.harness.reporting); this package turns
them into HTML with the Allure 3 generator pinned in ``tools/allure/package.json``.
"""
