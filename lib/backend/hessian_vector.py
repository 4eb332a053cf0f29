"""Hessian-vector products of a model's loss with respect to its trainable weights.

Backend-specific (DESIGN.md, principle 6): `HessianVectorProduct(model, loss, batches)` returns the
implementation of the running Keras backend, lib.backend.hessian_vector_tensorflow (a
ForwardAccumulator over a GradientTape) or lib.backend.hessian_vector_jax (`jax.jvp` of
`jax.grad` over `stateless_call`): both forward-over-reverse, one pass costing about two
gradients. The model runs in inference mode (BatchNorm on its moving statistics, dropout off).

`loss(y_true, y_pred)` is the mean loss of a batch, as the study trains with it. Over several
batches the product is the batch-size-weighted mean, H v = sum_b |b| H_b v / N (PyHessian's
dataloader mode). Vectors are flat float64 NumPy arrays over the trainable weights in
`model.trainable_variables` order (lib.backend.flat_parameters), so the spectral algorithms
(lib.hessian) are backend-neutral.
"""

from lib.backend.flat_parameters import FlatParameters, weighted_mean  # noqa: F401  (part of the interface)


def HessianVectorProduct(model, loss, batches):  # noqa: N802 (a factory standing in for the backend's class)
    """`hvp(vector) -> H vector` (flat float64) for the running backend; `.parameters` is its FlatParameters."""
    from lib.backend import implementation

    return implementation("Hessian-vector products", "lib.backend.hessian_vector", "HessianVectorProduct")(model, loss, batches)
