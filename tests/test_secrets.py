from __future__ import annotations

from pathlib import Path

import pytest

from downloader.config import PixxelSettings, Secret
from downloader.config._secrets import load_secret


def _write_secret(path: Path, content: str, mode: int = 0o600) -> Path:
    path.write_text(content)
    path.chmod(mode)
    return path


def test_secret_never_shows_its_value_in_repr_or_str() -> None:
    secret = Secret("hunter2", "env:X")
    assert repr(secret) == "Secret('***')"
    assert str(secret) == "***"
    assert "hunter2" not in repr(PixxelSettings(api_key=secret))
    assert secret.reveal() == "hunter2"


def test_secrets_compare_by_value() -> None:
    assert Secret("a") == Secret("a", "file:/x")
    assert Secret("a") != Secret("b")
    assert len({Secret("a"), Secret("a")}) == 1


def test_env_secret_is_read_from_the_given_environment(tmp_path: Path) -> None:
    source = load_secret({"env": "TOKEN"}, base_dir=tmp_path, environ={"TOKEN": "s3cret"})
    assert source.secret.reveal() == "s3cret"
    assert source.secret.origin == "env:TOKEN"
    assert source.warnings == ()


def test_unset_env_secret_is_an_error_naming_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="environment variable TOKEN is not set"):
        load_secret({"env": "TOKEN"}, base_dir=tmp_path, environ={})


def test_empty_env_secret_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="environment variable TOKEN is empty"):
        load_secret({"env": "TOKEN"}, base_dir=tmp_path, environ={"TOKEN": ""})


def test_file_secret_is_relative_to_the_config_directory_and_loses_trailing_newlines(
    tmp_path: Path,
) -> None:
    (tmp_path / "creds").mkdir()
    _write_secret(tmp_path / "creds" / "key", " spaced value \n\n")
    source = load_secret({"file": "creds/key"}, base_dir=tmp_path, environ={})
    assert source.secret.reveal() == " spaced value "
    assert source.secret.origin == f"file:{tmp_path / 'creds' / 'key'}"
    assert source.warnings == ()


def test_absolute_file_secret_ignores_the_config_directory(tmp_path: Path) -> None:
    path = _write_secret(tmp_path / "key", "abc\r\n")
    source = load_secret({"file": str(path)}, base_dir=Path("/nonexistent"), environ={})
    assert source.secret.reveal() == "abc"


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_secret_file_readable_by_group_or_others_gives_a_warning(tmp_path: Path, mode: int) -> None:
    path = _write_secret(tmp_path / "key", "abc", mode)
    source = load_secret({"file": "key"}, base_dir=tmp_path, environ={})
    assert source.secret.reveal() == "abc"
    assert len(source.warnings) == 1
    assert str(path) in source.warnings[0]
    assert f"{mode:04o}" in source.warnings[0]


def test_missing_secret_file_is_an_error_naming_the_path(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"cannot read secret file .*/nope: No such file"):
        load_secret({"file": "nope"}, base_dir=tmp_path, environ={})


def test_empty_secret_file_is_an_error(tmp_path: Path) -> None:
    _write_secret(tmp_path / "key", "\n")
    with pytest.raises(ValueError, match="is empty"):
        load_secret({"file": "key"}, base_dir=tmp_path, environ={})


def test_secret_file_that_is_not_text_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "key").write_bytes(b"\xff\xfe")
    with pytest.raises(ValueError, match="not UTF-8"):
        load_secret({"file": "key"}, base_dir=tmp_path, environ={})


def test_plain_string_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="secrets are never written in the file itself"):
        load_secret("hunter2", base_dir=Path("."), environ={})


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"env": "A", "file": "b"}, "a secret is written"),
        ({}, "a secret is written"),
        ({"envv": "A"}, "a secret is written"),
        (42, "a secret is written"),
        ({"env": 1}, "must be a non-empty string"),
        ({"file": ""}, "must be a non-empty string"),
    ],
)
def test_secret_of_the_wrong_form_is_refused(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_secret(value, base_dir=Path("."), environ={"A": "x"})
