"""Deep feedforward classifiers of Glorot & Bengio (2010) §2.3.

Dense layers have no activation of their own; a separate Activation layer follows each, so
pre-activations s (Dense outputs) and activations z (Activation outputs) are both
observable by layer name: `dense_i` -> `act_i` for hidden layer i, then `dense_{H+1}` ->
`softmax`. The output Dense keeps the original `dense_<n>` numbering so that h5 keys such as
`dense_5_kernel` line up with xavier_init's files.
"""

import keras

from lib import initializers
from models import MODELS

ACTIVATIONS = ("sigmoid", "tanh", "softsign", "relu")


@MODELS.register("feedforward", tiny={"hidden_layers": 2, "units": 16})
def feedforward(input_shape, num_classes: int, *, seed: int = 0, hidden_layers: int = 3, units: int = 1000,
                activation: str = "tanh", initializer: str = "standard") -> keras.Model:
    """`hidden_layers` Dense(units) + activation layers, then a softmax output; biases start at 0.

    Images are flattened first (a `flatten` layer), as the paper feeds pixels to the first layer.
    """
    inputs = keras.Input(tuple(input_shape), name="input")
    x = keras.layers.Flatten(name="flatten")(inputs) if len(input_shape) > 1 else inputs
    for i in range(1, hidden_layers + 2):
        output = i > hidden_layers  # float32 under mixed precision: the loss sees float32 probabilities
        x = keras.layers.Dense(num_classes if output else units, kernel_initializer=initializers.make(initializer, seed, i),
                               bias_initializer="zeros", dtype="float32" if output else None, name=f"dense_{i}")(x)
        x = keras.layers.Activation("softmax" if output else activation, dtype="float32" if output else None,
                                    name="softmax" if output else f"act_{i}")(x)
    return keras.Model(inputs, x, name="feedforward")
