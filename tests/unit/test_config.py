"""Settings loading and precedence (config.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pydantic
import pytest

from dockyard.config import Settings, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No ambient DOCKYARD_* variable (or .env in the cwd) may leak into these tests."""
    for name in list(os.environ):
        if name.upper().startswith("DOCKYARD_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def write_yaml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "dockyard.yaml"
    path.write_text(text)
    return path


def test_defaults_without_file_env_or_overrides() -> None:
    settings = load_settings()
    assert settings.server.port == 5000
    assert settings.server.host == "127.0.0.1"
    assert settings.server.workers == 1
    assert settings.database.url == ""
    assert settings.log.format == "human"
    assert settings.gc.enabled is True
    assert settings.storage.data_dir == Path("./dockyard-data")


def test_yaml_file_overrides_defaults(tmp_path: Path) -> None:
    config = write_yaml(tmp_path, "port: 6000\nlog_level: debug\ngc_enabled: false\n")
    settings = load_settings(config)
    assert settings.server.port == 6000
    assert settings.log.level == "debug"
    assert settings.gc.enabled is False
    assert settings.server.host == "127.0.0.1"  # untouched default


def test_yaml_keys_may_use_dashes(tmp_path: Path) -> None:
    config = write_yaml(tmp_path, "data-dir: /srv/dockyard\nmax-manifest-bytes: 1024\n")
    settings = load_settings(config)
    assert settings.storage.data_dir == Path("/srv/dockyard")
    assert settings.storage.max_manifest_bytes == 1024


def test_empty_yaml_file_means_defaults(tmp_path: Path) -> None:
    assert load_settings(write_yaml(tmp_path, "")).server.port == 5000


def test_yaml_file_must_be_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mapping"):
        load_settings(write_yaml(tmp_path, "- port\n- 6000\n"))


def test_env_overrides_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKYARD_PORT", "7000")
    monkeypatch.setenv("DOCKYARD_GC_ENABLED", "false")
    settings = load_settings()
    assert settings.server.port == 7000
    assert settings.gc.enabled is False


def test_env_overrides_yaml_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = write_yaml(tmp_path, "port: 6000\nhost: 0.0.0.0\n")
    monkeypatch.setenv("DOCKYARD_PORT", "7000")
    settings = load_settings(config)
    assert settings.server.port == 7000  # env wins over file
    assert settings.server.host == "0.0.0.0"  # file still applies where env is silent


def test_overrides_beat_env_and_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = write_yaml(tmp_path, "port: 6000\nworkers: 3\nhost: 0.0.0.0\n")
    monkeypatch.setenv("DOCKYARD_PORT", "7000")
    monkeypatch.setenv("DOCKYARD_WORKERS", "4")
    settings = load_settings(config, port=8000)
    assert settings.server.port == 8000  # override > env > file
    assert settings.server.workers == 4  # env > file
    assert settings.server.host == "0.0.0.0"  # file > default


def test_none_overrides_are_ignored(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = write_yaml(tmp_path, "port: 6000\n")
    monkeypatch.setenv("DOCKYARD_HOST", "10.0.0.1")
    settings = load_settings(config, port=None, host=None)
    assert settings.server.port == 6000
    assert settings.server.host == "10.0.0.1"


def test_config_file_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = write_yaml(tmp_path, "port: 6100\n")
    monkeypatch.setenv("DOCKYARD_CONFIG", str(config))
    assert load_settings().server.port == 6100


def test_explicit_config_file_beats_env_config(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from_env = tmp_path / "env.yaml"
    from_env.write_text("port: 6100\n")
    explicit = tmp_path / "explicit.yaml"
    explicit.write_text("port: 6200\n")
    monkeypatch.setenv("DOCKYARD_CONFIG", str(from_env))
    assert load_settings(explicit).server.port == 6200


def test_unknown_yaml_key_is_rejected(tmp_path: Path) -> None:
    config = write_yaml(tmp_path, "port: 6000\nno_such_setting: 1\n")
    with pytest.raises(pydantic.ValidationError, match="no_such_setting"):
        load_settings(config)


def test_unknown_override_is_rejected() -> None:
    with pytest.raises(pydantic.ValidationError):
        load_settings(no_such_setting=1)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("workers", "0"),
        ("log_format", "xml"),
        ("log_level", "trace"),
        ("gc_interval_seconds", "0"),
        ("port", "not-a-port"),
    ],
)
def test_invalid_values_are_rejected(tmp_path: Path, key: str, value: str) -> None:
    config = write_yaml(tmp_path, f"{key}: {value}\n")
    with pytest.raises(pydantic.ValidationError):
        load_settings(config)


def test_invalid_env_value_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKYARD_WORKERS", "0")
    with pytest.raises(pydantic.ValidationError):
        load_settings()


def test_database_url_defaults_to_sqlite_in_data_dir(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data")
    expected = tmp_path.resolve() / "data" / "dockyard.db"
    assert settings.database_url == f"sqlite:///{expected}"


def test_database_url_default_resolves_relative_data_dir(tmp_path: Path) -> None:
    # clean_env chdir'd into tmp_path
    settings = load_settings(data_dir=Path("rel"))
    assert settings.database_url == f"sqlite:///{tmp_path.resolve() / 'rel' / 'dockyard.db'}"


@pytest.mark.parametrize(
    ("db", "expected"),
    [
        (
            "postgresql://user:pw@db.example:5432/dockyard",
            "postgresql+psycopg://user:pw@db.example:5432/dockyard",
        ),
        ("postgres://u@h/d", "postgresql+psycopg://u@h/d"),
        ("postgresql+psycopg://u@h/d", "postgresql+psycopg://u@h/d"),
        ("sqlite:////var/lib/dockyard.db", "sqlite:////var/lib/dockyard.db"),
    ],
)
def test_database_url_normalisation(db: str, expected: str) -> None:
    assert Settings(db=db).database_url == expected


def test_database_url_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKYARD_DB", "postgresql://u@h/d")
    assert load_settings().database_url == "postgresql+psycopg://u@h/d"


def test_token_service_comes_from_configuration_only() -> None:
    assert load_settings().token_service == "127.0.0.1:5000"
    assert load_settings(host="::1", port=5443).token_service == "[::1]:5443"
    public = load_settings(public_url="https://registry.example.com/")
    assert public.server.public_url == "https://registry.example.com"
    assert public.token_service == "registry.example.com"
    named = load_settings(public_url="https://registry.example.com", auth_service="acr")
    assert named.token_service == "acr"


@pytest.mark.parametrize(
    "url",
    ["registry.example.com", "ftp://registry.example.com", "https://r.example.com/v2", "https://"],
)
def test_public_url_is_a_root_http_url(url: str) -> None:
    with pytest.raises(pydantic.ValidationError):
        load_settings(public_url=url)


def test_allow_sparse_index_is_an_alias_everywhere(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The old name works in YAML, the environment and the serve flag; the new name wins
    where both are given at one level, and the usual precedence holds between levels."""
    import typer.main

    from dockyard.cli.main import app

    assert load_settings().storage.allow_sparse_manifests is False
    old_yaml = write_yaml(tmp_path, "allow_sparse_index: true\n")
    assert load_settings(old_yaml).storage.allow_sparse_manifests is True
    both = write_yaml(tmp_path, "allow_sparse_index: true\nallow_sparse_manifests: false\n")
    assert load_settings(both).storage.allow_sparse_manifests is False
    monkeypatch.setenv("DOCKYARD_ALLOW_SPARSE_INDEX", "true")
    assert load_settings().storage.allow_sparse_manifests is True
    monkeypatch.setenv("DOCKYARD_ALLOW_SPARSE_MANIFESTS", "false")
    assert load_settings().storage.allow_sparse_manifests is False
    monkeypatch.delenv("DOCKYARD_ALLOW_SPARSE_MANIFESTS")
    monkeypatch.delenv("DOCKYARD_ALLOW_SPARSE_INDEX")
    monkeypatch.setenv("ALLOW_SPARSE_INDEX", "true")  # only DOCKYARD_* variables count
    assert load_settings().storage.allow_sparse_manifests is False
    assert load_settings(allow_sparse_manifests=True).storage.allow_sparse_manifests is True
    assert Settings(allow_sparse_index=True).storage.allow_sparse_manifests is True  # type: ignore[call-arg]

    serve = typer.main.get_command(app).commands["serve"]  # type: ignore[attr-defined]
    for flag in ("--allow-sparse-manifests", "--allow-sparse-index"):
        assert serve.make_context("serve", [flag]).params["allow_sparse_manifests"] is True
    assert serve.make_context("serve", []).params["allow_sparse_manifests"] is None


AZURE = [
    "https://containerregistry.azure.net",
    "https://management.core.windows.net/",
    "https://management.azure.com/",
]


def test_oidc_audiences_and_the_older_single_audience(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert load_settings().oidc.audiences == AZURE
    # The older setting alone is the whole list, as before the list existed.
    assert load_settings(oidc_audience="api://reg").oidc.audiences == ["api://reg"]
    both = load_settings(oidc_audience="api://reg", oidc_audiences=["api://a"])
    assert both.oidc.audiences == ["api://a", "api://reg"]
    # What `serve` exports to its workers reads back the same.
    monkeypatch.setenv("DOCKYARD_OIDC_AUDIENCES", '["api://reg"]')
    monkeypatch.setenv("DOCKYARD_OIDC_AUDIENCE", "api://reg")
    assert load_settings().oidc.audiences == ["api://reg"]
    config = write_yaml(tmp_path, "oidc_audience: api://yaml\n")
    monkeypatch.delenv("DOCKYARD_OIDC_AUDIENCES")
    monkeypatch.delenv("DOCKYARD_OIDC_AUDIENCE")
    assert load_settings(config).oidc.audiences == ["api://yaml"]


def test_sections_in_yaml_and_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each setting also has its place in its section: `gc: {interval_seconds: ...}` in
    YAML, DOCKYARD_GC__INTERVAL_SECONDS in the environment; the usual precedence holds
    between the two spellings across layers."""
    config = write_yaml(
        tmp_path, "gc:\n  interval_seconds: 60\n  enabled: false\ntasks:\n  engines: [docker]\n"
    )
    settings = load_settings(config)
    assert settings.gc.interval_seconds == 60
    assert settings.gc.enabled is False
    assert settings.tasks.engines == ["docker"]
    monkeypatch.setenv("DOCKYARD_GC__INTERVAL_SECONDS", "70")
    assert load_settings(config).gc.interval_seconds == 70  # env (sectioned) > file
    monkeypatch.setenv("DOCKYARD_GC_INTERVAL_SECONDS", "80")
    # Both spellings in one layer: the section's own name wins.
    assert load_settings(config).gc.interval_seconds == 70
    assert load_settings(config, gc_interval_seconds=90).gc.interval_seconds == 90
    assert load_settings(config, gc={"interval_seconds": 95}).gc.interval_seconds == 95


def test_unknown_setting_in_a_section_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(pydantic.ValidationError, match="no_such_setting"):
        load_settings(write_yaml(tmp_path, "gc:\n  no_such_setting: 1\n"))


def test_every_flat_name_has_a_place_and_every_place_a_flat_name() -> None:
    from dockyard.config import FLAT_NAMES, SECTIONS

    places = {(section, name) for section, model in SECTIONS.items() for name in model.model_fields}
    assert set(FLAT_NAMES.values()) == places


def test_the_exported_environment_reads_back_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """How `serve` hands its settings to its worker processes."""
    settings = load_settings(
        port=6001,
        rate_limits={"reads": 5},
        task_engines=["docker"],
        oidc_audience="api://reg",
        trusted_proxies=["10.0.0.1"],
        tls_cert=Path("/etc/cert.pem"),
    )
    for name, value in settings.environment().items():
        monkeypatch.setenv(name, value)
    assert load_settings() == settings
