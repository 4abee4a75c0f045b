"""tinygrad_nn: a small autograd engine over scalars and numpy arrays.

>>> from tinygrad_nn import Value
>>> a, b = Value(2.0), Value(-3.0)
>>> c = a * b + b ** 2
>>> c.backward()
>>> a.grad, b.grad
(-3.0, -4.0)
"""

from . import autograd, backprop, data, graph, nn, optim, train
from ._fast import switch as _switch
from ._fast.switch import reference_mode
from .anomaly import detect_anomaly, is_anomaly_enabled
from .function import Context, Function
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .gradcheck import GradcheckError, gradcheck, gradcheck_module
from .transforms import grad, gradgradcheck, hessian, hvp, jacobian, jvp, vjp
from .value import Value, concatenate, stack, where

__version__ = "0.1.0"

# The fast path is the default runtime (see tinygrad_nn/_fast/__init__.py).
if not _switch.reference_from_environment():
    _switch.install()

__all__ = [
    "Context",
    "Function",
    "GradcheckError",
    "Value",
    "autograd",
    "backprop",
    "concatenate",
    "data",
    "detect_anomaly",
    "enable_grad",
    "grad",
    "gradcheck",
    "gradcheck_module",
    "gradgradcheck",
    "graph",
    "hessian",
    "hvp",
    "is_anomaly_enabled",
    "is_grad_enabled",
    "jacobian",
    "jvp",
    "nn",
    "no_grad",
    "optim",
    "reference_mode",
    "set_grad_enabled",
    "stack",
    "train",
    "vjp",
    "where",
]
