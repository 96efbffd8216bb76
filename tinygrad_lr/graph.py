"""Look at a computation graph: an indented text tree, or Graphviz DOT source.

Every node shows what made it (the op, or ``leaf`` for a tensor that requires grad
and ``constant`` for one that does not), its shape, its dtype when it is not
float64, a summary of its values and, once ``backward`` has run, of its gradient.
A tensor used more than once is drawn once, tagged ``#k``, and referred to by its
tag afterwards. Both views walk the graph with an explicit stack, so graphs of any
depth work.

:func:`format_graph` and :func:`to_dot` return strings; :func:`show` is the one
function here that writes, and only to the stream it is given (standard output by
default), for interactive use.

>>> from tinygrad_lr import Tensor
>>> x = Tensor([1.0, 2.0], requires_grad=True, name="x")
>>> loss = (x * x).sum()
>>> print(format_graph(loss))
sum  ()  value 5
└── mul  (2,)  value [1, 4]
    ├── x (leaf) #1  (2,)  value [1, 2]
    └── #1 (x, shown above)
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from typing import IO, Any

import numpy as np

from tinygrad_lr.tensor import Tensor

__all__ = ["format_graph", "show", "summarize", "to_dot"]

Names = Mapping[str, Tensor] | Iterable[tuple[str, Tensor]] | None

TINY = 4
"""Tensors with at most this many elements show every value."""

BRANCH, LAST_BRANCH = "├── ", "└── "
# What the lines below a node start with, after the node's own connector.
CONTINUATION = {"": "", BRANCH: "│   ", LAST_BRANCH: "    "}


def format_graph(
    tensor: Tensor, *, names: Names = None, max_depth: int | None = 30
) -> str:
    """Return the graph that produced ``tensor`` as an indented text tree.

    ``tensor`` itself is the first line; each op's inputs are indented below it, in
    the order the op takes them. A tensor used more than once is drawn at its first
    use, tagged ``#k``, and referred to by the tag afterwards.

    Parameters
    ----------
    tensor : Tensor
        The output to start from, usually the loss.
    names : mapping of str to Tensor, or iterable of (str, Tensor), optional
        Labels for tensors, such as ``model.named_parameters()``; a tensor's own
        ``name`` is used otherwise.
    max_depth : int or None, default 30
        Inputs deeper than this are summarised in one line. None draws everything;
        the indentation of a chain of depth d is 4·d characters wide.

    Returns
    -------
    str
        One line per node, without a trailing newline.

    Examples
    --------
    >>> from tinygrad_lr import Tensor
    >>> w = Tensor([0.5, -1.0], requires_grad=True)
    >>> loss = (w * 3.0).sum()
    >>> loss.backward()
    >>> print(format_graph(loss, names={"w": w}))
    sum  ()  value -1.5  grad 1
    └── mul  (2,)  value [1.5, -3]  grad [1, 1]
        ├── w (leaf)  (2,)  value [0.5, -1]  grad [3, 3]
        └── constant  ()  value 3
    """
    _check_tensor(tensor, "format_graph")
    if max_depth is not None and (
        isinstance(max_depth, bool) or not isinstance(max_depth, int) or max_depth < 0
    ):
        raise ValueError(
            f"format_graph: max_depth must be an int >= 0 or None, got {max_depth!r}"
        )
    labels = _names(names, "format_graph")
    uses = _count_uses(tensor)

    tags: dict[int, int] = {}
    lines: list[str] = []
    # Pre-order walk: (tensor, prefix of its children's lines, its own connector,
    # depth). The children are pushed in reverse so they come off in input order.
    stack: list[tuple[Tensor, str, str, int]] = [(tensor, "", "", 0)]
    while stack:
        node, prefix, connector, depth = stack.pop()
        key = id(node)
        if key in tags:
            name = labels.get(key, node.name)
            seen = f"{name}, shown above" if name else "shown above"
            lines.append(f"{prefix}{connector}#{tags[key]} ({seen})")
            continue

        tag = ""
        if uses.get(key, 0) > 1:
            tags[key] = len(tags) + 1
            tag = f" #{tags[key]}"
        lines.append(f"{prefix}{connector}{_describe(node, labels, tag)}")

        parents = node.grad_fn.parents if node.grad_fn is not None else ()
        if not parents:
            continue
        child_prefix = prefix + CONTINUATION[connector]
        if max_depth is not None and depth >= max_depth:
            lines.append(
                f"{child_prefix}{LAST_BRANCH}… {len(parents)} input(s) deeper than"
                f" max_depth={max_depth}"
            )
            continue
        for index in reversed(range(len(parents))):
            last = index == len(parents) - 1
            stack.append(
                (
                    parents[index],
                    child_prefix,
                    LAST_BRANCH if last else BRANCH,
                    depth + 1,
                )
            )
    return "\n".join(lines)


def show(
    tensor: Tensor,
    file: IO[str] | None = None,
    *,
    names: Names = None,
    max_depth: int | None = 30,
) -> None:
    """Write :func:`format_graph` of ``tensor`` and a newline to ``file``.

    Parameters
    ----------
    tensor : Tensor
        The output to start from.
    file : text stream, optional
        Where to write; standard output when None.
    names, max_depth
        As for :func:`format_graph`.
    """
    text = format_graph(tensor, names=names, max_depth=max_depth)
    stream = sys.stdout if file is None else file
    stream.write(text + "\n")


def to_dot(tensor: Tensor, *, names: Names = None) -> str:
    """Return Graphviz DOT source of the graph that produced ``tensor``.

    One node per tensor (ops as ellipses, leaves as boxes, constants as dashed
    boxes) and one edge per input of each op, pointing from the input to the
    result. Render it with any Graphviz tool, for example
    ``dot -Tsvg graph.dot -o graph.svg``; nothing here needs Graphviz installed.

    Parameters
    ----------
    tensor : Tensor
        The output to start from.
    names : mapping of str to Tensor, or iterable of (str, Tensor), optional
        Labels for tensors, as for :func:`format_graph`.

    Returns
    -------
    str
        DOT source of a ``digraph``, ending with a newline.

    Examples
    --------
    >>> from tinygrad_lr import Tensor
    >>> x = Tensor([1.0, 2.0], requires_grad=True)
    >>> print(to_dot(x.exp().sum()))
    digraph tinygrad_lr {
      node [fontname="monospace"];
      n0 [label="sum\\n()\\nvalue 10.11", shape=ellipse];
      n1 [label="exp\\n(2,)\\nvalue [2.718, 7.389]", shape=ellipse];
      n2 [label="leaf\\n(2,)\\nvalue [1, 2]", shape=box];
      n1 -> n0;
      n2 -> n1;
    }
    <BLANKLINE>
    """
    _check_tensor(tensor, "to_dot")
    labels = _names(names, "to_dot")

    numbers: dict[int, int] = {id(tensor): 0}
    nodes: dict[int, str] = {}
    edges: list[str] = []
    stack = [tensor]
    while stack:
        node = stack.pop()
        number = numbers[id(node)]
        parts = _parts(node, labels)
        text = "\\n".join(_dot_escape(part) for part in parts)
        if node.grad_fn is not None:
            style = "shape=ellipse"
        elif node.requires_grad:
            style = "shape=box"
        else:
            style = "shape=box, style=dashed"
        nodes[number] = f'  n{number} [label="{text}", {style}];'

        parents = node.grad_fn.parents if node.grad_fn is not None else ()
        for parent in parents:
            if id(parent) not in numbers:
                numbers[id(parent)] = len(numbers)
                stack.append(parent)
            edges.append(f"  n{numbers[id(parent)]} -> n{number};")

    header = ["digraph tinygrad_lr {", '  node [fontname="monospace"];']
    body = [nodes[number] for number in sorted(nodes)]
    return "\n".join([*header, *body, *edges, "}"]) + "\n"


# ---------------------------------------------------------------- internals


def _check_tensor(tensor: Any, where: str) -> None:
    if not isinstance(tensor, Tensor):
        raise TypeError(
            f"{where}: tensor must be a Tensor, got {type(tensor).__name__}"
        )


def _names(names: Names, where: str) -> dict[int, str]:
    """Map id() of each named tensor to its label."""
    if names is None:
        return {}
    pairs = names.items() if isinstance(names, Mapping) else names
    labels = {}
    for name, tensor in pairs:
        if not isinstance(tensor, Tensor):
            raise TypeError(
                f"{where}: names must map labels to Tensors; {name!r} maps to"
                f" {type(tensor).__name__}"
            )
        labels[id(tensor)] = str(name)
    return labels


def _count_uses(tensor: Tensor) -> dict[int, int]:
    """How many times each tensor of the graph is an input of an op."""
    uses: dict[int, int] = {}
    stack = [tensor]
    while stack:
        node = stack.pop()
        if node.grad_fn is None:
            continue
        for parent in node.grad_fn.parents:
            key = id(parent)
            uses[key] = uses.get(key, 0) + 1
            if uses[key] == 1:
                stack.append(parent)
    return uses


def _kind(node: Tensor) -> str:
    if node.grad_fn is not None:
        return node.grad_fn.function.name
    return "leaf" if node.requires_grad else "constant"


def _parts(node: Tensor, labels: dict[int, str]) -> list[str]:
    """Label, shape, dtype when not float64, values and gradient of one node."""
    name = labels.get(id(node), node.name)
    kind = _kind(node)
    parts = [f"{name} ({kind})" if name else kind, str(node.shape)]
    if node.dtype != np.float64:
        parts.append(str(node.dtype))
    parts.append("value " + summarize(node.data))
    if node.grad is not None:
        parts.append("grad " + summarize(node.grad))
    return parts


def _describe(node: Tensor, labels: dict[int, str], tag: str) -> str:
    label, *rest = _parts(node, labels)
    return "  ".join([label + tag, *rest])


def summarize(values: np.ndarray) -> str:
    """A short text for an array: every value when tiny, else min, mean and max.

    >>> summarize(np.array([1.0, 2.5]))
    '[1, 2.5]'
    >>> summarize(np.arange(10.0))
    'min 0  mean 4.5  max 9'
    >>> summarize(np.array([np.nan, 1.0, 2.0, 3.0, 4.0]))
    'min 1  mean 2.5  max 4  (1 NaN)'
    """
    values = np.asarray(values)
    if values.size == 0:
        return "empty"
    if values.ndim == 0:
        return f"{values.item():.4g}"
    if values.size <= TINY:
        return "[" + ", ".join(f"{v:.4g}" for v in values.flat) + "]"

    nan = np.isnan(values)
    finite_or_inf = values[~nan]
    if finite_or_inf.size == 0:
        return f"all NaN ({values.size})"
    with np.errstate(all="ignore"):  # a mean of +inf and -inf is NaN, silently
        low, mean, high = (
            finite_or_inf.min(),
            finite_or_inf.mean(),
            finite_or_inf.max(),
        )
    text = f"min {low:.4g}  mean {mean:.4g}  max {high:.4g}"
    return text + (f"  ({int(nan.sum())} NaN)" if nan.any() else "")


def _dot_escape(text: str) -> str:
    """Escape a label for a double-quoted DOT string."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
