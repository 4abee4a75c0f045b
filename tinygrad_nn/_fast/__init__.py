"""The fast path: everything in tinygrad_nn that exists only for speed.

The reader's files (``value.py``, ``ops.py``, ``autograd.py``, ``nn/``) hold
the reference engine. This package holds drop-in replacements that compute
the same numbers, bit for bit (``tests/test_fast_equivalence.py`` checks data,
gradients, dtypes and node records between the two), and
``import tinygrad_nn`` installs them (``switch.py``). Inside
``tinygrad_nn.reference_mode()``, or with ``TINYGRAD_NN_REFERENCE=1`` in the
environment, only the reference code runs; ``python benchmarks/run.py``
measures what that costs.

Each trick, and what it bought when it went in (benchmarks/README.md has the
method and the profiles; instruction counts by callgrind, (a) is the
150x4 → 10 → 3 sigmoid network's training step):

``record.py``: the node's record packed into the Value's own slots
    The inputs of one- and two-input ops in two slots instead of a tuple, no
    tuple of raw inputs when every input is a recorded Value: one object per
    node for the garbage collector (the collector's share of a scalar MLP
    step fell from about 95 ms to about 40 ms). With ten slots a Value took
    112 bytes with the collector's header, a size class below 128 (the step
    ran about 12% faster with the collector on); the version check's two
    slots (``_version``, ``_stamp``: versions.py) made it 128 bytes and the
    scalar MLP step about 3.5% longer (callgrind: 709M to 734M instructions
    with the collector off, 802M to 830M with it on).
``apply.py``: ``apply`` unrolled
    Each binary operator is its own function with the recording inside (one
    Python call per ``a * b`` instead of two: 5,760 → 5,217 instructions);
    the same for the unary methods and for a Dense layer's node.
``walk.py``: the backward walk on scratch slots
    Consumer counts and pending gradients in slots of the nodes with a
    per-walk token instead of dicts; an unrolled hot path for one- and
    two-input nodes (a helper call per edge cost 20%): a scalar graph's
    backward went from 189M to about 100M instructions, the 10^6-node
    chain from 0.63 to 0.39 µs per node.
``fused.py`` and ``layers.py``: one node per Dense layer and activation
    ``x @ w + b`` as one ``linear`` node, and with the activation after it
    in a Sequential as one ``linear_sigmoid``/``_tanh``/``_relu`` node whose
    activation overwrites z in place: (a) records 3 nodes instead of 7, and
    its peak memory fell from 1.12x to 0.78x the hand-written step's. The
    joint rule returns a Dense node's three gradients at once, already
    shaped (19k instructions a step of (a)).
``kernels.py``: the same numbers with fewer temporaries and calls
    tanh's and sigmoid's VJPs in one buffer; sigmoid's overflow test by
    argmin (1.8 → 0.4 µs on 150x10); np.dot/np.vdot without numpy's
    dispatch layer (1.74 → 1.23 µs for a 150x4 by 4x10 product); the bias
    gradient 1ᵀδ with a cached ones vector; the squared error's VJP on a
    numpy scalar and without its multiply by 1; np.sum without its Python
    wrapper (about 2 µs on small arrays).
"""

from .switch import reference_mode

__all__ = ["reference_mode"]
