"""gradcheck: agreement for correct ops, and a useful report for wrong ones."""

from typing import Any

import numpy as np
import pytest

import tinygrad_lr.functional as F
from tinygrad_lr import DTypeError, GradcheckError, Tensor, gradcheck
from tinygrad_lr.function import OPS, Context, Function


class HalfSquare(Function):
    """a², with the backward missing its factor 2. Deliberately not registered."""

    name = "half_square"

    @staticmethod
    def forward(ctx: Context, a: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a)
        return a * a

    @staticmethod
    def backward(ctx: Context, grad_output: np.ndarray) -> np.ndarray:
        (a,) = ctx.saved_tensors
        return grad_output * a


class SwappedMul(Function):
    """a * b whose backward returns the two gradients in the wrong order."""

    name = "swapped_mul"

    @staticmethod
    def forward(ctx: Context, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx: Context, grad_output: np.ndarray) -> tuple[Any, Any]:
        a, b = ctx.saved_tensors
        return grad_output * a, grad_output * b


def _failure_message(fn: Any, inputs: list[Any], **kwargs: Any) -> str:
    """The message of the GradcheckError that ``gradcheck`` must raise."""
    with pytest.raises(GradcheckError) as caught:
        gradcheck(fn, inputs, **kwargs)
    return str(caught.value)


def test_the_wrong_ops_of_this_module_are_not_registered() -> None:
    assert "half_square" not in OPS
    assert "swapped_mul" not in OPS
    assert not hasattr(Tensor, "half_square")


# ---------------------------------------------------------------- correct ops


@pytest.mark.parametrize(
    ("fn", "shapes"),
    [
        (lambda x: (x * x).sum(), [(3,)]),
        (lambda a, b: a @ b, [(3, 2), (2, 4)]),
        (lambda a, b: (a / b).mean(axis=0), [(2, 3), (3,)]),
        (lambda x: x.sigmoid().log() + x.tanh(), [(2, 2)]),
        (lambda x: x.T.reshape(6) ** 3, [(2, 3)]),
    ],
)
def test_correct_ops_pass(fn: Any, shapes: list[tuple[int, ...]], rng: Any) -> None:
    inputs = [rng.uniform(0.5, 2.0, shape) for shape in shapes]

    assert gradcheck(fn, inputs) is True


