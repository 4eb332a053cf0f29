"""Activations and gradients of a model on a probe batch, in one forward/backward pass.

Backend-specific (DESIGN.md, principle 6): `FeedforwardProbe(model)` returns the
implementation of the running Keras backend, lib.backend.gradients_tensorflow (a GradientTape over a
multi-output probe model) or lib.backend.gradients_jax (`stateless_call` + `jax.grad` with zero "tap"
inputs added to the probed layers' outputs). Both return the same ProbeRecord (lib.backend.probe_record).

By default it probes the glorot study's feedforward nets. For hidden layer i (Dense `dense_i` -> Activation
`act_i`), with s = pre-activation, z = activation, C_n the cross-entropy of example n and L = mean_n C_n
over the probe batch:
  preactivations[i]      s_i                       (examples, units)
  activations[i]         z_i (softmax for the output layer)
  backprop[i]            dC_n/ds_i per example     (examples, units)   paper Fig. 7
  weight_gradients[i]    dL/dW_i, dL/db_i          kernel and bias shapes  paper Figs. 8, 9
Since s_i of example n only affects C_n, dC_n/ds_i,n = N * dL/ds_i,n: one tape gives all.

`FeedforwardProbe(model, layers, loss=...)` probes any functional model the same way: s_i is then the
output of each named layer (a ReLU, a residual sum, ...), in any graph, and C_n = loss(y_n, output_n)
(lib.backend.probe_record.probe_spec). Weight gradients are recorded for the named layers that have a
kernel and a bias; activations only in the default.
"""


def FeedforwardProbe(model, layers=None, *, loss=None):  # noqa: N802 (a factory standing in for the backend's class)
    """The probe of `model` for the running Keras backend; `capture(x, y)` gives a ProbeRecord. `layers`
    (names) and `loss` (per-example, `loss(y, model output)`) as lib.backend.probe_record.probe_spec."""
    from lib.backend import implementation

    return implementation("activation/gradient recordings", "lib.backend.gradients", "FeedforwardProbe")(
        model, layers, loss=loss)
