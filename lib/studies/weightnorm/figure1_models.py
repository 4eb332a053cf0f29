"""Figure 1 of Arpit, Campos & Bengio (2019) measured on initlab's real Keras WN networks at initialization
(models/weightnorm_nets.py), beside the synthetic experiment of figure1.py (reference/weightnorm_abc.md §A6).

The same two curves as figure1.py, through the network's own layers and the probe recorder the glorot study
uses (lib.backend.gradients.FeedforwardProbe, on the layers named below), as mean ± std over samples
(population std, ddof 0) of per-sample ratios:

- forward ‖h^l‖/‖h^0‖ for l = 1..L, and backward ‖∂h^l‖/‖∂h^L‖ for l = 1..L−1 (at l = L it is 1), where
- h^l is, per network: `mlp`, `cnn` the output of hidden layer l after its ReLU (`relu<l>`), as §A6's MLP;
  `resnet`, `wrn` the output of residual block l (`stage<s>_block<b>_add`, the sum, nothing after it, §A3),
  blocks numbered 1..3B across the three stages, as §A6's ResNet numbers its B blocks;
- h^0 is the input of the first measured layer: the network's input x (`mlp`, `cnn`: an image counts all its
  pixels), or the stem's output (`resnet`, `wrn`), which §A6's ResNet, fed x directly, does not have;
- ‖·‖ is the norm of all of a sample's units, every position of a feature map included. So a stride-2 stage
  transition, which keeps a quarter of the positions, divides the forward ratio by about 2 under every init;
  within a stage the curves compare as §A6's.

The backward signal: §A6 draws δ ~ N(0, I) at the top hidden layer h^L and back-propagates it. A real network
has its classifier (a plain Dense, after global average pooling in the conv nets) above h^L, so here δ ~ N(0,
I_classes) is drawn per sample at the logits and back-propagated by the probe as the gradient of the per-sample
linear loss C_n = ⟨δ_n, logits_n⟩ (`signal_loss`), whose gradient at the logits is δ_n. ∂h^L = W_logitsᵀδ
(spread evenly over the positions by the pooling) then lies in a subspace of num_classes directions rather than
being isotropic; its scale cancels in ‖∂h^l‖/‖∂h^L‖.

The inits are --init's (lib.studies.weightnorm.config.INITS), built by the study's builders with weight norm
(the `*_datadep` ones then set by data_dependent_init on a batch of DATADEP_BATCH inputs drawn as the measured
ones, the original's first training batch of mini_batch_size 128), plus `he_g1`: `he` with every g set to 1,
§A6's "He (g = 1)" baseline. Note that `he` itself is PyTorch's default g = ‖v‖, whose effective weights are
He's: a plain ReLU net keeps its norm in expectation, and it is the residual nets that it explodes.

Inputs: Gaussian, x ~ N(0, I) in the dataset's example shape, as §A6's x ~ N(0, I_500); or `real`, the first
examples of the dataset's validation split (and the first training examples for the data-dependent init),
preprocessed as the study's runs preprocess them (lib.studies.weightnorm.run.load_data, §A2). The same x and δ for every init, and each
init's network from the same seed (he, he_g1 and he_datadep share v), so the curves differ by the init alone.
"""

import dataclasses
import re
import time

import numpy as np
import pandas as pd

from lib.errors import UsageError
from lib.studies.weightnorm.config import INITS as STUDY_INITS
from lib.studies.weightnorm.config import VECTOR_DATASETS

HE_G1 = "he_g1"
INITS = (HE_G1, *STUDY_INITS)
DEFAULT_INITS = (HE_G1, "he", "he_datadep", "he_proposed", "orthogonal_proposed")
NETWORKS = ("mlp", "cnn", "resnet", "wrn")
RESIDUAL = ("resnet", "wrn")
INPUTS = ("gaussian", "real")
# (example shape, classes) of the study's datasets, so that Gaussian inputs need no data file.
DATASET_SHAPES = {"mnist": ((28, 28, 1), 10), "cifar10": ((32, 32, 3), 10), "cifar100": ((32, 32, 3), 100),
                  "digits": ((8, 8, 1), 10), "mnist1d": ((40,), 10)}
DEFAULT_DATASET = {"mlp": "mnist", "cnn": "cifar10", "resnet": "cifar10", "wrn": "cifar10"}  # the paper's (§A7)
# Figure 1's sizes where they apply (§A6: an MLP of depth 20 around width 1000; B = 40 blocks, here per stage,
# so that stage 1 has §A6's B and the proposed γ = 1/40); the WRN as the paper's WRN-40-k.
SIZES = {"mlp": {"num_layers": 20, "hidden_size": 1000}, "cnn": {"num_layers": 20, "hidden_size": 64},
         "resnet": {"num_blocks": 40, "hidden_size": 16}, "wrn": {"wrn_n": 6, "wrn_k": 2}}
