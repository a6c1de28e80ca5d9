"""models: GET /v1/models."""

from conformance.harness.checks import openai as checks
from conformance.harness.requirements import requirement


@requirement("OAI-MODELS-001")
def test_models_list_validates_against_schema(oai, schemas):
    _, body = oai.models()
    checks.models_list_schema(body, schemas=schemas)


@requirement("OAI-MODELS-002")
def test_model_under_test_is_listed(oai, model):
    _, body = oai.models()
    checks.model_listed(body, model=model)