def test_the_one_neuron_loss_passes(rng: np.random.Generator) -> None:
    X = rng.standard_normal((6, 2))
    y = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 0.0])

    def loss(w: Tensor, b: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(Tensor(X) @ w + b, Tensor(y))

    assert gradcheck(loss, [rng.standard_normal(2), np.array(0.3)])


def test_random_mode_passes_for_a_correct_gradient_of_a_large_input(
    rng: np.random.Generator,
) -> None:
    x = rng.standard_normal((40, 50))

    assert gradcheck(lambda t: (t.tanh() * t).sum(), [x], mode="random")


def test_non_contiguous_inputs_are_checked_and_left_unchanged() -> None:
    wide = np.arange(1.0, 25.0).reshape(4, 6)
    strided = wide[:, ::2]
    transposed = np.arange(1.0, 13.0).reshape(3, 4).T
    before = (strided.copy(), transposed.copy())

    assert not strided.flags.c_contiguous and not transposed.flags.c_contiguous
    assert gradcheck(lambda a, b: (a * b).log().sum(), [strided, transposed])
    np.testing.assert_array_equal(strided, before[0])
    np.testing.assert_array_equal(transposed, before[1])


def test_a_wrong_op_on_a_non_contiguous_input_is_caught() -> None:
    x = np.arange(1.0, 13.0).reshape(3, 4).T

    with pytest.raises(GradcheckError, match="half_square"):
        gradcheck(lambda t: HalfSquare.apply(t).sum(), [x])


# ---------------------------------------------------------------- wrong ops


def test_a_wrong_backward_is_reported_with_input_element_values_and_op() -> None:
    x = np.array([1.0, -2.0, 3.0])

    message = _failure_message(lambda t: HalfSquare.apply(t).sum(), [x])

    # d/dx Σx² is 2x = [2, -4, 6]; the op returns x = [1, -2, 3]. Worst first.
    assert "input 0, shape (3,)" in message
    rows = [line.split() for line in message.split("\n") if line.startswith("    (")]
    assert rows[0] == ["(2,)", "3", "6", "5.00e-01"]
    assert rows[1] == ["(1,)", "-2", "-4", "5.00e-01"]
    assert rows[2] == ["(0,)", "1", "2", "5.00e-01"]
    assert "the first op whose backward disagrees" in message
    assert "is half_square" in message


def test_the_message_names_the_op_that_produced_the_output() -> None:
    with pytest.raises(GradcheckError, match="the output of half_square disagrees"):
        gradcheck(lambda t: HalfSquare.apply(t), [np.array([1.0, 2.0])])


def test_the_wrong_op_is_found_in_the_middle_of_a_graph() -> None:
    x = np.array([0.1, 0.5, -0.3])

    message = _failure_message(lambda t: HalfSquare.apply(t.exp()).tanh().sum(), [x])

    assert "is half_square (a wrong backward" in message
    assert "half_square (op 2 of 4): backward is wrong for input 0" in message
    assert "exp (op" not in message
    assert "tanh (op" not in message


def test_of_two_wrong_ops_the_first_in_forward_order_is_named() -> None:
    x = np.array([0.4, 0.7])

    def fn(t: Tensor) -> Tensor:
        return SwappedMul.apply(HalfSquare.apply(t), t + 1.0)

    message = _failure_message(fn, [x])

    assert "is half_square (a wrong backward" in message
    assert "swapped_mul (op 3 of 3): backward is wrong for input 0" in message


def test_random_mode_catches_a_wrong_gradient_and_names_the_op(
    rng: np.random.Generator,
) -> None:
    x = rng.uniform(0.5, 1.5, (30, 30))

    message = _failure_message(lambda t: HalfSquare.apply(t).sum(), [x], mode="random")

    assert "along a random direction of all 1 input(s)" in message
    assert "half_square (op 1 of 2): backward is wrong for input 0 along a random" in (
        message
    )


@pytest.fixture
def two_matrices(rng: np.random.Generator) -> list[np.ndarray]:
    """Two 20 × 20 inputs for the tests of the random mode."""
    return [rng.uniform(0.5, 1.5, (20, 20)) for _ in range(2)]


def test_random_mode_names_the_input_whose_gradient_is_wrong(
    two_matrices: list[np.ndarray],
) -> None:
    message = _failure_message(
        lambda s, t: SwappedMul.apply(s, t).sum(), two_matrices, mode="random"
    )

    assert "along a random direction of all 2 input(s)" in message
    assert "  input 0, shape (20, 20): analytic" in message
    assert "  input 1, shape (20, 20): analytic" in message


def test_random_mode_leaves_out_an_input_whose_gradient_is_right(
    two_matrices: list[np.ndarray],
) -> None:
    message = _failure_message(
        lambda s, t: HalfSquare.apply(s).sum() + t.sum(), two_matrices, mode="random"
    )

    assert "  input 0, shape (20, 20): analytic" in message
    assert "input 1" not in message


def test_ops_called_with_parameters_are_checked_on_their_own_too() -> None:
    message = _failure_message(
        lambda t: (HalfSquare.apply(t) ** 2).mean(), [np.array([1.0, 2.0])]
    )

    assert "checking each of the 3 op(s)" in message
    assert "the first op whose backward disagrees" in message
    assert "is half_square" in message
    assert "not checked" not in message


def test_a_kink_is_reported_with_the_hint_that_the_op_may_not_be_differentiable() -> (
    None
):
    with pytest.raises(GradcheckError, match=r"is relu .*not differentiable"):
        gradcheck(lambda t: t.relu() * 1.0, [np.array([0.0, 1.0])])


def test_locate_false_leaves_out_the_op_by_op_check() -> None:
    message = _failure_message(
        lambda t: HalfSquare.apply(t).sum(), [np.ones(2)], locate=False
    )

    assert "checking each" not in message
    assert "input 0, shape (2,)" in message


def test_without_raise_exception_a_mismatch_returns_false() -> None:
    ok = gradcheck(
        lambda t: HalfSquare.apply(t).sum(), [np.ones(2)], raise_exception=False
    )

    assert ok is False


# ---------------------------------------------------------------- bad arguments


def test_float32_input_raises_dtype_error() -> None:
    with pytest.raises(DTypeError, match="gradcheck: input 1 has dtype float32"):
        gradcheck(lambda a, b: a * b, [np.ones(2), np.ones(2, dtype=np.float32)])


def test_a_float32_tensor_input_raises_dtype_error_too() -> None:
    x = Tensor(np.ones(2, dtype=np.float32))

    with pytest.raises(DTypeError, match=r"need float64 \(convert with"):
        gradcheck(lambda t: t.sum(), [x])


def test_integer_input_raises_dtype_error() -> None:
    with pytest.raises(DTypeError, match="input 0 has dtype int64"):
        gradcheck(lambda t: t.sum(), [[1, 2]])


def test_an_unknown_mode_raises() -> None:
    with pytest.raises(ValueError, match="mode must be 'full' or 'random', got 'fast'"):
        gradcheck(lambda t: t.sum(), [np.ones(2)], mode="fast")


def test_when_every_op_is_right_the_message_points_at_fn_itself() -> None:
    # fn reads t.data behind the engine's back, so that factor is a constant to
    # backward but not to central differences: mul itself is fine.
    def fn(t: Tensor) -> Tensor:
        return (t * Tensor(t.data)).sum()

    message = _failure_message(fn, [np.array([1.0, 2.0])])

    assert "every op checked agrees with its own forward" in message
    assert "differentiable at this point" in message
    assert "the first op whose backward" not in message
