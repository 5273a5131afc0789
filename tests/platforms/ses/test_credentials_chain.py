import pytest

from pipelines.errors import UsageError
from pipelines.sync.config import load_sources, resolve_credentials
from tests.platforms.ses.test_api import ROLE, aws_env  # noqa: F401
from tests.sync.conftest import sources_toml
from tests.sync.pulls import NIGHT1, pull


def test_credentials_aws_in_the_sources_file(apis, aws_env, tmp_path, monkeypatch):  # noqa: F811
    apis.aws_keys[ROLE[0]] = ROLE[1:]
    for name, value in zip(("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"), ROLE, strict=True):
        monkeypatch.setenv(name, value)
    path = tmp_path / "s.toml"
    path.write_text(sources_toml(apis.url, ("ses",), credentials={"ses": "aws"}))
    [src] = load_sources(path)
    assert src.credentials == "aws"
    assert resolve_credentials(src).secret == ""
    result = pull({"source": src.to_dict(), "old_watermark": None}, tmp_path / "out", now=NIGHT1, sleep=lambda s: None)
    assert result["records"] == 4


def test_aws_is_refused_for_other_platforms(apis, tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(sources_toml(apis.url, ("sendgrid",), credentials={"sendgrid": "aws"}))
    with pytest.raises(UsageError, match=r"env:VARIABLE or airflow:connection_id \(never the key itself\)"):
        load_sources(path)
    path.write_text(sources_toml(apis.url, ("ses",), credentials={"ses": "awsx"}))
    with pytest.raises(UsageError, match=r"or \"aws\" for ses's own credential chain"):
        load_sources(path)
