"""Metagradients through a whole inner training run (DiversityNN's metalearning, reference/diversity.md §1.4).

An inner network with parameters `inner` is trained for T steps by a differentiable optimizer
`update(inner, state, grads) -> (inner, state)` on the batches `batches` (a dict of arrays with a
leading axis of T: step t uses `{key: batches[key][t]}`), where the loss `loss(outer, inner, batch)`
also depends on the outer parameters `outer`. Both functions are written on keras.ops and serve
both backends; only the differentiation is backend code (DESIGN.md, principle 6):

  unrolled     d/d(outer) of mean_t loss_t, backpropagated through every inner step, second-order
               terms included (the original's `create_graph=True`; Maclaurin et al. 2015)
  first_order  the inner run is trained without a gradient kept through it; then
               d/d(outer) of loss(outer, inner_T, final_batch) with inner_T fixed (jaxDiversity)

`Metagradient(loss, update, method)` returns the implementation of the running Keras backend,
lib.backend.metagradient_tensorflow (nested GradientTapes in a tf.function) or
lib.backend.metagradient_jax (`jax.lax.scan` under `jax.jit`), compiled once per run. Calling it
gives a MetaStep of NumPy values (lib.backend.meta_step).
"""

METHODS = ("unrolled", "first_order")


def Metagradient(loss, update, method: str = "unrolled"):  # noqa: N802 (a factory standing in for the backend's class)
    """`metagradient(outer, inner, state, batches, final_batch=None) -> MetaStep` for the running backend."""
    from lib.backend import implementation

    if method not in METHODS:
        raise ValueError(f"unknown metagradient method '{method}' (valid: {', '.join(METHODS)})")
    return implementation("metagradients", "lib.backend.metagradient", "Metagradient")(loss, update, method)
