"""Every user error of the library in one table: what was called, what it raises.

Each row is ``(callable, exception type, message pattern)``. A message must name
the function or op and the offending shape, dtype or value, so the pattern checks
for those. The number of rows is the number of error cases the library handles.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import tinygrad_lr.functional as F
from tinygrad_lr import DTypeError, GraphError, ShapeError, Tensor, data, nn, optim
from tinygrad_lr.function import Function, register
from tinygrad_lr.train import fit

bce = F.binary_cross_entropy_with_logits


def leaf(*shape: int) -> Tensor:
    return Tensor(np.ones(shape), requires_grad=True)


def model_lr() -> nn.LogisticRegression:
    return nn.LogisticRegression(3, rng=0)


def sgd(**kwargs: Any) -> Callable[[], Any]:
    return lambda: optim.SGD([leaf(2)], **{"lr": 0.1, **kwargs})


def adam(**kwargs: Any) -> Callable[[], Any]:
    return lambda: optim.Adam([leaf(2)], **kwargs)


def step_on_integer_data() -> None:
    w = leaf(2)
    optimizer = optim.SGD([w], lr=0.1)
    w.data, w.grad = np.array([1, 2]), np.array([0.5, 0.5])
    optimizer.step()


def flat_step_on_integer_data() -> None:
    params = [leaf(2) for _ in range(3)]  # three or more take the flat step
    for param in params:
        param.data = np.array([1, 2])
    optimizer = optim.SGD(params, lr=0.1)
    for param in params:
        param.grad = np.array([0.5, 0.5])
    optimizer.step()


def fit_lr(X: Any, y: Any, **kwargs: Any) -> Callable[[], Any]:
    def call() -> Any:
        model = nn.LogisticRegression(np.shape(X)[-1] or 1, rng=0)
        options = {"optimizer": optim.SGD(model.parameters(), lr=0.1), "epochs": 2}
        return fit(model, X, y, **{**options, **kwargs})

    return call


class DropsAGradient(Function):
    """An op whose backward forgets its second input's gradient."""

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a * b

    @staticmethod
    def backward(ctx: Any, grad_output: np.ndarray) -> tuple[Any, Any]:
        return grad_output, None


class ForgetsToUnbroadcast(Function):
    """a + b, whose backward does not sum b's gradient back to b's shape."""

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a + b

    @staticmethod
    def backward(ctx: Any, grad_output: np.ndarray) -> tuple[Any, Any]:
        return grad_output, grad_output


class RefusesNegatives(Function):
    """An op whose forward rejects some values with a ValueError of its own."""

    @staticmethod
    def forward(ctx: Any, a: np.ndarray) -> np.ndarray:
        if (a < 0).any():
            raise ValueError("the step size must not be negative")
        return np.sqrt(a)

    @staticmethod
    def backward(ctx: Any, grad_output: np.ndarray) -> Any:
        raise NotImplementedError


def backward_twice_on_nonscalar() -> None:
    (leaf(3) * 2.0).backward()


def empty_generator_of_params() -> None:
    params = (p for p in [leaf(2)])
    list(params)
    optim.SGD(params, lr=0.1)


X3 = np.ones((10, 3))
y10 = np.r_[np.zeros(5), np.ones(5)]
nan_X = X3.copy()
nan_X[2, 1] = np.nan
inf_X = X3.copy()
inf_X[4, 0] = np.inf

