"""Tests for the search-space model (validation messages, round trips, sampling)."""

from __future__ import annotations

import dataclasses
import json
import math
import pickle
from decimal import Decimal
from typing import Any

import optuna
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from hpo_widget.space import (
    CategoricalParam,
    Condition,
    FloatParam,
    IntParam,
    Problem,
    SearchSpace,
    SearchSpaceError,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)

EXAMPLE: dict[str, Any] = {
    "classifier": {"type": "categorical", "choices": ["SVC", "RandomForest"]},
    "svc_c": {
        "type": "float",
        "low": 1e-10,
        "high": 1e10,
        "log": True,
        "condition": {"classifier": ["SVC"]},
    },
    "rf_max_depth": {
        "type": "int",
        "low": 2,
        "high": 32,
        "log": True,
        "condition": {"classifier": ["RandomForest"]},
    },
}

#: classifier -> kernel (SVC only) -> degree (poly kernel only): a two-level chain.
NESTED: dict[str, Any] = {
    "classifier": {"type": "categorical", "choices": ["SVC", "RandomForest"]},
    "kernel": {
        "type": "categorical",
        "choices": ["rbf", "poly"],
        "condition": {"classifier": ["SVC"]},
    },
    "degree": {"type": "int", "low": 2, "high": 5, "condition": {"kernel": ["poly"]}},
    "n_estimators": {
        "type": "int",
        "low": 10,
        "high": 100,
        "step": 10,
        "condition": {"classifier": ["RandomForest"]},
    },
    "use_reg": {"type": "categorical", "choices": [True, False, None]},
    "alpha": {
        "type": "float",
        "low": 0.0,
        "high": 1.0,
        "step": 0.25,
        "condition": {"use_reg": [True]},
    },
    "lr": {"type": "float", "low": 1e-4, "high": 1.0, "log": True},
}


def errors(data: Any) -> SearchSpaceError:
    with pytest.raises(SearchSpaceError) as info:
        SearchSpace.from_dict(data)
    return info.value


def float_spec(**fields: Any) -> dict[str, Any]:
    return {"type": "float", "low": 0.0, "high": 1.0, **fields}


def int_spec(**fields: Any) -> dict[str, Any]:
    return {"type": "int", "low": 1, "high": 10, **fields}


CLASSIFIER = {"type": "categorical", "choices": ["SVC", "RandomForest"]}

