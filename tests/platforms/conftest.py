"""The fake platform APIs (tests/sync), for the API clients' tests in each platform's folder."""
from tests.sync.conftest import api_env, apis  # noqa: F401 - fixtures
