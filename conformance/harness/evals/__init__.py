"""Quality evaluations over generated data (datasets/evals/<name>/card.yaml): metrics with intervals,
reported apart from conformance under ``reports/evals/``. Nothing here talks HTTP except through
the protocol facades, and nothing is downloaded: the data is generated from a seed at run time.

* :mod:`.stats`: the Wilson score interval.
* :mod:`.gate`: the accuracy gate statistics (clustered Wilson intervals, the three-state floor
  verdict, the paired exact McNemar test against a baseline, the flip rate, the baseline file and
  the gate's error rates by simulation; docs/eval-statistics.md).
* :mod:`.needle`: needle-in-a-haystack items (RULER ``niah_single`` / ``niah_multikey`` style),
  sizing by the endpoint's token count, and scoring.
* :mod:`.needle_run`: sends the items through the OpenAI-compatible facade and times them.
* :mod:`.report`: aggregation per length × depth, ``needle.json`` / ``needle.md`` /
  ``needle.svg`` (a hand-written heat map) and the Allure attachments.
"""