# (space, "param.field:" expected at the start of a line, fragments the line must contain)
VALIDATION_CASES: list[tuple[str, dict[str, Any], str, tuple[str, ...]]] = [
    ("low>=high", {"x": float_spec(low=5, high=1)}, "x.high", ("greater than low", "swap")),
    ("low==high int", {"n": int_spec(low=3, high=3)}, "n.high", ("greater than low",)),
    (
        "log low<=0",
        {"learning_rate": float_spec(low=0, log=True)},
        "learning_rate.low",
        ("must be > 0 when log=True (use a positive low or set log: false)",),
    ),
    ("int log low 0", {"n": int_spec(low=0, log=True)}, "n.low", ("> 0 when log=True",)),
    (
        "float log+step",
        {"x": float_spec(low=0.1, log=True, step=0.1)},
        "x.step",
        ("cannot be combined with log=True", "remove step or set log: false"),
    ),
    (
        "int log+step",
        {"n": int_spec(high=9, log=True, step=2)},
        "n.step",
        ("cannot be combined with log=True", "remove step"),
    ),
    (
        "step > range",
        {"x": float_spec(step=3)},
        "x.step",
        ("larger than high - low = 1.0", "use a smaller step or widen the range"),
    ),
    ("int step > range", {"n": int_spec(step=20)}, "n.step", ("larger than high - low = 9",)),
    ("step == 0", {"x": float_spec(step=0)}, "x.step", ("must be > 0", "positive step")),
    ("int step < 0", {"n": int_spec(step=-1)}, "n.step", ("must be > 0", "positive step")),
    (
        "step not dividing",
        {"x": float_spec(step=0.3)},
        "x.high",
        ("not a multiple of step 0.3", "use high: 0.9"),
    ),
    ("int step not dividing", {"n": int_spec(step=2)}, "n.high", ("use high: 9",)),
    (
        "too many steps",
        {"x": float_spec(high=1e10, step=1e-10)},
        "x.step",
        ("too many", "larger step, or omit step"),
    ),
    (
        "int low 2.5",
        {"n": int_spec(low=2.5)},
        "n.low",
        ("must be an integer, got 2.5", "whole number, or type: float"),
    ),
    ("int step 1.5", {"n": int_spec(step=1.5)}, "n.step", ("must be an integer",)),
    ("bool bound", {"x": float_spec(low=True)}, "x.low", ("booleans are not numbers",)),
    ("int bool bound", {"n": int_spec(high=False)}, "n.high", ("booleans are not numbers",)),
    ("string bound", {"x": float_spec(high="1")}, "x.high", ("must be a number, got '1'",)),
    ("null bound", {"x": float_spec(low=None)}, "x.low", ("must be a number, got None",)),
    ("nan bound", {"x": float_spec(low=math.nan)}, "x.low", ("finite", "NaN and infinity")),
    ("inf bound", {"x": float_spec(high=math.inf)}, "x.high", ("finite",)),
    ("int inf bound", {"n": int_spec(high=-math.inf)}, "n.high", ("finite",)),
    ("huge int", {"n": int_spec(high=2**60)}, "n.high", ("2**53", "Optuna stores ints")),
    ("float overflow", {"x": float_spec(low=-1e308, high=1e308)}, "x.high", ("narrow",)),
    ("huge int float", {"x": float_spec(high=10**400)}, "x.high", ("finite",)),
    ("log not bool", {"x": float_spec(log="yes")}, "x.log", ("true or false",)),
    (
        "empty choices",
        {"c": {"type": "categorical", "choices": []}},
        "c.choices",
        ("must not be empty", "at least one"),
    ),
    (
        "duplicate choices",
        {"c": {"type": "categorical", "choices": ["a", "b", "a"]}},
        "c.choices",
        ("'a' is listed more than once", "list each value once"),
    ),
    (
        "1 and True",
        {"c": {"type": "categorical", "choices": [1, True]}},
        "c.choices",
        ("True equals 1", "cannot tell 1, 1.0 and True apart"),
    ),
    (
        "choices not a list",
        {"c": {"type": "categorical", "choices": "abc"}},
        "c.choices",
        ("must be a list of choices", "write ['abc']"),
    ),
    (
        "bad choice type",
        {"c": {"type": "categorical", "choices": ["a", {"b": 1}]}},
        "c.choices",
        ("item 1", "str, int, float, bool or null"),
    ),
    (
        "nan choice",
        {"c": {"type": "categorical", "choices": [1.0, math.nan]}},
        "c.choices",
        ("item 1 is nan", "finite"),
    ),
    (
        "unknown type",
        {"x": {"type": "flaot", "low": 0, "high": 1}},
        "x.type",
        ("unknown type 'flaot'", "use one of: categorical, float, int", "did you mean 'float'"),
    ),
    ("type not str", {"x": {"type": ["float"]}}, "x.type", ("use one of: categorical",)),
    ("missing type", {"x": {"low": 0, "high": 1}}, "x.type", ("missing", "use one of")),
    (
        "missing high",
        {"x": {"type": "float", "low": 0}},
        "x.high",
        ("missing required field", "need low, high"),
    ),
    (
        "missing choices",
        {"c": {"type": "categorical"}},
        "c.choices",
        ("missing required field",),
    ),
    (
        "unknown field",
        {"x": {"type": "float", "low": 0, "hgih": 1}},
        "x.hgih",
        ("unknown field", "allowed for float: type, low, high", "did you mean 'high'"),
    ),
    (
        "field not allowed for categorical",
        {"c": {**CLASSIFIER, "log": True}},
        "c.log",
        ("unknown field", "allowed for categorical: type, choices, condition"),
    ),
    (
        "unknown parent",
        {"classifier": CLASSIFIER, "x": float_spec(condition={"clasifier": ["SVC"]})},
        "x.condition",
        ("unknown parent 'clasifier'", "did you mean 'classifier'"),
    ),
    (
        "non-categorical parent",
        {"lr": float_spec(), "x": float_spec(condition={"lr": [0.5]})},
        "x.condition",
        ("'lr' is a float parameter", "only categorical parameters can be parents"),
    ),
    (
        "value not a choice",
        {"classifier": CLASSIFIER, "x": float_spec(condition={"classifier": ["SVM"]})},
        "x.condition",
        ("'SVM' is not a choice of 'classifier'", "'SVC', 'RandomForest'"),
    ),
    (
        "True is not 1",
        {"c": {"type": "categorical", "choices": [1, 2]}, "x": float_spec(condition={"c": [True]})},
        "x.condition",
        ("True is not a choice of 'c'",),
    ),
    (
        "condition scalar",
        {"classifier": CLASSIFIER, "x": float_spec(condition="SVC")},
        "x.condition",
        ("must be a mapping {parent: [values]}", 'condition: {"classifier": ["SVC"]}'),
    ),
    (
        "condition two parents",
        {"classifier": CLASSIFIER, "x": float_spec(condition={"a": ["x"], "b": ["y"]})},
        "x.condition",
        ("exactly one parent, got 'a', 'b'",),
    ),
    (
        "condition no parent",
        {"x": float_spec(condition={})},
        "x.condition",
        ("exactly one parent, got none",),
    ),
    (
        "condition values scalar",
        {"classifier": CLASSIFIER, "x": float_spec(condition={"classifier": "SVC"})},
        "x.condition",
        ("must be a list of parent values", "write ['SVC']"),
    ),
    (
        "condition values empty",
        {"classifier": CLASSIFIER, "x": float_spec(condition={"classifier": []})},
        "x.condition",
        ("must not be empty",),
    ),
    (
        "condition parent not a name",
        {"x": float_spec(condition={1: ["a"]})},
        "x.condition",
        ("parent must be a parameter name",),
    ),
    (
        "self condition",
        {"c": {**CLASSIFIER, "condition": {"c": ["SVC"]}}},
        "c.condition",
        ("cannot depend on itself",),
    ),
    (
        "cycle",
        {
            "a": {"type": "categorical", "choices": ["x"], "condition": {"b": ["y"]}},
            "b": {"type": "categorical", "choices": ["y"], "condition": {"a": ["x"]}},
        },
        "a.condition",
        ("cycle a -> b -> a", "remove one of them"),
    ),
    ("spec not mapping", {"x": [0, 1]}, "x", ("spec must be a mapping", "got [0, 1]")),
    ("empty name", {"": CLASSIFIER}, "''.name", ("non-empty string", "give the parameter")),
    ("blank name", {"  ": CLASSIFIER}, "'  '.name", ("non-empty string",)),
    ("non-string name", {3: CLASSIFIER}, "3.name", ("non-empty string",)),
]


