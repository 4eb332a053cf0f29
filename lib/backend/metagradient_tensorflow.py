"""TensorFlow implementation of lib.backend.metagradient: nested GradientTapes in one tf.function.

The inner gradient is taken by a tape opened inside the outer tape, so the outer tape records
the gradient computation itself and differentiates through it (second-order terms included, as
torch's `create_graph=True`). The T inner steps are a Python loop unrolled into the graph when
the function is traced (once per run: every outer step has the same shapes).
"""

import tensorflow as tf

from lib.backend.meta_step import to_step


class TensorFlowMetagradient:
    def __init__(self, loss, update, method: str):
        self.loss, self.update = loss, update
        self._step = tf.function(self._unrolled if method == "unrolled" else self._first_order)

    def __call__(self, outer, inner, state, batches, final_batch=None):
        return to_step(*self._step(outer, inner, state, batches, final_batch))

    def _inner_step(self, outer, inner, state, batch):
        with tf.GradientTape() as tape:
            tape.watch(inner)
            value = self.loss(outer, inner, batch)
        inner, state = self.update(inner, state, tape.gradient(value, inner))
        return inner, state, value

    def _train(self, outer, inner, state, batches):
        losses = []
        for t in range(batches["x"].shape[0]):
            inner, state, value = self._inner_step(outer, inner, state, {key: batches[key][t] for key in batches})
            losses.append(value)
        return inner, tf.stack(losses)

    def _unrolled(self, outer, inner, state, batches, final_batch):
        with tf.GradientTape() as tape:
            tape.watch(outer)
            final, losses = self._train(outer, inner, state, batches)
            value = tf.reduce_mean(losses)
        return value, tape.gradient(value, outer), losses, final

    def _first_order(self, outer, inner, state, batches, final_batch):
        final, losses = self._train(tf.nest.map_structure(tf.stop_gradient, outer), inner, state, batches)
        final = tf.nest.map_structure(tf.stop_gradient, final)
        with tf.GradientTape() as tape:
            tape.watch(outer)
            value = self.loss(outer, final, final_batch)
        return tf.reduce_mean(losses), tape.gradient(value, outer), losses, final
