"""metadata: NIM management endpoints GET /v1/metadata and /v1/version (only when the profile
declares nim_metadata)."""

from conformance.harness.checks import nim as checks
from conformance.harness.requirements import requirement


@requirement("NIM-META-001")
def test_metadata_endpoint_answers_a_metadata_body(oai, schemas):
    checks.metadata_body(oai.raw("GET", "/v1/metadata", reuse=True), schemas=schemas)


@requirement("NIM-VER-001")
def test_version_endpoint_answers_release_and_api(oai, schemas):
    checks.version_body(oai.raw("GET", "/v1/version", reuse=True), schemas=schemas)
