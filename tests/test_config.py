"""RunConfig: one model of every run option, its problems, its dict/YAML form and its schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import optuna
import pytest
import yaml

from hpo_widget import StudyRunner
from hpo_widget.cli import main
from hpo_widget.config import ConfigError, ConfigProblem, RunConfig, StopRules
from hpo_widget.spec import RunSpec, SpecError, spec_schema

SPECS = Path(__file__).resolve().parent.parent / "example_notebooks" / "specs"


def objective(trial: optuna.Trial) -> float:
    return trial.suggest_float("x", -1, 1) ** 2


def test_defaults_have_no_problems_and_follow_optuna() -> None:
    config = RunConfig()
    assert config.problems() == []
    assert (config.sampler, config.pruner, config.backend) == ("tpe", None, "threading")
    assert config.stop == StopRules() and not config.stop.active


def test_every_problem_names_its_field_and_all_come_at_once() -> None:
    config = RunConfig.from_options(
        direction="up",
        sampler="tpee",
        n_workers=-1,
        n_trials=0,
        timeout=-2,
        retries=-1,
        heartbeat_grace=0,
        goal=float("nan"),
        patience=0,
        max_failed=True,
        storage_proxy={"hots": "0.0.0.0"},
    )
    problems = config.problems()
    assert all(isinstance(p, ConfigProblem) and p.message for p in problems)
    assert [p.field for p in problems] == [
        "direction",
        "sampler",
        "n_workers",
        "n_trials",
        "timeout",
        "retries",
        "heartbeat_grace",
        "storage_proxy.hots",
        "stop.goal",
        "stop.patience",
        "stop.max_failed",
    ]
    assert "did you mean 'host'?" in problems[7].message
    with pytest.raises(ConfigError) as info:
        config.checked()
    assert info.value.problems == tuple(problems)
    assert str(info.value).splitlines() == [str(p) for p in problems]
    assert {p.root for p in problems} >= {"stop", "storage_proxy", "n_workers"}


def test_one_wording_per_rule_in_the_api_and_the_spec() -> None:
    # The same rule, broken through StudyRunner and through a YAML spec, reads the same.
    with pytest.raises(ConfigError) as api:
        StudyRunner(
            objective, storage="memory", directions=["minimize", "maximize"], pruner="median"
        )
    with pytest.raises(SpecError) as spec:
        RunSpec.from_dict(
            {"objective": "m:f", "directions": ["minimize", "maximize"], "pruner": "median"}
        )
    assert [str(p) for p in api.value.problems] == spec.value.problems
    with pytest.raises(ConfigError) as api_workers:
        StudyRunner(objective, storage="memory", n_workers=-1)
    with pytest.raises(SpecError) as spec_workers:
        RunSpec.from_dict({"objective": "m:f", "backend": {"name": "loky", "n_workers": -1}})
    assert api_workers.value.problems[0].message in spec_workers.value.problems[0]
    assert spec_workers.value.problems[0].startswith("backend.n_workers:")


def test_unknown_options_get_a_hint() -> None:
    with pytest.raises(TypeError, match="unknown run option 'n_worker'; did you mean 'n_workers'"):
        RunConfig.from_options(n_worker=2)
    with pytest.raises(TypeError, match="unknown run option"):
        StudyRunner(objective, storage="memory", colour="red")


def test_dict_and_yaml_round_trips() -> None:
    config = RunConfig.from_options(
        study_name="s",
        storage="runs.journal",
        directions=("minimize", "maximize"),
        sampler="nsgaii",
        sampler_options={"population_size": 10},
        pruner="none",
        seed=3,
        backend="spark",
        n_workers=2,
        backend_options={"master": "local[2]"},
        n_trials=50,
        timeout=600.0,
        retries=2,
        heartbeat_grace=20.0,
        storage_proxy={"host": "0.0.0.0", "advertise": "10.0.0.5"},
        max_failed=4,
    )
    assert config.problems() == []
    assert RunConfig.from_dict(config.to_dict()) == config
    assert RunConfig.from_yaml(config.to_yaml()) == config
    single = RunConfig.from_options(direction="maximize", goal=0.9, patience=5)
    assert single.to_dict()["stop"] == {"goal": 0.9, "patience": 5}
    assert RunConfig.from_dict(single.to_dict()) == single


def test_objects_have_no_yaml_form() -> None:
    config = RunConfig(sampler=optuna.samplers.RandomSampler(seed=1))
    assert config.problems() == []
    with pytest.raises(ValueError, match=r"^sampler: RandomSampler objects have no YAML form"):
        config.to_dict()


def test_passwords_never_show_in_repr_or_errors() -> None:
    config = RunConfig(storage="postgresql://u:s3cret@db.example/x")
    assert "s3cret" not in repr(config)
    bad = RunConfig(storage="postgresqlx://u:s3cret@db.example/x")
    with pytest.raises(ConfigError) as info:
        bad.checked()
    assert "s3cret" not in str(info.value)


# -- JSON Schema ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["iris_random_forest", "svc_vs_rf", "quadratic"])
def test_example_specs_validate_against_the_schema(name: str) -> None:
    data = yaml.safe_load((SPECS / f"{name}.yaml").read_text())
    jsonschema.validate(data, spec_schema())


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"objective": "m:f", "n_trails": 5}, "n_trails"),
        ({"objective": "m:f", "sampler": "tpee"}, "tpee"),
        ({"objective": "m:f", "stop": {"patience": 0}}, "0"),
        ({"objective": "m:f", "direction": "up"}, "up"),
        ({"n_trials": 5}, "objective"),
    ],
)
def test_the_schema_rejects_what_the_model_rejects(data: dict[str, Any], where: str) -> None:
    with pytest.raises(jsonschema.ValidationError, match=where):
        jsonschema.validate(data, spec_schema())
    with pytest.raises(SpecError):
        RunSpec.from_dict(data)


def test_schema_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == spec_schema()
    target = tmp_path / "spec.schema.json"
    assert main(["schema", "-o", str(target)]) == 0
    assert json.loads(target.read_text()) == printed


def test_backend_options_belong_to_the_backend() -> None:
    problems = RunConfig.from_options(backend="loky", backend_options={"master": "x"}).problems()
    assert [str(p) for p in problems] == [
        "backend_options.master: not an option of the loky backend (its options: none)"
    ]
    spark = RunConfig.from_options(backend="spark", backend_options={"mastr": "local[2]"})
    assert "did you mean 'master'?" in spark.problems()[0].message
    with pytest.raises(SpecError, match=r"backend\.options\.mastr: not an option"):
        RunSpec.from_dict(
            {"objective": "m:f", "backend": {"name": "spark", "options": {"mastr": "local"}}}
        )
