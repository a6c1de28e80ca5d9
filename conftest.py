# The suite's options, fixtures and hooks come from the installed pytest11 plugin
# (conformance.harness.plugin). This file stays empty on purpose.
