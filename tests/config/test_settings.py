from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from mmstack.config.settings import Settings, load_settings

DOCS = Path(__file__).resolve().parents[2] / "docs" / "CONFIGURATION.md"


def _env_names(model: type[BaseModel], prefix: str = "MMSTACK_") -> list[str]:
    names = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names += _env_names(annotation, f"{prefix}{name.upper()}__")
        else:
            names.append(f"{prefix}{name.upper()}")
    return names


def test_every_setting_is_documented() -> None:
    text = DOCS.read_text()
    missing = [name for name in _env_names(Settings) if f"`{name}`" not in text]
    assert not missing, f"undocumented settings: {missing}"


def test_precedence_flags_over_env_over_file_over_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "mmstack.toml"
    config.write_text('port = 7000\nlog_level = "DEBUG"\n[search]\nrrf_k = 30\ntop_k = 5\n')
    monkeypatch.setenv("MMSTACK_SEARCH__RRF_K", "42")
    monkeypatch.setenv("MMSTACK_PORT", "7100")
    settings = load_settings(config, port=7200)
    assert settings.port == 7200  # flag
    assert settings.search.rrf_k == 42  # environment over file
    assert settings.search.top_k == 5  # file over default
    assert settings.log_level == "DEBUG"
    assert settings.search.candidates == 200  # default


def test_bad_settings_are_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(FileNotFoundError, match="config file not found"):
        load_settings(tmp_path / "missing.toml")
    monkeypatch.setenv("MMSTACK_CHUNKING__OVERLAP_TOKENS", "400")
    with pytest.raises(ValueError, match="overlap_tokens"):
        load_settings()
    monkeypatch.delenv("MMSTACK_CHUNKING__OVERLAP_TOKENS")
    (tmp_path / "typo.toml").write_text("prot = 1\n")
    with pytest.raises(ValueError, match="prot"):
        load_settings(tmp_path / "typo.toml")


def test_settings_read_from_secret_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`MMSTACK_X_FILE` sets `MMSTACK_X` from the file; passwords go into their URLs."""
    secret = tmp_path / "pg"
    secret.write_text("p@ss/w:rd\n")
    token = tmp_path / "token"
    token.write_text("t" * 40)
    key = tmp_path / "upstream-key"
    key.write_text("sk-upstream")
    monkeypatch.setenv("MMSTACK_DATABASE_URL", "postgresql://mmstack@db:5432/mmstack")
    monkeypatch.setenv("MMSTACK_DATABASE_PASSWORD_FILE", str(secret))
    monkeypatch.setenv("MMSTACK_QUOTAS__REDIS_URL", "redis://cache:6379/0")
    monkeypatch.setenv("MMSTACK_QUOTAS__REDIS_PASSWORD_FILE", str(secret))
    monkeypatch.setenv("MMSTACK_AUTH__TOKEN_SECRET_FILE", str(token))
    monkeypatch.setenv(
        "MMSTACK_LLM__UPSTREAMS",
        f'[{{"name": "u", "base_url": "http://u/v1", "models": ["m"], "api_key_file": "{key}"}}]',
    )
    settings = load_settings()
    assert settings.sqlalchemy_url == "postgresql://mmstack:p%40ss%2Fw%3Ard@db:5432/mmstack"
    assert settings.quotas.redis_address == "redis://:p%40ss%2Fw%3Ard@cache:6379/0"
    assert settings.auth.token_secret is not None
    assert settings.auth.token_secret.get_secret_value() == "t" * 40
    upstream_key = settings.llm.upstreams[0].api_key
    assert upstream_key is not None
    assert upstream_key.get_secret_value() == "sk-upstream"
    assert "p@ss" not in repr(settings)  # secrets stay out of reprs and logs
    # A value given directly wins over its file; a missing file is a clear error.
    monkeypatch.setenv("MMSTACK_AUTH__TOKEN_SECRET", "d" * 40)
    assert load_settings().auth.token_secret.get_secret_value() == "d" * 40  # type: ignore[union-attr]
    monkeypatch.setenv("MMSTACK_DATABASE_PASSWORD_FILE", str(tmp_path / "absent"))
    with pytest.raises(ValueError, match="cannot read secret file"):
        load_settings()
