"""The suite's machinery (not tests): client, SSE parser, schemas, catalog, checks, reporting."""

import pytest

pytest.register_assert_rewrite("conformance.harness.checks")
