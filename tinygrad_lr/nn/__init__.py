"""Layers and models: Module, Parameter, Linear, the one-neuron LogisticRegression."""

from tinygrad_lr.nn.layers import Linear, ReLU, Sequential, Sigmoid, Tanh
from tinygrad_lr.nn.models import MLP, LogisticRegression
from tinygrad_lr.nn.module import Module, Parameter

__all__ = [
    "MLP",
    "Linear",
    "LogisticRegression",
    "Module",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Tanh",
]
