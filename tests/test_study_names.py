"""hpo_widget.study_names: how new studies are named, and what "memory" storage means."""

from __future__ import annotations

import subprocess
import sys

import optuna
import pytest

from hpo_widget import SklearnPreset
from hpo_widget.presets import load_dataset
from hpo_widget.study_names import (
    FALLBACK_STUDY_NAME,
    MemoryStorage,
    StudyNameChoice,
    choose_study_name,
    default_study_name,
    is_memory_storage,
    preset_study_name,
    sibling_name,
)


def quadratic(params: dict) -> float:
    return float(params["x"] ** 2)


class Scorer:
    def __call__(self, params: dict) -> float:
        return 0.0


@pytest.fixture(scope="module")
def preset() -> SklearnPreset:
    X, y = load_dataset("iris")
    return SklearnPreset(["LogisticRegression", "RandomForest"], X, y, cv=2)


def test_default_name_says_what_is_tuned(preset: SklearnPreset) -> None:
    assert default_study_name(quadratic) == "quadratic"
    assert default_study_name(preset) == "LogisticRegression+RandomForest"
    assert default_study_name(lambda params: 0.0) == FALLBACK_STUDY_NAME == "study"
    assert default_study_name(Scorer()) == "study"  # no __name__
    assert default_study_name(None) == "study"


def test_preset_name_includes_the_dataset(preset: SklearnPreset) -> None:
    assert preset_study_name(preset, "iris") == "LogisticRegression+RandomForest-iris"


@pytest.mark.parametrize(
    ("taken", "expected"),
    [
        ([], "demo-2"),
        (["demo"], "demo-2"),
        (["demo", "demo-2"], "demo-3"),
        (["demo", "demo-2", "demo-3", "demo-5"], "demo-4"),  # the first free one
        (iter(["demo-2"]), "demo-3"),  # any iterable, read once
    ],
)
def test_sibling_is_the_first_free_number(taken: list[str], expected: str) -> None:
    assert sibling_name("demo", taken) == expected


def test_a_sibling_of_a_sibling_keeps_the_name_as_given() -> None:
    assert sibling_name("demo-2", ["demo", "demo-2"]) == "demo-2-2"


def _study(storage: optuna.storages.BaseStorage, name: str, n_trials: int) -> optuna.Study:
    study = optuna.create_study(study_name=name, storage=storage)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=n_trials)
    return study


def test_an_empty_or_new_study_is_used_as_it_is() -> None:
    storage = optuna.storages.InMemoryStorage()
    choice = choose_study_name(_study(storage, "demo", 0), resume=False)
    assert choice == StudyNameChoice("demo", "demo") and not choice.renamed


def test_a_study_with_trials_gets_a_sibling_unless_resuming() -> None:
    storage = optuna.storages.InMemoryStorage()
    study = _study(storage, "demo", 3)
    _study(storage, "demo-2", 0)  # taken even though empty
    choice = choose_study_name(study, resume=False)
    assert choice.renamed and choice.requested == "demo" and choice.name == "demo-3"
    assert choice.existing_trials == 3
    # The study that was asked for is left alone.
    assert len(optuna.load_study(study_name="demo", storage=storage).trials) == 3

    kept = choose_study_name(study, resume=True)
    assert kept == StudyNameChoice("demo", "demo") and not kept.renamed


def test_names_are_taken_from_the_studys_own_storage() -> None:
    shared = optuna.storages.InMemoryStorage()
    other = optuna.storages.InMemoryStorage()
    _study(other, "demo-2", 0)  # another storage's names do not count
    choice = choose_study_name(_study(shared, "demo", 1), resume=False)
    assert choice.name == "demo-2"


@pytest.mark.parametrize("value", ["memory", " memory ", ":memory:", "inmemory"])
def test_memory_aliases(value: str) -> None:
    assert is_memory_storage(value)


@pytest.mark.parametrize(
    "value",
    [
        "studies.journal",
        "journal:///tmp/x.journal",
        "sqlite:///x.db",
        "grpc://127.0.0.1:1",
        "ftp://u:pw@h/x",  # not a storage at all: left for the runner to report
        "memoryx",
    ],
)
def test_other_storages_are_not_memory(value: str) -> None:
    assert not is_memory_storage(value)


def test_a_storage_object_is_never_an_alias() -> None:
    assert not is_memory_storage(optuna.storages.InMemoryStorage())


def test_an_empty_value_means_the_default_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HPO_WIDGET_STORAGE", raising=False)
    assert not is_memory_storage(None) and not is_memory_storage("  ")


def test_memory_storage_is_one_store_per_owner() -> None:
    owner, other = MemoryStorage(), MemoryStorage()
    assert owner.storage is None
    assert owner.bind("studies.journal") == "studies.journal"  # passes through, creates nothing
    assert owner.storage is None
    first = owner.bind("memory")
    assert isinstance(first, optuna.storages.InMemoryStorage)
    assert owner.bind(":memory:") is first is owner.storage
    assert other.bind("memory") is not first
    given = optuna.storages.InMemoryStorage()
    assert owner.bind(given) is given


def test_studies_survive_a_new_runner_of_the_same_owner() -> None:
    owner = MemoryStorage()
    storage = owner.bind("memory")
    assert isinstance(storage, optuna.storages.BaseStorage)
    _study(storage, "demo", 2)
    again = optuna.load_study(study_name="demo", storage=owner.bind("memory"))
    assert choose_study_name(again, resume=False).name == "demo-2"


def test_the_module_needs_no_widgets() -> None:
    code = (
        "import sys, hpo_widget.study_names\n"
        "bad = [m for m in ('ipywidgets', 'hpo_widget.ui') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