@pytest.mark.parametrize(
    ("space", "where", "fragments"),
    [case[1:] for case in VALIDATION_CASES],
    ids=[case[0] for case in VALIDATION_CASES],
)
def test_validation_message(space: dict[str, Any], where: str, fragments: tuple[str, ...]) -> None:
    err = errors(space)
    lines = str(err).splitlines()
    assert len(lines) == len(err.problems)
    matching = [line for line in lines if line.startswith(f"{where}: ")]
    assert matching, f"no line for {where!r} in:\n{err}"
    assert any(all(f in line for f in fragments) for line in matching), str(err)
    param, _, field = where.partition(".")
    assert any(p.param == param and p.field == (field or None) for p in err.problems)


@pytest.mark.parametrize("data", [[], None, "x: 1", 3, [("x", 1)]])
def test_top_level_must_be_a_mapping(data: Any) -> None:
    err = errors(data)
    assert err.problems == [
        Problem(None, None, f"search space must be a mapping of name -> spec, got {data!r}")
    ]


def test_all_problems_are_collected_across_params() -> None:
    err = errors(
        {
            "a": float_spec(low=2, high=1),
            "b": {"type": "int", "low": 0.5, "high": "x", "stpe": 2},
            "c": {"type": "categorical", "choices": []},
            "d": "nope",
            "e": float_spec(condition={"missing": [1]}),
            "ok": CLASSIFIER,
        }
    )
    lines = str(err).splitlines()
    assert len(lines) == len(err.problems) == 7
    prefixes = {line.split(":")[0] for line in lines}
    assert prefixes == {"a.high", "b.low", "b.high", "b.stpe", "c.choices", "d", "e.condition"}


def test_condition_of_an_invalid_param_is_still_checked_but_its_children_not_blamed() -> None:
    err = errors(
        {
            "classifier": {**CLASSIFIER, "condition": {"nope": ["a"]}, "typo": 1},
            "x": float_spec(condition={"classifier": ["SVC"]}),
        }
    )
    assert [str(p).split(":")[0] for p in err.problems] == [
        "classifier.typo",
        "classifier.condition",
    ]
    assert "unknown parent 'nope'" in str(err)


