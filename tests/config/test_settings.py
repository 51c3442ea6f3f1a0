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
