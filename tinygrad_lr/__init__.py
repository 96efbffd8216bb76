"""tinygrad_lr: a small, readable autograd engine on NumPy.

>>> from tinygrad_lr import Tensor
>>> w = Tensor([0.5, -1.0], requires_grad=True)
>>> loss = (w * w).sum()
>>> loss.backward()
>>> w.grad
array([ 1., -2.])
"""

import logging

from tinygrad_lr import (
    data,
    functional,
    graph,
    nn,
    ops,
    optim,
    reference,
    train,
)
from tinygrad_lr.gradcheck import GradcheckError, gradcheck
from tinygrad_lr.serialize import SerializationError, load, save
from tinygrad_lr.tensor import (
    DTypeError,
    GraphError,
    ShapeError,
    Tensor,
    detect_anomaly,
    is_grad_enabled,
    no_grad,
)

__version__ = "0.1.0"

__all__ = [
    "DTypeError",
    "GradcheckError",
    "GraphError",
    "SerializationError",
    "ShapeError",
    "Tensor",
    "data",
    "detect_anomaly",
    "functional",
    "gradcheck",
    "graph",
    "is_grad_enabled",
    "load",
    "nn",
    "no_grad",
    "ops",
    "optim",
    "reference",
    "save",
    "train",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
