"""JAX implementation of lib.backend.metagradient: the inner run as a `jax.lax.scan` under `jax.jit`.

The scan's body takes `jax.value_and_grad` of the inner loss and applies the update; the
unrolled metagradient is `jax.grad` of the mean inner loss through the whole scan (reverse over
reverse, second-order terms included). One compilation per run: every outer step has the same shapes.
"""

import jax
import jax.numpy as jnp

from lib.backend.meta_step import to_step


class JaxMetagradient:
    def __init__(self, loss, update, method: str):
        self.loss, self.update = loss, update
        self._step = jax.jit(self._unrolled if method == "unrolled" else self._first_order)

    def __call__(self, outer, inner, state, batches, final_batch=None):
        return to_step(*self._step(outer, inner, state, batches, final_batch))

    def _train(self, outer, inner, state, batches):
        def step(carry, batch):
            inner, state = carry
            value, grads = jax.value_and_grad(self.loss, argnums=1)(outer, inner, batch)
            return self.update(inner, state, grads), value

        (inner, _), losses = jax.lax.scan(jax.checkpoint(step), (inner, state), batches)
        return inner, losses

    def _unrolled(self, outer, inner, state, batches, final_batch):
        def objective(outer):
            final, losses = self._train(outer, inner, state, batches)
            return jnp.mean(losses), (losses, final)

        (value, (losses, final)), grads = jax.value_and_grad(objective, has_aux=True)(outer)
        return value, grads, losses, final

    def _first_order(self, outer, inner, state, batches, final_batch):
        final, losses = self._train(jax.lax.stop_gradient(outer), inner, state, batches)
        grads = jax.grad(self.loss)(outer, jax.lax.stop_gradient(final), final_batch)
        return jnp.mean(losses), grads, losses, final
