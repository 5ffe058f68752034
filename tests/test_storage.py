"""Storage URLs, the embedded default, and that passwords never leak."""

from __future__ import annotations

import logging
from pathlib import Path

import optuna
import pytest

from hpo_widget import StudyRunner
from hpo_widget.storage import (
    DEFAULT_STORAGE_FILE,
    StorageRef,
    mask_password,
    open_storage,
    resolve_storage,
)
from tests._postgres import PASSWORD

SECRET = "s3cr3t-pa55"


def objective(trial: optuna.Trial) -> float:
    return trial.suggest_float("x", 0, 1)


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("postgresql://bob:pw@db:5432/x", "postgresql://bob:***@db:5432/x"),
        ("postgresql+psycopg2://bob:p%40ss@db/x", "postgresql+psycopg2://bob:***@db/x"),
        (
            "error connecting to mysql://u:pw@h/db: refused",
            "error connecting to mysql://u:***@h/db: refused",
        ),
        ("postgresql://bob@db/x", "postgresql://bob@db/x"),
        ("sqlite:///tmp/a.db", "sqlite:///tmp/a.db"),
    ],
)
def test_mask_password(text: str, masked: str) -> None:
    assert mask_password(text) == masked


def test_embedded_default_is_a_journal_file_in_the_working_directory(tmp_path: Path) -> None:
    ref = resolve_storage(None)
    assert ref == StorageRef("journal", str(tmp_path / DEFAULT_STORAGE_FILE))
    runner = StudyRunner(objective, study_name="persisted")
    runner.start(n_trials=3).wait(timeout=30)
    assert (tmp_path / DEFAULT_STORAGE_FILE).stat().st_size > 0
    # Readable by plain Optuna, e.g. optuna-dashboard or a later kernel.
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / DEFAULT_STORAGE_FILE))
    )
    assert len(optuna.load_study(study_name="persisted", storage=storage).trials) == 3


def test_environment_variable_moves_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HPO_WIDGET_STORAGE", str(tmp_path / "elsewhere" / "s.journal"))
    assert resolve_storage(None).location == str(tmp_path / "elsewhere" / "s.journal")


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("memory", "memory"),
        ("runs.journal", "journal"),
        ("journal:///abs/x.log", "journal"),
        ("sqlite:///x.db", "rdb"),
        ("postgresql://u:p@h/d", "rdb"),
        ("grpc://127.0.0.1:13000", "grpc"),
    ],
)
def test_resolve_storage_kinds(value: str, kind: str) -> None:
    assert resolve_storage(value).kind == kind


def test_unknown_storage_names_the_field_and_masks(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"storage: cannot use 'ftp://u:\*\*\*@h/x'") as err:
        resolve_storage(f"ftp://u:{SECRET}@h/x")
    assert SECRET not in str(err.value)
    with pytest.raises(ValueError, match="grpc://HOST:PORT"):
        resolve_storage("grpc://nohost")


def test_password_never_appears_in_repr_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    url = f"postgresql://user:{SECRET}@127.0.0.1:1/db"  # nothing listens on port 1
    ref = resolve_storage(url)
    assert SECRET not in repr(ref) and SECRET not in str(ref)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(RuntimeError) as err:
        open_storage(ref)
    assert "storage: could not open" in str(err.value)
    assert SECRET not in str(err.value)
    assert SECRET not in caplog.text


def test_runner_shows_storage_without_password(postgres_server) -> None:  # type: ignore[no-untyped-def]
    url = postgres_server.create_database("masked")
    # The test server requires its password over TCP: the URL carries it, the UI must not.
    assert f":{PASSWORD}@" in url
    runner = StudyRunner(objective, storage=url, study_name="m")
    assert PASSWORD not in repr(runner) and PASSWORD not in runner.storage_description
    assert "***" in runner.storage_description
    runner.start(n_trials=2).wait(timeout=30)
    assert len(runner.study.trials) == 2