DATADEP_BATCH = 128
BATCH_SIZE = 100  # samples per probe pass: bounds the memory of the recorded outputs of a deep conv net
DIRECTIONS = ("forward", "backward")


@dataclasses.dataclass(frozen=True)
class RealNetwork:
    """One real network of Figure 1: `nn`, its sizes (those of SIZES[nn] that apply) and the dataset giving its
    input shape and number of classes."""

    nn: str
    dataset: str
    sizes: dict

    @classmethod
    def of(cls, nn: str, dataset: str | None = None, **sizes) -> "RealNetwork":
        """SIZES[nn] overridden by `sizes` (None values ignored); a size the network does not take is a UsageError."""
        if nn not in NETWORKS:
            raise UsageError(f"unknown network '{nn}' (valid: {', '.join(NETWORKS)})")
        given = {name: value for name, value in sizes.items() if value is not None}
        foreign = sorted(set(given) - set(SIZES[nn]))
        if foreign:
            raise UsageError(f"--{foreign[0]} does not apply to --nn {nn} (its sizes: "
                             f"{', '.join('--' + name for name in SIZES[nn])})")
        dataset = dataset or DEFAULT_DATASET[nn]
        if dataset not in DATASET_SHAPES:
            raise UsageError(f"unknown dataset '{dataset}' (valid: {', '.join(DATASET_SHAPES)})")
        if dataset in VECTOR_DATASETS and nn != "mlp":
            raise UsageError(f"--dataset {dataset} has 1-D examples, which only --nn mlp takes")
        return cls(nn, dataset, {**SIZES[nn], **given})

    @property
    def label(self) -> str:
        """The network in a few characters, as the study's run names (config.network_shape)."""
        s = self.sizes
        if self.nn == "wrn":
            return f"wrn-{6 * s['wrn_n'] + 4}-{s['wrn_k']}"
        if self.nn == "resnet":
            return f"resnet-{s['num_blocks']}b-{s['hidden_size']}"
        return f"{self.nn}-{s['num_layers']}x{s['hidden_size']}"

    @property
    def width(self) -> int:
        """The frame's `width` (figure1's m0): the hidden size, or the WRN's first-stage channels 16k."""
        return 16 * self.sizes["wrn_k"] if self.nn == "wrn" else self.sizes["hidden_size"]


def build_at_init(network: RealNetwork, init: str, seed: int, datadep_batch: np.ndarray):
    """The network `wn_<nn>` at initialization under `init` (INITS), weight-normalized."""
    from lib.studies.weightnorm.data_dependent import data_dependent_init, weight_normalized_layers
    from models import MODELS

    if init not in INITS:
        raise UsageError(f"unknown init '{init}' (valid: {', '.join(INITS)})")
    shape, classes = DATASET_SHAPES[network.dataset]
    model = MODELS.build(f"wn_{network.nn}", shape, classes, init="he" if init == HE_G1 else init, weight_norm=True,
                         seed=seed, **network.sizes)
    if init == HE_G1:
        for layer in weight_normalized_layers(model):
            layer.g.assign(np.ones(layer.g.shape, dtype="float32"))
    if init.endswith("_datadep"):
        data_dependent_init(model, datadep_batch)
    return model


def measured_layers(model, nn: str) -> tuple[str | None, list[str]]:
    """(the layer whose output is h^0, None for the input; the layers of h^1..h^L), by their builders' names."""
    names = [layer.name for layer in model.layers]
    if nn in RESIDUAL:
        return "stem", [name for name in names if name.endswith("_add")]
    return None, [name for name in names if re.fullmatch(r"relu\d+", name)]


def signal_loss(delta, logits):
    """C_n = ⟨δ_n, logits_n⟩: its gradient at the logits is δ_n, the backward signal (module docstring)."""
    import keras

    return keras.ops.sum(delta * logits, axis=-1)