def test_duplicate_names_via_constructor() -> None:
    with pytest.raises(SearchSpaceError) as info:
        SearchSpace([FloatParam("x", 0, 1), IntParam("n", 1, 2), IntParam("x", 1, 5)])
    assert str(info.value) == (
        "x.name: is defined more than once (names must be unique; rename or remove one)"
    )


def test_constructor_rejects_non_params() -> None:
    with pytest.raises(SearchSpaceError, match=r"item 0 is 'x', not a parameter \(use Search"):
        SearchSpace({"x": CLASSIFIER})  # type: ignore[arg-type]
    with pytest.raises(SearchSpaceError, match="iterable of parameters"):
        SearchSpace(3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("make", "line"),
    [
        (lambda: FloatParam("lr", 0, 1, log=True), "lr.low: must be > 0 when log=True"),
        (lambda: FloatParam("x", 2, 1), "x.high: must be greater than low"),
        (lambda: IntParam("n", 1, 2.5), "n.high: must be an integer, got 2.5"),
        (lambda: IntParam("n", 1, 10, step=0), "n.step: must be > 0"),
        (lambda: CategoricalParam("c", ()), "c.choices: must not be empty"),
        (lambda: CategoricalParam("c", "ab"), "c.choices: must be a list of choices"),
        (lambda: FloatParam("", 0, 1), "''.name: must be a non-empty string"),
        (lambda: FloatParam("x", 0, 1, condition="c"), "x.condition: must be a Condition"),
        (lambda: Condition("", ("a",)), "condition: parent must be a parameter name"),
        (lambda: Condition("c", ()), "condition: must not be empty"),
        (lambda: Condition("c", ("a", "a")), "condition: 'a' is listed more than once"),
    ],
)
def test_constructors_validate(make: Any, line: str) -> None:
    with pytest.raises(SearchSpaceError) as info:
        make()
    assert any(str(p).startswith(line) for p in info.value.problems), str(info.value)


def test_constructors_normalise() -> None:
    f = FloatParam("x", 1, 10, step=3)
    assert (type(f.low), type(f.high), type(f.step)) == (float, float, float)
    i = IntParam("n", 2.0, 10.0, step=None)  # type: ignore[arg-type]
    assert (i.low, i.high, i.step) == (2, 10, 1)
    assert type(i.low) is int
    assert CategoricalParam("c", ["a", None]).choices == ("a", None)  # type: ignore[arg-type]
    assert Condition("c", ["a"]) == Condition("c", ("a",))  # type: ignore[arg-type]


