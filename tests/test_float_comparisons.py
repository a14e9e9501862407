"""The tests' float comparisons all carry an absolute tolerance (see tests/floats.py): a
scan of every test file's syntax tree, and the scan itself tried on snippets that break
each rule."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch

from floats import assert_close

TESTS = Path(__file__).resolve().parent
HELPER = TESTS / "floats.py"  # the one place that calls numpy's comparison itself
TOLERANT = {"allclose", "assert_allclose", "assert_close", "isclose"}
DIRECT = {"assert_allclose", "assert_close"}  # numpy's / torch's, not ours


def _name(func: ast.expr) -> str:
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _owner(func: ast.expr) -> str:
    """'testing' for np.testing.assert_allclose / torch.testing.assert_close, else ''."""
    return _name(func.value) if isinstance(func, ast.Attribute) else ""


def _zero(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value == 0


def _call_problem(call: ast.Call) -> str:
    name, kw = _name(call.func), {k.arg: k.value for k in call.keywords}
    if name in DIRECT and _owner(call.func) == "testing":
        return f"{name} called directly: use floats.assert_close"
    if name in TOLERANT and ("rtol" in kw or "rel_tol" in kw) and not {"atol", "abs_tol"} & kw.keys():
        return f"{name} with a relative tolerance and no absolute one"
    if name in TOLERANT and (_zero(kw.get("atol")) or _zero(kw.get("abs_tol"))):
        return f"{name} with an absolute tolerance of 0"
    if name == "approx" and "rel" in kw and "abs" not in kw:
        return "approx(rel=...) without abs="
    if name == "approx" and call.args and _zero(call.args[0]) and "abs" not in kw:
        return "approx(0) without abs=: its default abs is 1e-12"
    return ""


def _positive_allclose(node: ast.Assert) -> bool:
    """``assert x.allclose(...)``/``assert np.allclose(...)``: a bare boolean that says
    nothing on failure and takes numpy's atol 1e-8; ``assert not allclose`` is fine."""
    test = node.test
    parts = test.values if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And) else [test]
    return any(isinstance(p, ast.Call) and _name(p.func) in {"allclose", "isclose"} for p in parts)


def problems(source: str, where: str = "<snippet>") -> list[str]:
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and (why := _call_problem(node)):
            out.append(f"{where}:{node.lineno}: {why}")
        elif isinstance(node, ast.Assert) and _positive_allclose(node):
            out.append(f"{where}:{node.lineno}: assert allclose(...): use floats.assert_close")
    return out


def test_no_test_compares_floats_without_an_absolute_tolerance():
    found = [p for path in sorted(TESTS.rglob("*.py")) if path != HELPER
             for p in problems(path.read_text(encoding="utf-8"), str(path.relative_to(TESTS)))]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("snippet", [
    "np.testing.assert_allclose(a, b, atol=1e-5)",
    "torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)",
    "assert_close(a, b, r" + "tol=1e-6)",  # split: a grep for such calls must not find the bad examples
    "x = np.allclose(a, b, r" + "tol=1e-6)",
    "assert torch.allclose(a, b, atol=1e-5)",
    "assert n == 2 and np.allclose(a, b)",
    "ok = math.isclose(a, b, rel_tol=1e-9)",
    "assert_close(a, b, atol=0)",
    "assert x == pytest.approx(0.03, rel=1e-6)",
    "assert x == pytest.approx(0.0)",
])
def test_the_scan_catches(snippet):
    assert len(problems(snippet)) == 1


@pytest.mark.parametrize("snippet", [
    "assert_close(a, b)",
    "assert_close(a, b, atol=1e-4, rtol=1e-6)",
    "assert not torch.allclose(a, b)",
    "differ = [not np.allclose(a, m, atol=1e-4) for m in maps]",
    "assert x == pytest.approx(0.5)",
    "assert x == pytest.approx(0.0, abs=1e-6)",
    "assert x == pytest.approx(0.03, rel=1e-6, abs=1e-9)",
])
def test_the_scan_lets_pass(snippet):
    assert problems(snippet) == []


def test_the_helper_takes_tensors_and_keeps_an_absolute_floor():
    one_ulp_off = np.nextafter(np.float32(0.03), np.float32(1))  # what chunked float32 sums do
    assert_close(one_ulp_off, 0.03)
    assert_close(torch.tensor([1.0, 0.5], dtype=torch.bfloat16, requires_grad=True), [1.0, 0.5])
    assert_close(np.zeros(3), 0.0)
    with pytest.raises(AssertionError):
        assert_close([0.03, 0.0], [0.03, 1e-3])
    no_floor = 0.0  # a name, not a literal: the scan above would stop a literal 0 first
    with pytest.raises(ValueError, match="atol > 0"):
        assert_close(1.0, 1.0, atol=no_floor)
