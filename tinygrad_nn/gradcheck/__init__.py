"""Gradient checking: autograd against finite differences.

:func:`gradcheck` checks any function of Values, :func:`gradcheck_module`
every parameter of a model under a loss. Both return a
:class:`GradcheckReport` and raise :class:`GradcheckError` on a failure.

The package, module by module:

* ``check``: :func:`gradcheck` and the finite differences one element at a
  time (the place to start reading);
* ``batched``: the same differences for many perturbed copies in one call,
  and the probe that decides whether a function allows it;
* ``module``: :func:`gradcheck_module`;
* ``module_loss``: the loss as a function of one parameter, single or batched;
* ``report``: the element-wise comparison, :class:`InputCheck`,
  :class:`GradcheckReport`, :class:`GradcheckError` and :func:`format_table`.
"""

from .check import gradcheck
from .module import gradcheck_module
from .report import GradcheckError, GradcheckReport, InputCheck, format_table

__all__ = ["GradcheckError", "GradcheckReport", "InputCheck", "format_table", "gradcheck", "gradcheck_module"]