def test_params_and_space_are_frozen_and_hashable() -> None:
    space = SearchSpace.from_dict(EXAMPLE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        space.params = ()  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        space["svc_c"].low = 3  # type: ignore[misc]
    assert hash(space) == hash(SearchSpace.from_dict(EXAMPLE))


def test_error_is_a_value_error_and_pickles() -> None:
    err = errors({"x": float_spec(low=3, high=1), "y": {"type": "nope"}})
    assert isinstance(err, ValueError)
    back = pickle.loads(pickle.dumps(err))
    assert back.problems == err.problems
    assert str(back) == str(err)


@pytest.mark.parametrize("text", ["{", '{"x": }', "[1, 2", "", "{'x': 1}", b"\xff"])
def test_malformed_json(text: str) -> None:
    with pytest.raises(SearchSpaceError, match="invalid JSON: ") as info:
        SearchSpace.from_json(text)
    assert len(info.value.problems) == 1


@pytest.mark.parametrize("text", ["a: [", "x: {type: float", "a: b: c", "x: 2020-99-99", "\t- x"])
def test_malformed_yaml(text: str) -> None:
    with pytest.raises(SearchSpaceError, match="invalid YAML: "):
        SearchSpace.from_yaml(text)


def test_empty_yaml_document_and_wrong_top_level() -> None:
    with pytest.raises(SearchSpaceError, match="YAML document is empty"):
        SearchSpace.from_yaml("# nothing\n")
    with pytest.raises(SearchSpaceError, match="must be a mapping of name -> spec"):
        SearchSpace.from_yaml("- a\n- b\n")
    with pytest.raises(SearchSpaceError, match=r"x\.hgih: unknown field"):
        SearchSpace.from_yaml("x: {type: float, low: 0, hgih: 1}")


# --- round trips ---------------------------------------------------------------------------


def test_example_round_trips_exactly() -> None:
    space = SearchSpace.from_dict(EXAMPLE)
    assert space.to_dict() == EXAMPLE
    assert list(space.to_dict()) == list(EXAMPLE)
    assert SearchSpace.from_dict(space.to_dict()) == space
    assert SearchSpace.from_json(space.to_json()) == space
    assert SearchSpace.from_yaml(space.to_yaml()) == space
    assert json.loads(space.to_json()) == EXAMPLE
    assert yaml.safe_load(space.to_yaml()) == EXAMPLE


def test_to_dict_omits_defaults_and_normalises() -> None:
    data = {
        "x": {"type": "float", "low": 0, "high": 1, "log": False, "step": None, "condition": None},
        "n": {"type": "int", "low": 1.0, "high": 10, "step": 1, "log": False},
        "m": {"type": "int", "low": 1, "high": 10, "step": None},
        "c": {"type": "categorical", "choices": ("a", "b"), "condition": None},
    }
    out = SearchSpace.from_dict(data).to_dict()
    assert out == {
        "x": {"type": "float", "low": 0.0, "high": 1.0},
        "n": {"type": "int", "low": 1, "high": 10},
        "m": {"type": "int", "low": 1, "high": 10},
        "c": {"type": "categorical", "choices": ["a", "b"]},
    }
    assert type(out["x"]["low"]) is float
    assert type(out["n"]["low"]) is int


def test_round_trip_with_none_bool_numeric_and_tricky_string_choices() -> None:
    tricky = ["yes", "no", "null", "~", "1.0", "0x1F", "", "true", "a: b", "- x", "#c", "é"]
    data = {
        "c": {"type": "categorical", "choices": [None, True, False, 3, 2.5, -1.5, *tricky]},
        "d": {"type": "categorical", "choices": [1, "1"], "condition": {"c": [None, True, "~"]}},
        "f": {"type": "float", "low": -1.5, "high": 2.5, "step": 0.5},
        "g": {"type": "float", "low": 5e-324, "high": 1.7976931348623157e308, "log": True},
        "i": {"type": "int", "low": -(2**53), "high": 2**53, "step": 2**52},
    }
    space = SearchSpace.from_dict(data)
    assert space.to_dict() == data
    for text in (space.to_json(), space.to_yaml()):
        again = SearchSpace.from_json(text) if text.startswith("{") else SearchSpace.from_yaml(text)
        assert again == space
        assert again.to_dict() == data
        choices = again["c"].choices  # type: ignore[union-attr]
        assert [type(c) for c in choices] == [type(c) for c in data["c"]["choices"]]


# --- generated spaces --------------------------------------------------------------------

names = st.text(min_size=1, max_size=12).filter(lambda s: bool(s.strip()))
choice_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)


@st.composite
def float_params(draw: st.DrawFn, name: str) -> FloatParam:
    kind = draw(st.sampled_from(["plain", "log", "step"]))
    if kind == "step":  # decimal-friendly values, so that the range is a whole number of steps
        low_i, step_i = draw(st.integers(-(10**8), 10**8)), draw(st.integers(1, 10**6))
        k = draw(st.integers(1, 1000))
        low, step = Decimal(low_i).scaleb(-2), Decimal(step_i).scaleb(-2)
        return FloatParam(name, float(low), float(low + k * step), step=float(step))
    if kind == "log":
        finite = st.floats(min_value=5e-324, max_value=1.7976931348623157e308)
    else:
        finite = st.floats(allow_nan=False, allow_infinity=False)
    low, high = sorted([draw(finite), draw(finite)])
    assume(low < high and math.isfinite(high - low))
    return FloatParam(name, low, high, log=kind == "log")


@st.composite
def int_params(draw: st.DrawFn, name: str) -> IntParam:
    if draw(st.booleans()):
        low = draw(st.integers(1, 2**40))
        return IntParam(name, low, low + draw(st.integers(1, 2**40)), log=True)
    low, step = draw(st.integers(-(2**50), 2**50)), draw(st.integers(1, 2**20))
    return IntParam(name, low, low + step * draw(st.integers(1, 2**10)), step=step)