ERROR_CASES: list[tuple[str, Callable[[], Any], type[Exception], str]] = [
    # --- tensors and dtypes
    ("complex data", lambda: Tensor([1 + 2j]), DTypeError, r"complex128"),
    ("string data", lambda: Tensor(["spam"]), DTypeError, r"<U4"),
    ("object data", lambda: Tensor(np.array([1.0, None])), DTypeError, "object"),
    ("float16 data", lambda: Tensor(np.ones(2, np.float16)), DTypeError, "float16"),
    ("int dtype", lambda: Tensor([1.0], dtype=np.int64), DTypeError, "int64"),
    ("item of many", lambda: Tensor([1.0, 2.0]).item(), ValueError, r"shape is \(2,\)"),
    # --- shapes and broadcasting
    (
        "matmul inner",
        lambda: leaf(2, 3) @ leaf(4, 5),
        ShapeError,
        r"matmul: inner dimensions differ: \(2, 3\) @ \(4, 5\) \(3 != 4\)",
    ),
    (
        "matmul 3-D",
        lambda: leaf(2, 2, 2) @ leaf(2, 2),
        NotImplementedError,
        r"matmul: batched matmul of shapes \(2, 2, 2\) @ \(2, 2\)",
    ),
    ("matmul 0-d", lambda: leaf() @ leaf(2), ShapeError, r"matmul: .*\(\) @ \(2,\)"),
    (
        "add shapes",
        lambda: leaf(2, 3) + leaf(4, 5),
        ShapeError,
        r"add: shapes \(2, 3\) and \(4, 5\) cannot be broadcast",
    ),
    (
        "mul shapes",
        lambda: leaf(2) * leaf(3),
        ShapeError,
        r"mul: shapes \(2,\) and \(3,\)",
    ),
    (
        "sum axis",
        lambda: leaf(3).sum(axis=2),
        ShapeError,
        r"sum: axis 2 .* dimension 1",
    ),
    ("mean axis", lambda: leaf(2, 2).mean(axis=-3), ShapeError, r"mean: axis -3 .*2"),
    ("reshape size", lambda: leaf(2, 3).reshape(4), ShapeError, r"reshape: .*size 6"),
    ("mean empty", lambda: leaf(0).mean(), ValueError, r"mean: empty tensor of shape"),
    ("pow tensor", lambda: leaf(2) ** leaf(2), NotImplementedError, r"pow: a tensor"),
    ("pow string", lambda: leaf(2) ** "2", TypeError, r"pow: the exponent .* str"),
    ("rpow base", lambda: (-1.0) ** leaf(2), NotImplementedError, r"base > 0"),
    (
        "register twice",
        lambda: register("add")(type("Add2", (Function,), {})),
        ValueError,
        r"register: an op named 'add' exists already",
    ),
    ("index tensor", lambda: leaf(2)[leaf(1)], TypeError, r"getitem: index with"),
    # --- backward
    (
        "backward non-scalar",
        backward_twice_on_nonscalar,
        GraphError,
        r"backward: output has shape \(3,\); call .sum\(\)",
    ),
    (
        "backward grad shape",
        lambda: (leaf(2) * 2.0).backward(np.ones(3)),
        ShapeError,
        r"backward: grad shape \(3,\) does not match tensor shape \(2,\)",
    ),
    (
        "backward constant",
        lambda: Tensor(1.0).backward(),
        GraphError,
        "does not require grad",
    ),
    (
        "backward returns None",
        lambda: DropsAGradient.apply(leaf(2), leaf(2)).sum().backward(),
        GraphError,
        r"function.backward returned None for input 1, which requires grad",
    ),
    (
        "forward value error",
        lambda: RefusesNegatives.apply(Tensor([-1.0])),
        ValueError,
        r"^the step size must not be negative$",
    ),
    (
        "transpose axes",
        lambda: leaf(2, 3).transpose(0),
        ShapeError,
        r"transpose: axes \(0,\) do not match an array of shape \(2, 3\)",
    ),
    (
        "step integer data",
        step_on_integer_data,
        DTypeError,
        r"SGD.step: parameter 0 now has data of dtype int64; only float32 and",
    ),
    (
        "flat step integer data",
        flat_step_on_integer_data,
        DTypeError,
        r"SGD.step: parameter 0 now has data of dtype int64; only float32 and",
    ),
    (
        "backward wrong shape",
        lambda: ForgetsToUnbroadcast.apply(leaf(2, 3), leaf(3)).sum().backward(),
        ShapeError,
        r"function.backward returned a gradient of shape \(2, 3\) for input 1 of"
        r" shape \(3,\)",
    ),
    # --- the loss
    (
        "bce column logits",
        lambda: bce(np.zeros((4, 1)), np.zeros(4)),
        ShapeError,
        r"logits shape \(4, 1\) != targets shape \(4,\)",
    ),
    (
        "bce target 2",
        lambda: bce([0.0], [2.0]),
        ValueError,
        r"targets must be in \[0, 1\]",
    ),
    ("bce target -0.5", lambda: bce([0.0], [-0.5]), ValueError, r"-0\.5"),
    ("bce labels -1 1", lambda: bce([0.0, 1.0], [-1.0, 1.0]), ValueError, r"-1\.0"),
    ("bce nan logit", lambda: bce([np.nan], [1.0]), ValueError, "logits contain NaN"),
    ("bce inf logit", lambda: bce([np.inf], [1.0]), ValueError, "logits contain inf"),
    ("bce empty", lambda: bce(np.zeros(0), np.zeros(0)), ValueError, "empty batch"),
    ("bce reduction", lambda: bce([0.0], [0.0], "avg"), ValueError, "reduction"),
    # --- models
    (
        "predict features",
        lambda: model_lr().predict(np.ones((4, 2))),
        ValueError,
        r"LogisticRegression.predict: X has 2 features, but the model has 3",
    ),
    (
        "predict 1-D X",
        lambda: model_lr().predict(np.ones(3)),
        ValueError,
        r"expected 2-D X .* got shape \(3,\); use X.reshape\(-1, 1\)",
    ),
    (
        "predict NaN",
        lambda: model_lr().predict_proba(nan_X),
        ValueError,
        "X contains NaN",
    ),
    ("lr n_features", lambda: nn.LogisticRegression(0), ValueError, "n_features"),
    ("mlp sizes", lambda: nn.MLP([2]), ValueError, r"layer_sizes .* \[2\]"),
    ("mlp zero size", lambda: nn.MLP([2, 0, 1]), ValueError, "got 0"),
    ("mlp activation", lambda: nn.MLP([2, 1], "gelu"), ValueError, "'gelu'"),
    ("linear features", lambda: nn.Linear(2, -1), ValueError, "out_features"),
    ("sequential item", lambda: nn.Sequential(nn.Tanh(), 3), TypeError, "argument 1"),
    (
        "load_state_dict keys",
        lambda: model_lr().load_state_dict({"weight": np.ones(3)}),
        KeyError,
        r"missing keys \['bias'\]",
    ),
    (
        "load_state_dict shape",
        lambda: model_lr().load_state_dict(
            {"weight": np.ones(2), "bias": np.zeros(())}
        ),
        ShapeError,
        r"'weight' has shape \(2,\), expected \(3,\)",
    ),
    (
        "load_state_dict dtype",
        lambda: model_lr().load_state_dict(
            {"weight": np.ones(3, np.float32), "bias": np.zeros(())}
        ),
        DTypeError,
        "float32",
    ),
    ("rng type", lambda: nn.Linear(2, 2, rng="seed"), TypeError, "rng must be"),
    # --- optimizers
    (
        "sgd lr negative",
        sgd(lr=-0.1),
        ValueError,
        r"SGD: lr must be a finite number in \(0\.0, inf\), got -0\.1",
    ),
    ("sgd lr zero", sgd(lr=0.0), ValueError, r"SGD: lr .* got 0\.0"),
    ("sgd lr nan", sgd(lr=float("nan")), ValueError, r"SGD: lr .* nan"),
    ("sgd lr inf", sgd(lr=float("inf")), ValueError, r"SGD: lr .* inf"),
    ("sgd momentum", sgd(momentum=-0.5), ValueError, r"SGD: momentum .* -0\.5"),
    ("sgd decay", sgd(weight_decay=-1.0), ValueError, r"SGD: weight_decay .* -1\.0"),
    ("adam lr", adam(lr=0.0), ValueError, r"Adam: lr"),
    ("adam beta0", adam(betas=(1.0, 0.999)), ValueError, r"Adam: betas\[0\] .* 1\.0"),
    ("adam beta1", adam(betas=(0.9, -0.1)), ValueError, r"Adam: betas\[1\] .* -0\.1"),
    ("adam betas", adam(betas=(0.9,)), ValueError, r"Adam: betas must be a pair"),
    ("adam eps", adam(eps=-1e-8), ValueError, r"Adam: eps"),
    ("adam decay", adam(weight_decay=-0.1), ValueError, r"Adam: weight_decay"),
    (
        "sgd twice",
        lambda: optim.SGD([w := leaf(2), w], lr=0.1),
        ValueError,
        "parameters 0 and 1 are the same tensor",
    ),
    (
        "predict threshold",
        lambda: model_lr().predict(X3, threshold=1.0),
        ValueError,
        r"predict: threshold must be in \(0, 1\), got 1\.0",
    ),
    ("keyword typo", lambda: leaf(2).sum(keepdim=True), TypeError, "'keepdim'"),
    ("sgd empty", lambda: optim.SGD([], lr=0.1), ValueError, "empty parameter list"),
    ("sgd exhausted", empty_generator_of_params, ValueError, "empty parameter list"),
    ("sgd tensor", lambda: optim.SGD(leaf(2), lr=0.1), TypeError, "got Tensor"),
    ("sgd non-tensor", lambda: optim.SGD([1.0], lr=0.1), TypeError, "float"),
    (
        "sgd non-leaf",
        lambda: optim.SGD([leaf(2) * 2.0], lr=0.1),
        ValueError,
        "parameter 0 can't be optimized",
    ),
    (
        "sgd no grad",
        lambda: optim.SGD([Tensor([1.0])], lr=0.1),
        ValueError,
        "requires_grad=True",
    ),
    # --- fit
    (
        "fit 1-D X",
        fit_lr(np.ones(10), y10),
        ValueError,
        r"fit: expected 2-D X .*\(10,\)",
    ),
    ("fit 3-D X", fit_lr(np.ones((10, 3, 1)), y10), ValueError, "fit: expected 2-D X"),
    ("fit y 2-D", fit_lr(X3, np.ones((10, 2))), ValueError, r"fit: expected 1-D y"),
    ("fit y column", fit_lr(X3, y10[:, None]), ValueError, r"fit: expected 1-D y"),
    ("fit lengths", fit_lr(X3, y10[:9]), ValueError, "X has 10 samples but y has 9"),
    (
        "fit no rows",
        fit_lr(np.ones((0, 3)), np.ones(0)),
        ValueError,
        r"fit: X has 0 samples \(shape \(0, 3\)\); at least 1 required",
    ),
    (
        "fit 1-D X hint",
        fit_lr(np.ones(10), y10),
        ValueError,
        r"got shape \(10,\); use X.reshape\(-1, 1\)",
    ),
    (
        "fit complex X",
        fit_lr(X3 + 1j, y10),
        DTypeError,
        "fit: X has dtype complex128; complex data not supported",
    ),
    (
        "fit string X",
        fit_lr(np.full((10, 3), "a"), y10),
        DTypeError,
        "fit: X has dtype <U1; expected real numbers",
    ),
    (
        "fit object X",
        fit_lr(np.array([[{"foo": "bar"}]] * 10, dtype=object), y10),
        DTypeError,
        r"fit: cannot convert X of dtype object to float64 \(element \{'foo'",
    ),
    (
        "fit object strings",
        fit_lr(np.full((10, 3), "1.5", dtype=object), y10),
        DTypeError,
        r"fit: cannot convert X of dtype object to float64 \(element '1.5'\)",
    ),
    (
        "fit float16 X",
        fit_lr(X3.astype(np.float16), y10),
        DTypeError,
        "fit: X has dtype float16; convert it to float32 or float64",
    ),
    (
        "fit string y",
        fit_lr(X3, np.array(["spam", "ham"] * 5)),
        DTypeError,
        r"fit: y has dtype <U4; .*encode labels as 0 and 1, or use an estimator",
    ),
    (
        "fit complex y",
        fit_lr(X3, y10 + 0j),
        DTypeError,
        "fit: y has dtype complex128; complex data not supported",
    ),
    ("fit no features", fit_lr(np.ones((10, 0)), y10), ValueError, "0 features"),
    ("fit NaN X", fit_lr(nan_X, y10), ValueError, r"X contains NaN .*row 2, column 1"),
    ("fit inf X", fit_lr(inf_X, y10), ValueError, r"X contains infinity"),
    ("fit NaN y", fit_lr(X3, np.r_[y10[:9], np.nan]), ValueError, "y contains NaN"),
    ("fit labels", fit_lr(X3, y10 + 1), ValueError, r"targets must be in \[0, 1\]"),
    ("fit epochs", fit_lr(X3, y10, epochs=0), ValueError, r"fit: epochs .* 0"),
    ("fit batch 0", fit_lr(X3, y10, batch_size=0), ValueError, "batch_size"),
    ("fit batch big", fit_lr(X3, y10, batch_size=11), ValueError, r"batch_size .*11"),
    # --- data
    ("moons n_train", lambda: data.moons(n_train=0), ValueError, "n_train"),
    ("moons noise", lambda: data.moons(noise=-1.0), ValueError, "noise"),
]


@pytest.mark.parametrize(
    ("call", "error", "pattern"),
    [case[1:] for case in ERROR_CASES],
    ids=[case[0] for case in ERROR_CASES],
)
def test_error_case_raises_a_message_that_names_the_problem(
    call: Callable[[], Any], error: type[Exception], pattern: str
) -> None:
    with pytest.raises(error, match=pattern):
        call()


def test_error_case_ids_are_unique() -> None:
    names = [case[0] for case in ERROR_CASES]
    assert len(names) == len(set(names))
