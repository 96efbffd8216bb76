"""What tinygrad_lr cannot do yet, written as the test it would pass.

Each gap raises a clear error today (but ``==``, which compares identity) and is
listed in the README's "Limitations"; these tests are strict xfails, so the day one
of them passes the suite says so and the gap can be closed properly (code, README
and this file together).
"""

from __future__ import annotations

import numpy as np
import pytest

from tinygrad_lr import DTypeError, Tensor


@pytest.mark.xfail(
    raises=NotImplementedError, strict=True, reason="matmul is 1-D and 2-D only"
)
def test_batched_matmul_matches_numpy() -> None:
    a = Tensor(np.ones((4, 2, 3)), requires_grad=True)
    b = Tensor(np.ones((3, 5)), requires_grad=True)
    out = a @ b
    out.sum().backward()
    np.testing.assert_array_equal(out.data, np.ones((4, 2, 3)) @ np.ones((3, 5)))


@pytest.mark.xfail(
    raises=NotImplementedError, strict=True, reason="the exponent is a constant"
)
def test_tensor_exponent_is_differentiable() -> None:
    x = Tensor([2.0], requires_grad=True)
    p = Tensor([3.0], requires_grad=True)
    (x**p).sum().backward()
    assert p.grad is not None


@pytest.mark.xfail(raises=TypeError, strict=True, reason="indices are NumPy indices")
def test_indexing_with_a_tensor_of_indices_matches_numpy() -> None:
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    out = x[Tensor([2.0, 0.0])]
    np.testing.assert_array_equal(out.data, [3.0, 1.0])


@pytest.mark.xfail(raises=DTypeError, strict=True, reason="float32 and float64 only")
def test_float16_data_keeps_its_dtype() -> None:
    assert Tensor(np.ones(2, dtype=np.float16)).dtype == np.float16


@pytest.mark.xfail(raises=TypeError, strict=True, reason="comparisons are not ops")
def test_less_than_compares_element_by_element() -> None:
    result = Tensor([1.0, 2.0]) < 1.5
    np.testing.assert_array_equal(np.asarray(result), [True, False])


@pytest.mark.xfail(raises=AssertionError, strict=True, reason="== is identity")
def test_equality_compares_element_by_element() -> None:
    result = Tensor([1.0, 2.0]) == Tensor([1.0, 3.0])
    assert isinstance(result, Tensor)
    np.testing.assert_array_equal(result.data, [True, False])