@st.composite
def spaces(draw: st.DrawFn, max_params: int = 6) -> tuple[SearchSpace, list[Any]]:
    """A valid space and the (shuffled) user order it was built from."""
    param_names = draw(st.lists(names, min_size=0, max_size=max_params, unique=True))
    params: list[Any] = []
    for name in param_names:
        parents = [p for p in params if isinstance(p, CategoricalParam)]
        condition = None
        if parents and draw(st.booleans()):
            parent = draw(st.sampled_from(parents))
            values = draw(st.lists(st.sampled_from(parent.choices), min_size=1, unique=True))
            condition = Condition(parent.name, tuple(values))
        kind = draw(st.sampled_from(["float", "int", "categorical"]))
        if kind == "categorical":
            choices = draw(st.lists(choice_values, min_size=1, max_size=5, unique=True))
            param: Any = CategoricalParam(name, tuple(choices))
        elif kind == "float":
            param = draw(float_params(name))
        else:
            param = draw(int_params(name))
        params.append(dataclasses.replace(param, condition=condition))
    order = draw(st.permutations(params))
    return SearchSpace(order), list(order)


def strip_conditions(space: SearchSpace) -> SearchSpace:
    return SearchSpace(dataclasses.replace(p, condition=None) for p in space)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spaces())
def test_generated_spaces_round_trip(generated: tuple[SearchSpace, list[Any]]) -> None:
    space, user_order = generated
    data = space.to_dict()
    assert SearchSpace.from_dict(data) == space
    assert SearchSpace.from_dict(data).to_dict() == data
    assert SearchSpace.from_json(space.to_json()) == space
    assert SearchSpace.from_yaml(space.to_yaml()) == space
    assert SearchSpace.from_distributions(space.distributions()) == strip_conditions(space)
    # Topological: a parent always comes before its children ...
    position = {name: i for i, name in enumerate(space.names)}
    for p in space:
        if p.condition is not None:
            assert position[p.condition.parent] < position[p.name]
    # ... while unconditional parameters keep the user's order.
    roots = [p.name for p in user_order if p.condition is None]
    assert [p.name for p in space if p.condition is None] == roots
    assert sorted(space.names) == sorted(p.name for p in user_order)


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-(10**500), 10**500),
    st.floats(),
    st.text(max_size=10),
    st.sampled_from(["float", "int", "categorical", "low", "high", "choices", "condition"]),
)
json_like = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=8), st.integers()), children, max_size=4),
        st.dictionaries(
            st.sampled_from(["type", "low", "high", "log", "step", "choices", "condition"]),
            children,
            max_size=5,
        ),
    ),
    max_leaves=20,
)


def check_outcome(data: Any) -> None:
    """from_dict gives a space that round-trips, or a SearchSpaceError that explains itself."""
    try:
        space = SearchSpace.from_dict(data)
    except SearchSpaceError as err:
        assert err.problems
        assert all(isinstance(p, Problem) and p.message for p in err.problems)
        assert len(str(err).splitlines()) >= len(err.problems)
    else:
        assert SearchSpace.from_dict(space.to_dict()) == space
        assert SearchSpace.from_json(space.to_json()) == space


@settings(max_examples=300, deadline=None)
@given(json_like)
def test_fuzz_from_dict_arbitrary_data(data: Any) -> None:
    check_outcome(data)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(names, json_like, max_size=4))
def test_fuzz_from_dict_arbitrary_specs(data: Any) -> None:
    check_outcome(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spaces(max_params=4), st.data())
def test_fuzz_from_dict_mutated_valid_specs(generated: Any, data: st.DataObject) -> None:
    spec = generated[0].to_dict()
    assume(spec)
    for _ in range(data.draw(st.integers(1, 3))):
        name = data.draw(st.sampled_from(sorted(spec)))
        entry = spec[name]
        action = data.draw(st.sampled_from(["delete", "set", "add", "retype", "condition"]))
        key = data.draw(st.sampled_from([*sorted(entry), "type", "low", "step", "log"]))
        if action == "delete":
            entry.pop(key, None)
        elif action == "set":
            entry[key] = data.draw(json_like)
        elif action == "add":
            entry[data.draw(st.text(max_size=6))] = data.draw(json_like)
        elif action == "retype":
            entry["type"] = data.draw(st.sampled_from(["float", "int", "categorical", "Float"]))
        else:
            parent = data.draw(st.sampled_from(sorted(spec)))
            entry["condition"] = {parent: data.draw(st.lists(json_scalars, max_size=2))}
    check_outcome(spec)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_fuzz_text_parsers(text: str) -> None:
    for parse in (SearchSpace.from_json, SearchSpace.from_yaml):
        try:
            parse(text)
        except SearchSpaceError as err:
            assert err.problems


