"""Objective for quadratic.yaml: takes the sampled parameters as a dict (params style)."""


def objective(params: dict) -> float:
    x, n, shape = params["x"], params["n"], params["shape"]
    value = (x - 2) ** 2 + (n - 3) ** 2
    if shape == "tilted":
        value += 0.5 * abs(x)
    return value