def signals(network: RealNetwork, samples: int, seed: int, inputs: str = "gaussian"):
    """(x, δ, the data-dependent init's batch): `samples` inputs and logit signals δ ~ N(0, I_classes).

    Each from its own child of SeedSequence(seed), so that fewer samples are the first rows of more.
    """
    shape, classes = DATASET_SHAPES[network.dataset]
    x_seed, delta_seed, batch_seed = np.random.SeedSequence(seed).spawn(3)
    delta = np.random.default_rng(delta_seed).standard_normal((samples, classes)).astype("float32")
    if inputs == "gaussian":
        x = np.random.default_rng(x_seed).standard_normal((samples, *shape)).astype("float32")
        batch = np.random.default_rng(batch_seed).standard_normal((DATADEP_BATCH, *shape)).astype("float32")
        return x, delta, batch
    if inputs != "real":
        raise UsageError(f"unknown inputs '{inputs}' (valid: {', '.join(INPUTS)})")
    from lib.studies.weightnorm.config import WeightnormConfig
    from lib.studies.weightnorm.run import load_data

    splits = load_data(WeightnormConfig(dataset=network.dataset, seed=seed))
    if len(splits.validation) < samples:
        raise UsageError(f"--samples {samples}: the {network.dataset} validation split has {len(splits.validation)} "
                         "examples; pass at most that many")
    return (splits.validation.x[:samples].astype("float32"), delta,
            np.asarray(splits.train.x[:DATADEP_BATCH], dtype="float32"))


class NetworkProbe:
    """The probe recorder on the layers of `measured_layers` (h^0 first, where it is a layer's output), with
    `signal_loss`; `ratios(x, δ)` gives the per-sample ratios on the network's current weights."""

    def __init__(self, model, nn: str):
        from lib.backend.gradients import FeedforwardProbe

        self.model = model
        self.reference, self.layers = measured_layers(model, nn)
        self._probe = FeedforwardProbe(model, ([self.reference] if self.reference else []) + self.layers,
                                       loss=signal_loss)

    def ratios(self, x: np.ndarray, delta: np.ndarray, batch_size: int = BATCH_SIZE) -> tuple[np.ndarray, np.ndarray]:
        """(forward, backward), each (samples, L): ‖h^l‖/‖h^0‖ and ‖∂h^l‖/‖∂h^L‖ for l = 1..L, from the probe's
        outputs and per-sample gradients (`backprop`), `batch_size` samples per pass."""
        forward, backward = [], []
        for start in range(0, len(x), batch_size):
            chunk = slice(start, start + batch_size)
            record = self._probe.capture(x[chunk], delta[chunk])
            h0 = _norms(record.preactivations[self.reference]) if self.reference else _norms(x[chunk])
            outputs = np.stack([_norms(record.preactivations[name]) for name in self.layers], axis=1)
            gradients = np.stack([_norms(record.backprop[name]) for name in self.layers], axis=1)
            forward.append(outputs / h0[:, None])
            backward.append(gradients / gradients[:, -1:])
        return np.concatenate(forward), np.concatenate(backward)


def _norms(batch: np.ndarray) -> np.ndarray:
    """‖·‖ of each sample over all its units, in float64 (an exploding net's squares overflow float32)."""
    return np.linalg.norm(np.asarray(batch, dtype=np.float64).reshape(len(batch), -1), axis=1)


def model_frame(network: RealNetwork, inits=DEFAULT_INITS, *, samples: int = 1000, seed: int = 0,
                inputs: str = "gaussian", batch_size: int = BATCH_SIZE, progress=None) -> pd.DataFrame:
    """Figure 1's curves on `network`, one row per (init, direction, layer): figure1.network_frame's columns
    (network, width, init, direction, layer, mean, std, samples) plus layer_name, model (RealNetwork.label),
    dataset and inputs."""
    x, delta, batch = signals(network, samples, seed, inputs)
    rows, probe = [], None
    where = f"figure 1 on {network.label} ({network.dataset}, {inputs} inputs)"
    for init in inits:
        started = time.perf_counter()
        if progress:  # the data-dependent init of a deep net alone takes minutes on a CPU
            progress(f"{where}: {init}, building the network and measuring {samples} samples")
        model = build_at_init(network, init, seed, batch)
        if probe is None:
            probe = NetworkProbe(model, network.nn)
        else:  # every init builds the same layers: one probe (traced once) measures each init's weights in turn
            probe.model.set_weights(model.get_weights())
        ratios = dict(zip(DIRECTIONS, probe.ratios(x, delta, batch_size)))
        for direction, per_sample in ratios.items():
            for index, name in enumerate(probe.layers if direction == "forward" else probe.layers[:-1]):
                rows.append({"network": network.nn, "width": network.width, "init": init, "direction": direction,
                             "layer": index + 1, "mean": per_sample[:, index].mean(), "std": per_sample[:, index].std(),
                             "samples": samples, "layer_name": name, "model": network.label,
                             "dataset": network.dataset, "inputs": inputs})
        if progress:
            top = ratios["forward"][:, -1].mean()
            progress(f"{where}: {init}, ‖h^L‖/‖h^0‖ = {top:.3g} ({time.perf_counter() - started:.1f} s)")
    return pd.DataFrame(rows)
