"""The suite's machinery (not tests): client, SSE parser, schemas, catalog, checks, reporting.

The package itself never imports pytest: the command-line tools (``python -m conformance.reference``,
``python -m conformance.faults``, ``tools/*.py``) run without it. Under pytest (the plugin is loaded
by pytest, so pytest is already imported) the checks' asserts are rewritten.
"""

import sys

if "pytest" in sys.modules:
    sys.modules["pytest"].register_assert_rewrite("conformance.harness.checks")
