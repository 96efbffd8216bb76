"""Module and Parameter: the containers that models are made of."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from tinygrad_lr.tensor import DTypeError, ShapeError, Tensor

__all__ = ["Module", "Parameter"]


class Parameter(Tensor):
    """A tensor that a Module owns and an optimizer updates.

    It always requires grad and holds its own copy of ``data``, so updating it never
    changes the array it was made from.
    """

    __slots__ = ()

    def __init__(self, data: Any, *, dtype: Any = None) -> None:
        super().__init__(np.array(data, dtype=dtype, copy=True), requires_grad=True)


class Module:
    """Base class of layers and models.

    Subclasses set Parameters and sub-Modules as attributes in ``__init__`` and
    define ``forward``; ``parameters()`` finds them in the order they were set.
    Lists and tuples of Modules are searched too.
    """

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """Yield ``(dotted name, parameter)`` pairs, in definition order.

        A parameter that appears twice (a layer used in two places) is yielded
        once, under its first name, so that an optimizer updates it once.
        """
        seen: set[int] = set()
        for name, parameter in self._all_parameters(prefix):
            if id(parameter) not in seen:
                seen.add(id(parameter))
                yield name, parameter

    def _all_parameters(self, prefix: str) -> Iterator[tuple[str, Parameter]]:
        for name, value in vars(self).items():
            if isinstance(value, Parameter):
                yield prefix + name, value
            elif isinstance(value, Module):
                yield from value._all_parameters(f"{prefix}{name}.")
            elif isinstance(value, (list, tuple)):
                for index, item in enumerate(value):
                    if isinstance(item, Module):
                        yield from item._all_parameters(f"{prefix}{name}.{index}.")

    def parameters(self) -> list[Parameter]:
        """Every Parameter of this module and its sub-modules, in definition order."""
        return [parameter for _, parameter in self.named_parameters()]

    def zero_grad(self) -> None:
        """Set the gradient of every parameter to None."""
        for parameter in self.parameters():
            parameter.grad = None

    def to(self, dtype: Any) -> Module:
        """Convert every parameter to ``dtype`` (float32 or float64) in place.

        Gradients are cleared, since they belong to the old values. Returns the
        module, so ``model = MLP([2, 8, 1]).to("float32")`` reads naturally.
        """
        target = np.dtype(dtype)
        if target != np.float32 and target != np.float64:
            raise DTypeError(
                f"{type(self).__name__}.to: dtype must be float32 or float64, got"
                f" {target}"
            )
        for parameter in self.parameters():
            parameter.data = parameter.data.astype(target)
            parameter.grad = None
        return self

    def state_dict(self) -> dict[str, np.ndarray]:
        """A copy of every parameter's data, keyed by dotted name."""
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Replace the parameters' data with the arrays in ``state``.

        Keys, shapes and dtypes must match :meth:`state_dict` exactly; nothing is
        changed unless everything matches.
        """
        where = f"{type(self).__name__}.load_state_dict"
        own = dict(self.named_parameters())
        missing = [key for key in own if key not in state]
        unexpected = [key for key in state if key not in own]
        if missing or unexpected:
            raise KeyError(
                f"{where}: missing keys {missing}, unexpected keys {unexpected}"
            )

        arrays = {}
        for key, parameter in own.items():
            value = np.asarray(state[key])
            if value.shape != parameter.shape:
                raise ShapeError(
                    f"{where}: {key!r} has shape {value.shape}, expected"
                    f" {parameter.shape}"
                )
            if value.dtype != parameter.dtype:
                raise DTypeError(
                    f"{where}: {key!r} has dtype {value.dtype}, expected"
                    f" {parameter.dtype}"
                )
            arrays[key] = value.copy()
        for key, parameter in own.items():
            parameter.data = arrays[key]

    def extra_repr(self) -> str:
        """The arguments shown in ``repr``; override in subclasses."""
        return ""

    def __repr__(self) -> str:
        children = [
            (name, value)
            for name, value in vars(self).items()
            if isinstance(value, Module)
        ]
        for value in vars(self).values():
            if isinstance(value, (list, tuple)):
                children += [
                    (f"({i})", v) for i, v in enumerate(value) if isinstance(v, Module)
                ]
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        head = f"{type(self).__name__}("
        if self.extra_repr():
            head += f"\n  {self.extra_repr()}"
        lines = [
            f"  {name}: {child!r}".replace("\n", "\n  ") for name, child in children
        ]
        return head + "\n" + "\n".join(lines) + "\n)"