# --- sampling with Optuna ----------------------------------------------------------------


def run_study(space: SearchSpace, n_trials: int = 50) -> tuple[optuna.Study, list[dict]]:
    suggested: list[dict[str, Any]] = []

    def objective(trial: optuna.Trial) -> float:
        params = space.suggest(trial)
        suggested.append(params)
        return 0.0

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=n_trials)
    return study, suggested


def test_suggest_respects_conditions_and_distributions() -> None:
    space = SearchSpace.from_dict(NESTED)
    study, suggested = run_study(space)
    distributions = space.distributions()
    seen: set[str] = set()
    for trial, params in zip(study.trials, suggested, strict=True):
        assert trial.params == params
        assert list(params) == space.active_names(params)
        assert {"classifier", "use_reg", "lr"} <= set(params)
        assert ("kernel" in params) == (params["classifier"] == "SVC")
        assert ("n_estimators" in params) == (params["classifier"] == "RandomForest")
        assert ("degree" in params) == (params.get("kernel") == "poly")
        assert ("alpha" in params) == (params["use_reg"] is True)
        for name, dist in trial.distributions.items():
            assert dist == distributions[name]
        assert params.get("n_estimators", 10) % 10 == 0
        assert params.get("alpha", 0.0) in (0.0, 0.25, 0.5, 0.75, 1.0)
        assert 1e-4 <= params["lr"] <= 1.0
        seen |= set(params)
    assert seen == set(space.names)  # 50 random trials reach every branch, even the nested one


def test_example_suggest_matches_recorded_distributions() -> None:
    space = SearchSpace.from_dict(EXAMPLE)
    study, _ = run_study(space, n_trials=20)
    for trial in study.trials:
        assert set(trial.params) == set(space.active_names(trial.params))
        assert len(trial.params) == 2
        assert trial.distributions == {n: space.distributions()[n] for n in trial.params}


def test_active_names() -> None:
    space = SearchSpace.from_dict(NESTED)
    assert space.active_names({}) == ["classifier", "use_reg", "lr"]
    assert space.active_names({"classifier": "SVC", "kernel": "poly", "use_reg": 1}) == [
        "classifier",
        "kernel",
        "degree",
        "use_reg",
        "lr",
    ]
    # kernel is inactive under RandomForest, so its stale value must not activate degree.
    assert "degree" not in space.active_names({"classifier": "RandomForest", "kernel": "poly"})
    assert "alpha" in space.active_names({"use_reg": True})
    assert "alpha" not in space.active_names({"use_reg": None})


def test_distributions_are_optuna_objects() -> None:
    dists = SearchSpace.from_dict(NESTED).distributions()
    assert dists["classifier"] == CategoricalDistribution(("SVC", "RandomForest"))
    assert dists["n_estimators"] == IntDistribution(10, 100, step=10)
    assert dists["alpha"] == FloatDistribution(0.0, 1.0, step=0.25)
    assert dists["lr"] == FloatDistribution(1e-4, 1.0, log=True)


def test_from_distributions_of_define_by_run_trials() -> None:
    def objective(trial: optuna.Trial) -> float:
        trial.suggest_float("lr", 1e-5, 1e-1, log=True)
        trial.suggest_int("layers", 1, 9, step=2)
        trial.suggest_float("dropout", 0.0, 0.5, step=0.1)
        trial.suggest_categorical("act", ["relu", None, True])
        return 0.0

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=3)
    space = SearchSpace.from_distributions(study.trials[-1].distributions)
    assert space == SearchSpace(
        [
            FloatParam("lr", 1e-5, 1e-1, log=True),
            IntParam("layers", 1, 9, step=2),
            FloatParam("dropout", 0.0, 0.5, step=0.1),
            CategoricalParam("act", ("relu", None, True)),
        ]
    )
    assert space.distributions() == study.trials[-1].distributions


def test_from_distributions_rejects_what_it_cannot_represent() -> None:
    with pytest.raises(SearchSpaceError) as info:
        SearchSpace.from_distributions(
            {"fixed": IntDistribution(3, 3), "odd": object(), "ok": IntDistribution(1, 2)}  # type: ignore[dict-item]
        )
    assert [str(p).split(":")[0] for p in info.value.problems] == ["fixed.high", "odd.type"]


