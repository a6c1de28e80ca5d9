"""Quality evaluations (marker ``eval``): metrics with intervals, reported apart from conformance
under ``reports/evals/``. Dataset cards: datasets/evals/. Methods: conformance/harness/evals/."""
