"""RunSpec: parsing, every validation message (with its field path), round trip, building."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from hpo_widget import SklearnPreset
from hpo_widget.spec import PresetObjective, RunSpec, SpecError

SPECS = Path(__file__).resolve().parent.parent / "example_notebooks" / "specs"
SPACE = {"x": {"type": "float", "low": -5, "high": 5}}


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HPO_WIDGET_STORAGE", raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))  # build_* puts the spec's dir on sys.path


def base(**fields: Any) -> dict[str, Any]:
    return {"objective": "mod:fn", "space": SPACE, **fields}


def problems_of(data: Any) -> list[str]:
    with pytest.raises(SpecError) as info:
        RunSpec.from_dict(data)
    return info.value.problems


# -- the example specs ------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["iris_random_forest", "svc_vs_rf", "quadratic"])
def test_example_specs_parse_and_round_trip(name: str) -> None:
    spec = RunSpec.from_file(SPECS / f"{name}.yaml")
    assert spec.study == name  # default: the file's stem
    assert spec.base_dir == SPECS
    again = RunSpec.from_dict(
        yaml.safe_load(yaml.safe_dump(spec.to_dict(), sort_keys=False)), base_dir=SPECS
    )
    assert again == spec


def test_iris_example_is_what_the_issue_asks_for() -> None:
    spec = RunSpec.from_file(SPECS / "iris_random_forest.yaml")
    assert spec.objective == PresetObjective(("RandomForest",), "iris", cv=3)
    assert (spec.backend, spec.n_workers, spec.n_trials) == ("loky", 2, 30)
    assert (spec.sampler, spec.seed, spec.pruner) == ("tpe", 0, "median")


def test_example_presets_and_objective_build(tmp_path: Path) -> None:
    for name in ("iris_random_forest", "svc_vs_rf"):
        spec = RunSpec.from_file(SPECS / f"{name}.yaml")
        objective, space = spec.build_objective()
        assert isinstance(objective, SklearnPreset)
        assert space is objective.space
    svc = RunSpec.from_file(SPECS / "svc_vs_rf.yaml")
    assert svc.space is not None and svc.space["SVC__C"].condition is not None
    runner = RunSpec.from_file(SPECS / "quadratic.yaml").build_runner(storage="memory")
    assert runner.study_name == "quadratic"
    assert [d.name for d in runner.study.directions] == ["MINIMIZE"]


# -- validation: every message carries its field path ----------------------------------------
@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (base(studdy="x"), "studdy: unknown field; did you mean 'study'?"),
        (base(study=""), "study: must be a non-empty string"),
        (base(study=3), "study: must be a non-empty string"),
        (base(storage="ftp://x/y"), "storage: cannot use 'ftp://x/y'"),
        (base(storage=5), "storage: must be a URL, a file path or an Optuna storage object"),
        (base(direction="maximise"), "direction: must be 'minimize' or 'maximize'"),
        (base(direction="min", directions=["min"]), "direction: give either direction or"),
        (base(directions=[]), "directions: must be a non-empty list"),
        (base(directions=["minimize", "up"]), "directions[1]: must be 'minimize' or 'maximize'"),
        ({"space": SPACE}, "objective: missing required field"),
        (base(objective="no_colon"), "objective: 'no_colon' must look like"),
        (base(objective=["a"]), "objective: must be 'package.module:function' or a preset"),
        (base(objective={"dataset": "iris"}), "objective.preset: missing required field"),
        (base(objective={"preset": [], "dataset": "iris"}), "objective.preset: must be an"),
        (
            base(objective={"preset": "RandomForrest", "dataset": "iris"}),
            "objective.preset: unknown estimator 'RandomForrest'; choose one of SVC",
        ),
        (
            base(objective={"preset": ["SVC", "Ridge"], "dataset": "iris"}),
            "objective.preset: do not mix classifiers and regressors",
        ),
        (
            base(objective={"preset": ["SVC", "svc"], "dataset": "iris"}),
            "objective.preset[1]: 'SVC' is listed more than once",
        ),
        (base(objective={"preset": "SVC"}), "objective.dataset: missing required field"),
        (
            base(objective={"preset": "SVC", "dataset": "irs"}),
            "objective.dataset: unknown 'irs'; bundled ones are iris",
        ),
        (
            base(objective={"preset": "SVC", "dataset": "iris", "cv": 1}),
            "objective.cv: must be a whole number >= 2 or empty, got 1",
        ),
        (
            base(objective={"preset": "SVC", "dataset": "iris", "scoring": "acuracy"}),
            "objective.scoring: unknown scorer 'acuracy'; did you mean 'accuracy'?",
        ),
        (
            base(objective={"preset": "SVC", "dataset": "iris", "fold_n_jobs": 0}),
            "objective.fold_n_jobs: must be a positive integer or -1",
        ),
        (
            base(objective={"preset": "SVC", "dataset": "iris", "folds": 3}),
            "objective.folds: unknown field",
        ),
        (
            base(objective={"preset": "SVC", "dataset": "iris", "random_state": -1}),
            "objective.random_state: must be a whole number >= 0",
        ),
        (
            base(space={"lr": {"type": "float", "low": 0, "high": 1, "log": True}}),
            "space.lr.low: must be > 0 when log=True",
        ),
        (base(space={"lr": {"type": "flot", "low": 0, "high": 1}}), "space.lr.type: unknown type"),
        (base(space=[1]), "space: search space must be a mapping"),
        (
            {
                "objective": {"preset": ["SVC", "RandomForest"], "dataset": "iris"},
                "space": {"C": {"type": "float", "low": 1, "high": 2}},
            },
            "space: a preset with several estimators needs an 'estimator' categorical",
        ),
        (
            {
                "objective": {"preset": ["SVC", "RandomForest"], "dataset": "iris"},
                "space": {
                    "estimator": {"type": "categorical", "choices": ["SVC", "KNN"]},
                    "C": {"type": "float", "low": 1, "high": 2},
                },
            },
            "space.estimator.choices: 'KNN' is not in objective.preset",
        ),
        (base(sampler="tpee"), "sampler: unknown 'tpee'; choose one of tpe"),
        (base(sampler=3), "sampler: must be a name or a mapping"),
        (base(sampler={"options": {}}), "sampler.name: missing required field"),
        (base(sampler={"name": "tpe", "n_startup_trials": 3}), "sampler.n_startup_trials: unknown"),
        (base(sampler={"name": "tpe", "options": [1]}), "sampler.options: must be a mapping"),
        (
            base(sampler={"name": "tpe", "options": {"n_startup": 3}}),
            "sampler.options.n_startup: TPESampler has no such argument; did you mean "
            "'n_startup_trials'?",
        ),
        (base(pruner="median2"), "pruner: unknown 'median2'; choose one of none, median"),
        (base(pruner={"name": "none", "options": {"a": 1}}), "pruner.options: the 'none' pruner"),
        (
            base(directions=["minimize", "minimize"], pruner="median"),
            "pruner: Optuna cannot prune multi-objective studies",
        ),
        (base(seed=1.5), "seed: must be a whole number or empty, got 1.5"),
        (base(seed=True), "seed: must be a whole number or empty, got True"),
        (base(backend="lokky"), "backend: unknown 'lokky'; choose one of threading, loky"),
        (
            base(backend={"name": "loky", "n_workers": -1}),
            "backend.n_workers: must be a whole number >= 0",
        ),
        (base(backend={"name": "loky", "workers": 2}), "backend.workers: unknown field"),
        (base(n_trials=0), "n_trials: must be a whole number >= 1 or empty, got 0"),
        (base(n_trials="10"), "n_trials: must be a whole number >= 1"),
        (base(timeout=0), "timeout: must be a positive number of seconds or empty, got 0"),
        (base(timeout=float("nan")), "timeout: must be a positive number"),
        (base(retries=-1), "retries: must be a whole number >= 0"),
        (base(heartbeat_grace="30s"), "heartbeat_grace: must be a positive number"),
        ([1, 2], "spec: must be a mapping of field -> value, got list"),
        (
            base(space={"x": {"type": "floatt", "low": 0, "high": 1}}),
            "space.x.type: unknown type 'floatt' (use one of: categorical, float, int; "
            "did you mean 'float'?)",
        ),
    ],
)
def test_each_problem_names_its_field(data: Any, expected: str) -> None:
    problems = problems_of(data)
    assert any(expected in p for p in problems), problems


def test_all_problems_are_collected_at_once() -> None:
    problems = problems_of(
        {
            "studdy": "x",
            "objective": {"preset": "SVC", "dataset": "irs", "cv": 0},
            "space": {"lr": {"type": "float", "low": 0, "high": 1, "log": True}},
            "sampler": "tpee",
            "backend": {"name": "loky", "n_workers": -2},
            "n_trials": 0,
            "timeout": -1,
        }
    )
    prefixes = [p.split(":", 1)[0] for p in problems]
    assert prefixes == [
        "studdy",
        "objective.dataset",
        "objective.cv",
        "space.lr.low",
        "sampler",
        "backend.n_workers",
        "n_trials",
        "timeout",
    ]
    assert str(SpecError(problems)).splitlines() == problems


def test_spec_error_masks_passwords() -> None:
    problems = problems_of(base(storage="postgresqlx://user:s3cret@db.example/x"))
    assert "***" in problems[0]
    assert "s3cret" not in str(SpecError(problems))


def test_aliases_and_normalisation() -> None:
    spec = RunSpec.from_dict(
        base(direction="max", sampler="TPE", pruner="nop", backend="LOKY", n_trials=5.0)
    )
    assert (spec.direction, spec.sampler, spec.pruner, spec.backend) == (
        "maximize",
        "tpe",
        "none",
        "loky",
    )
    assert spec.n_trials == 5 and isinstance(spec.n_trials, int)
    preset = RunSpec.from_dict(
        {"objective": {"preset": "randomforestclassifier", "dataset": "iris"}}
    )
    assert isinstance(preset.objective, PresetObjective)
    assert preset.objective.estimators == ("RandomForest",)


def test_defaults() -> None:
    spec = RunSpec.from_dict({"objective": "mod:fn"})
    assert spec.study is None and spec.storage is None and spec.space is None
    assert (spec.sampler, spec.pruner, spec.backend, spec.n_workers) == (
        "tpe",
        None,  # Optuna's default: the median pruner for one objective
        "threading",
        None,
    )
    assert (spec.retries, spec.heartbeat_grace, spec.n_trials, spec.timeout) == (
        1,
        30.0,
        None,
        None,
    )
    assert spec.to_dict() == {"objective": "mod:fn", "sampler": "tpe", "backend": "threading"}


# -- files ------------------------------------------------------------------------------------
def test_from_file_problems(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="spec: cannot read"):
        RunSpec.from_file(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("objective: [unclosed\n")
    with pytest.raises(SpecError, match="spec: invalid YAML") as info:
        RunSpec.from_file(bad)
    assert info.value.source == str(bad)
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing\n")
    with pytest.raises(SpecError, match="spec: the file is empty"):
        RunSpec.from_file(empty)
    named = tmp_path / "named.yaml"
    named.write_text("study: custom\nobjective: mod:fn\n")
    assert RunSpec.from_file(named).study == "custom"


# -- overrides ----------------------------------------------------------------------------------
def test_with_overrides_revalidates_and_keeps_the_rest() -> None:
    spec = RunSpec.from_file(SPECS / "iris_random_forest.yaml")
    changed = spec.with_overrides(n_trials=40, backend="threading", study=None)
    assert (changed.n_trials, changed.backend, changed.n_workers) == (40, "threading", 2)
    assert changed.study == spec.study and changed.base_dir == spec.base_dir
    assert spec.with_overrides(n_workers=0).n_workers == 0
    assert spec.with_overrides() is spec
    with pytest.raises(SpecError, match=r"backend: unknown 'nope'"):
        spec.with_overrides(backend="nope")
    with pytest.raises(TypeError, match="unknown run option 'colour'"):
        spec.with_overrides(colour="red")


def test_with_overrides_takes_sampler_and_pruner_objects() -> None:
    """Objects have no YAML form: overrides are applied to the config, not round-tripped."""
    import optuna

    sampler = optuna.samplers.RandomSampler(seed=3)
    pruner = optuna.pruners.NopPruner()
    spec = RunSpec.from_dict(base(n_trials=5))
    changed = spec.with_overrides(sampler=sampler, pruner=pruner, direction="max")
    assert changed.sampler is sampler and changed.pruner is pruner
    assert changed.directions == ("maximize",) and changed.n_trials == 5
    again = changed.with_overrides(n_trials=3, space={"y": {"type": "int", "low": 0, "high": 2}})
    assert again.sampler is sampler and again.n_trials == 3 and again.space is not None
    assert list(again.space.to_dict()) == ["y"]
    with pytest.raises(SpecError, match=r"backend\.n_workers: must be a whole number"):
        changed.with_overrides(n_workers=-1)
    with pytest.raises(SpecError, match=r"^space\.x"):
        spec.with_overrides(space={"x": {"type": "float", "low": 5, "high": 1}})


# -- building -----------------------------------------------------------------------------------
def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_objective_next_to_the_spec_is_importable(tmp_path: Path) -> None:
    specdir = tmp_path / "specs"
    specdir.mkdir()
    write(specdir, "spec_side_objective.py", "def objective(params):\n    return params['x']\n")
    spec_file = write(specdir, "s.yaml", "objective: spec_side_objective:objective\n")
    spec = RunSpec.from_file(spec_file).with_overrides(space=SPACE, storage="memory")
    runner = spec.build_runner()
    study = runner.start(n_trials=3).wait(timeout=30)
    assert len(study.trials) == 3 and runner.study_name == "s"


def test_build_problems_raise_spec_error(tmp_path: Path) -> None:
    write(tmp_path, "params_style_obj.py", "def objective(params):\n    return 0.0\n")
    write(tmp_path, "data_fns.py", "def bad():\n    return 1\n")
    no_space = RunSpec.from_dict({"objective": "params_style_obj:objective"}, base_dir=tmp_path)
    with pytest.raises(SpecError, match="space: the objective takes a params dict"):
        no_space.build_runner(storage="memory")
    missing = RunSpec.from_dict({"objective": "no_such_module_xyz:f"}, base_dir=tmp_path)
    with pytest.raises(SpecError, match="objective: cannot import module 'no_such_module_xyz'"):
        missing.build_runner(storage="memory")
    bad_data = RunSpec.from_dict(
        {"objective": {"preset": "SVC", "dataset": "data_fns:bad"}}, base_dir=tmp_path
    )
    with pytest.raises(SpecError, match=r"objective.dataset: 'data_fns:bad' must return \(X, y\)"):
        bad_data.build_objective()
    # A grid over a continuous float is found when the spec is read, before any import.
    with pytest.raises(SpecError, match="sampler: grid cannot enumerate 'x'"):
        RunSpec.from_dict(
            {"objective": "params_style_obj:objective", "space": SPACE, "sampler": "grid"},
            base_dir=tmp_path,
        )


def test_existing_study_with_other_direction_is_a_spec_problem(tmp_path: Path) -> None:
    write(tmp_path, "dir_obj.py", "def objective(params):\n    return params['x']\n")
    data = {"study": "d", "objective": "dir_obj:objective", "space": SPACE}
    journal = str(tmp_path / "d.journal")
    # A runner creates its study when it runs (or when its study is read), not when built.
    assert RunSpec.from_dict(data, base_dir=tmp_path).build_runner(storage=journal).study
    other = RunSpec.from_dict({**data, "direction": "maximize"}, base_dir=tmp_path)
    with pytest.raises(SpecError, match="direction: study 'd' already exists"):
        other.build_runner(storage=journal)


def test_preset_with_dataset_function(tmp_path: Path) -> None:
    write(
        tmp_path,
        "my_data.py",
        """\
        from sklearn.datasets import load_iris

        def load():
            return load_iris(return_X_y=True)
        """,
    )
    spec = RunSpec.from_dict(
        {
            "objective": {"preset": "KNeighbors", "dataset": "my_data:load", "cv": 3},
            "storage": "memory",
            "n_trials": 2,
        },
        base_dir=tmp_path,
    )
    runner = spec.build_runner()
    assert [d.name for d in runner.study.directions] == ["MAXIMIZE"]  # from the preset
    study = runner.start(n_trials=2).wait(timeout=60)
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE"]
    assert 0.5 < study.best_value <= 1.0


# -- sampler and pruner options: checked when the spec is read ---------------------------------
@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            base(sampler={"name": "tpe", "options": {"n_startup_trials": -3}}),
            "sampler.options.n_startup_trials: must be >= 0, got -3",
        ),
        (
            base(sampler={"name": "tpe", "options": {"n_ei_candidates": 0}}),
            "sampler.options.n_ei_candidates: must be >= 1, got 0",
        ),
        (
            base(sampler={"name": "tpe", "options": {"n_startup_trials": 2.5}}),
            "sampler.options.n_startup_trials: must be an integer >= 0, got 2.5",
        ),
        (
            base(sampler={"name": "tpe", "options": {"prior_weight": -1}}),
            "sampler.options.prior_weight: must be > 0, got -1",
        ),
        (
            base(sampler={"name": "tpe", "options": {"gamma": "fast"}}),
            "sampler.options.gamma: must be a Python function (pass it through the Python API)",
        ),
        (
            base(sampler={"name": "random", "options": {"seed": -1}}),
            "sampler.options.seed: must be >= 0, got -1",
        ),
        (
            base(sampler={"name": "nsgaii", "options": {"population_size": 1}}),
            "sampler.options.population_size: must be >= 2, got 1",
        ),
        (
            base(sampler={"name": "nsgaii", "options": {"crossover_prob": 1.5}}),
            "sampler.options.crossover_prob: must be >= 0 and <= 1, got 1.5",
        ),
        (
            base(sampler={"name": "grid", "options": {"search_space": {"x": 3}}}),
            "sampler.options.search_space: GridSampler rejects it: 'int' object is not iterable",
        ),
        (
            base(sampler={"name": "cmaes", "options": {"n_startup": 1}}),
            "sampler.options.n_startup: CmaEsSampler has no such argument; did you mean "
            "'n_startup_trials'? (it takes: x0, sigma0, n_startup_trials,",
        ),
        (
            base(pruner={"name": "median", "options": {"n_startup_trials": -1}}),
            "pruner.options.n_startup_trials: must be >= 0, got -1",
        ),
        (
            base(pruner={"name": "median", "options": {"interval_steps": 0}}),
            "pruner.options.interval_steps: must be >= 1, got 0",
        ),
        (
            base(pruner={"name": "median", "options": {"warmup": 2}}),
            "pruner.options.warmup: MedianPruner has no such argument; did you mean "
            "'n_warmup_steps'? (it takes: "
            "n_startup_trials, n_warmup_steps, interval_steps, n_min_trials)",
        ),
        (
            base(pruner={"name": "successive_halving", "options": {"min_resource": "x"}}),
            "pruner.options.min_resource: must be an integer >= 1, got 'x' (or 'auto')",
        ),
        (
            base(pruner={"name": "hyperband", "options": {"min_resource": "auto"}}),
            "pruner.options.min_resource: must be an integer >= 1, got 'auto'",
        ),
        (
            base(pruner={"name": "hyperband", "options": {"min_resource": 9, "max_resource": 3}}),
            "pruner.options.max_resource: must be >= min_resource (9), got 3",
        ),
    ],
)
def test_sampler_and_pruner_options_name_the_field(data: Any, expected: str) -> None:
    problems = problems_of(data)
    assert any(p.startswith(expected) for p in problems), problems


def test_every_bad_option_is_reported_at_once() -> None:
    problems = problems_of(
        base(
            sampler={"name": "tpe", "options": {"n_startup_trials": -3, "n_startup": 1}},
            pruner={"name": "median", "options": {"n_warmup_steps": -1}},
        )
    )
    assert [p.split(":", 1)[0] for p in problems] == [
        "sampler.options.n_startup_trials",
        "sampler.options.n_startup",
        "pruner.options.n_warmup_steps",
    ]


@pytest.mark.parametrize(
    ("sampler", "pruner"),
    [
        ({"name": "tpe", "options": {"n_startup_trials": 0, "multivariate": True}}, "none"),
        ({"name": "tpe", "options": {"seed": 3, "consider_prior": None}}, "median"),
        ({"name": "grid", "options": {"search_space": {"x": [1, 2]}}}, "none"),
        ({"name": "qmc", "options": {"qmc_type": "halton", "scramble": True}}, "none"),
        ({"name": "cmaes", "options": {"sigma0": 0.5, "n_startup_trials": 1}}, "none"),
        ({"name": "nsgaii", "options": {"population_size": 2, "mutation_prob": None}}, "none"),
        ("tpe", {"name": "median", "options": {"n_startup_trials": 0, "n_warmup_steps": 0}}),
        ("tpe", {"name": "successive_halving", "options": {"min_resource": "auto"}}),
        ("tpe", {"name": "hyperband", "options": {"min_resource": 1, "max_resource": "auto"}}),
        ("tpe", {"name": "hyperband", "options": {"max_resource": 9, "reduction_factor": 3}}),
    ],
)
def test_good_options_pass(sampler: Any, pruner: Any) -> None:
    spec = RunSpec.from_dict(base(sampler=sampler, pruner=pruner))
    assert spec.to_dict()["sampler"] == sampler


def test_python_api_options_are_checked_too() -> None:
    from hpo_widget import StudyRunner
    from hpo_widget.samplers import PrunerSpec, SamplerSpec

    with pytest.raises(ValueError, match=r"^sampler_options\.n_startup_trials: must be >= 0"):
        SamplerSpec("tpe", {"n_startup_trials": -3})
    with pytest.raises(ValueError, match=r"^pruner_options\.n_warmup_steps: must be >= 0"):
        PrunerSpec("median", {"n_warmup_steps": -1})
    with pytest.raises(ValueError, match=r"sampler_options\.n_startup_trials: must be >= 0"):
        StudyRunner(lambda trial: 0.0, storage="memory", sampler_options={"n_startup_trials": -3})


# -- an objective module that raises while it is imported ---------------------------------------
def test_objective_module_that_raises_on_import_is_a_spec_problem(tmp_path: Path) -> None:
    write(tmp_path, "raisingmod.py", 'raise RuntimeError("boom while importing raisingmod")\n')
    write(
        tmp_path, "needs_dep.py", "import no_such_dependency_xyz\n\ndef f(trial):\n    return 0\n"
    )
    spec = RunSpec.from_dict({"objective": "raisingmod:f"}, base_dir=tmp_path)
    with pytest.raises(SpecError) as info:
        spec.build_runner(storage="memory")
    (problem,) = info.value.problems
    assert problem.startswith(
        "objective: importing module 'raisingmod' raised RuntimeError: boom while importing "
        f'raisingmod at File "{tmp_path / "raisingmod.py"}", line 1, in <module>: raise '
    )
    # a module that is found but imports something missing is not "cannot import module"
    dep = RunSpec.from_dict({"objective": "needs_dep:f"}, base_dir=tmp_path)
    with pytest.raises(
        SpecError,
        match="objective: importing module 'needs_dep' raised "
        "ModuleNotFoundError: No module named 'no_such_dependency_xyz'",
    ):
        dep.build_objective()