# --- ordering and convenience API ----------------------------------------------------------


def test_topological_order_keeps_user_order_otherwise() -> None:
    space = SearchSpace(
        [
            FloatParam("child", 0, 1, condition=Condition("parent", ("a",))),
            IntParam("grandchild", 1, 3, condition=Condition("child_cat", ("x",))),
            CategoricalParam("child_cat", ("x", "y"), condition=Condition("parent", ("b",))),
            FloatParam("first", 0, 1),
            CategoricalParam("parent", ("a", "b")),
            FloatParam("last", 0, 1),
        ]
    )
    assert space.names == ["first", "parent", "child", "child_cat", "grandchild", "last"]
    spec = space.to_dict()
    assert list(spec) == space.names
    assert SearchSpace.from_dict(dict(reversed(spec.items()))).names == [
        "last",
        "parent",
        "child_cat",
        "grandchild",
        "child",
        "first",
    ]


def test_container_api() -> None:
    space = SearchSpace.from_dict(EXAMPLE)
    assert len(space) == 3
    assert [p.name for p in space] == space.names == ["classifier", "svc_c", "rf_max_depth"]
    assert space["svc_c"] == FloatParam(
        "svc_c", 1e-10, 1e10, True, None, Condition("classifier", ("SVC",))
    )
    assert "svc_c" in space
    assert "nope" not in space
    with pytest.raises(KeyError, match="no parameter 'nope'"):
        space["nope"]
    empty = SearchSpace.empty()
    assert len(empty) == 0
    assert empty == SearchSpace() == SearchSpace.from_dict({}) == SearchSpace.from_yaml("{}")
    assert empty.to_dict() == {}
    assert empty.suggest(optuna.create_study().ask()) == {}


def test_with_param_and_without() -> None:
    space = SearchSpace.from_dict(EXAMPLE)
    replaced = space.with_param(
        FloatParam("svc_c", 0.1, 10, condition=Condition("classifier", ("SVC",)))
    )
    assert replaced.names == space.names
    assert replaced["svc_c"].low == 0.1  # type: ignore[union-attr]
    assert space["svc_c"].low == 1e-10  # type: ignore[union-attr]  # the original is untouched
    added = space.with_param(IntParam("seed", 0, 10))
    assert added.names == [*space.names, "seed"]
    assert added.without("seed") == space
    assert space.without("svc_c").names == ["classifier", "rf_max_depth"]
    with pytest.raises(
        SearchSpaceError, match=r"rf_max_depth\.condition: unknown parent 'classifier'"
    ):
        space.without("svc_c").without("classifier")
    with pytest.raises(KeyError):
        space.without("nope")
    with pytest.raises(SearchSpaceError, match=r"svc_c\.condition: 'SVM' is not a choice"):
        space.with_param(FloatParam("svc_c", 0.1, 10, condition=Condition("classifier", ("SVM",))))


def test_numpy_scalars_become_builtin_types_so_specs_serialise() -> None:
    np = pytest.importorskip("numpy")
    space = SearchSpace(
        [
            CategoricalParam("c", (np.str_("a"), np.float64(0.5), np.int64(3))),
            IntParam("n", np.int64(1), np.int64(5)),
            FloatParam("x", np.float32(0.5), np.float64(2.0), condition=Condition("c", ("a",))),
        ]
    )
    assert [type(c) for c in space["c"].choices] == [str, float, int]  # type: ignore[union-attr]
    assert type(space["n"].low) is int  # type: ignore[union-attr]
    assert SearchSpace.from_yaml(space.to_yaml()) == space
    assert SearchSpace.from_json(space.to_json()) == space


def test_int_choices_beyond_2_53_are_rejected() -> None:
    err = errors({"c": {"type": "categorical", "choices": [2**60, 10**5000]}})
    assert [str(p) for p in err.problems] == [
        f"c.choices: item {i} is beyond ±2**53, which JSON readers round (use a string)"
        for i in (0, 1)
    ]


def test_yaml_round_trips_characters_pyyaml_mangles_in_unicode_mode() -> None:
    space = SearchSpace([CategoricalParam("0\x85", ("x\x85", "é"))])
    assert SearchSpace.from_yaml(space.to_yaml()) == space
    assert "é" in SearchSpace([CategoricalParam("c", ("é",))]).to_yaml()  # readable otherwise
