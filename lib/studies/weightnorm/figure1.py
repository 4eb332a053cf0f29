"""Figure 1 of Arpit, Campos & Bengio (2019): the synthetic signal-propagation experiment of the original
notebook, recomputed in NumPy float64 from reference/weightnorm_abc.md §A6 (not from the notebook's code).

It measures how a signal's norm changes through a weight-normalized ReLU network at initialization, forward
(‖h^l‖/‖x‖ for l = 1..L) and backward (‖∂h^l‖/‖∂h^L‖ for l = 2..L−1), as mean ± std over samples. No biases.

- MLP: input 500, L = 20 WN ReLU layers h^l = ReLU(W^l h^{l−1}), widths drawn i.i.d. from the integers
  [m0 − 50, m0 + 50), m0 ∈ {200, 1000}.
- ResNet: B = 40 blocks on a 500-dimensional state, h^b = h^{b−1} + W1·ReLU(W0·h^{b−1}), W0 m0×500,
  W1 500×m0; nothing after the sum (§A6's block, as the training code's residual block, §A3).

Every row (output unit) of every W is v_i/‖v_i‖ times its gain g, for three inits:

- `he_g1`, "He (g = 1)": Gaussian v, g = 1. (§A6 builds v as Gaussian/√(m/2); the unit-normalization
  removes any scale, so a standard Gaussian is the same direction.)
- `proposed_orthogonal` / `proposed_he`: the proposed g = √(γ·fan_in/fan_out) of §A5 (`proposed_g`), with
  γ = 2 for every MLP layer and for W0, γ = 1/B for W1 (`gamma_for_position`), which is §A6's "W0 rows
  ×√(2·500/m0), W1 rows ×(1/√B)·√(m0/500)"; v orthogonal (the U·Vᵀ of its SVD, as the notebook) or Gaussian.

Where §A6 leaves a choice open, this module chooses (none of these is stated by the reference):

- One network per (network, m0), shared by the three inits: the same widths, the same Gaussian draw as v of
  `he_g1` and `proposed_he` and, orthogonalized, of `proposed_orthogonal`; and the same inputs x ~ N(0, I_500)
  and backward signals δ ~ N(0, I). The curves then differ by the init rule alone. The error bars are the
  spread over samples through that one network, which is what §A6 says they are ("mean ± std error bars
  over samples"), population std (ddof 0). They do not show the spread between networks, which is the larger
  one deep in the MLP: ReLU layers align the samples with depth, so a network's finite-width gain errors act on
  all of them alike. At m0 = 1000 the proposed (orthogonal) forward curve stays within [0.9, 1.15] for 12 of
  seeds 0–15 and sags to a low of 0.76–0.88 for the other 4 (100 samples each).
- Each sample's ratio is taken first (its ‖h^l‖ over its own ‖x‖; its ‖∂h^l‖ over its own ‖δ‖), then the
  mean and std over samples. ∂h^l is the gradient with respect to h^l, the output of layer (block) l, after
  its ReLU (sum); δ, drawn per sample, is ∂h^L, "at the top hidden layer".
- The backward curve keeps §A6's plotted range l = 2..L−1 (at l = L the ratio is 1 by construction).
- The ResNet's hidden width is m0 itself: §A6 draws widths around m0 for the MLP only.
- The random numbers come from SeedSequence((seed, network, m0)) split into widths, weights (one child per
  layer), inputs and signals, so a network does not depend on the sample count or on the other networks:
  fewer samples are the first rows of the full run's, through the same networks.
"""

import numpy as np
import pandas as pd

from lib.analysis.files import write_report_files
from lib.initializers.weight_norm import BLOCK_SECOND, gamma_for_position, proposed_g
from lib.studies.weightnorm.figure1_plots import draw_figure1

INPUT_DIM = 500
DEPTH = {"mlp": 20, "resnet": 40}  # L hidden layers; B residual blocks
NETWORKS = tuple(DEPTH)
WIDTHS = (200, 1000)  # m0
WIDTH_SPREAD = 50  # MLP widths ~ U{m0 − 50, ..., m0 + 49}
INITS = ("he_g1", "proposed_orthogonal", "proposed_he")
DIRECTIONS = ("forward", "backward")
SAMPLES = 1000
SEED = 0
FIGURE_FILE = "figure1.png"
TABLE_FILE = "figure1.csv"
KEY_LAYERS = {  # printed after writing: the values §A6 quotes (first, middle, last plotted layer)
    ("mlp", "forward"): (1, 10, 20), ("mlp", "backward"): (2, 10, 19),
    ("resnet", "forward"): (1, 10, 40), ("resnet", "backward"): (2, 30, 39),
}


def plotted_layers(network: str, direction: str) -> range:
    """The layer (block) indices §A6 plots: 1..L forward, 2..L−1 backward."""
    depth = DEPTH[network]
    return range(1, depth + 1) if direction == "forward" else range(2, depth)


def semi_orthogonal(gaussian: np.ndarray) -> np.ndarray:
    """U·Vᵀ of the thin SVD U·S·Vᵀ of `gaussian`: orthonormal rows or columns, whichever are fewer; Haar-distributed
    for a Gaussian draw. Computed as the polar factor A·(AᵀA)^(−1/2) through the eigendecomposition of the smaller
    Gram matrix, the same matrix several times faster than the SVD on these shapes."""
    rows, columns = gaussian.shape
    if rows < columns:
        return semi_orthogonal(gaussian.T).T
    eigenvalues, eigenvectors = np.linalg.eigh(gaussian.T @ gaussian)
    return gaussian @ ((eigenvectors / np.sqrt(eigenvalues)) @ eigenvectors.T)  # (AᵀA)^(−1/2) first: one product fewer of A's size


def wn_matrix(gaussian: np.ndarray, init: str, gamma: float) -> np.ndarray:
    """The effective (out, in) weight of a WN layer: rows v_i/‖v_i‖ times g, v from `gaussian` under `init` (§A6)."""
    direction = semi_orthogonal(gaussian) if init == "proposed_orthogonal" else gaussian
    fan_out, fan_in = direction.shape
    gain = 1.0 if init == "he_g1" else proposed_g(fan_in, fan_out, gamma)
    return gain * direction / np.linalg.norm(direction, axis=1, keepdims=True)


def network_layers(network: str, width: int, seed: int) -> list[tuple[tuple[int, int], float, np.random.SeedSequence]]:
    """(shape (out, in), γ, seed of its Gaussian draw) of every weight matrix, in forward order; the
    ResNet's alternate W0, W1 of each block."""
    widths_seed, weights_seed = _seed_children(network, width, seed)[:2]
    if network == "mlp":
        widths = np.random.default_rng(widths_seed).integers(width - WIDTH_SPREAD, width + WIDTH_SPREAD, size=DEPTH["mlp"])
        fans = (INPUT_DIM, *(int(w) for w in widths))
        shapes = [(fans[index + 1], fans[index]) for index in range(DEPTH["mlp"])]
        gammas = [gamma_for_position("plain")] * DEPTH["mlp"]
    else:
        blocks = DEPTH["resnet"]
        shapes = [(width, INPUT_DIM), (INPUT_DIM, width)] * blocks
        gammas = [gamma_for_position("block_first"), gamma_for_position(BLOCK_SECOND, blocks)] * blocks
    return list(zip(shapes, gammas, weights_seed.spawn(len(shapes))))


def network_signals(network: str, width: int, seed: int, samples: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, δ): `samples` inputs x ~ N(0, I_500) and top-layer gradients δ ~ N(0, I) (§A6)."""
    inputs_seed, signals_seed = _seed_children(network, width, seed)[2:]
    top = network_layers(network, width, seed)[-1][0][0]
    return (np.random.default_rng(inputs_seed).standard_normal((samples, INPUT_DIM)),
            np.random.default_rng(signals_seed).standard_normal((samples, top)))


def _seed_children(network: str, width: int, seed: int) -> list[np.random.SeedSequence]:
    return np.random.SeedSequence((seed, NETWORKS.index(network), width)).spawn(4)


def mlp_ratios(matrices: list[np.ndarray], x: np.ndarray, delta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample ‖h^l‖/‖x‖ and ‖∂h^l‖/‖∂h^L‖, each (samples, L) for l = 1..L; h^l = ReLU(W^l h^{l−1}),
    so ∂h^{l−1} = W^lᵀ(1[a^l > 0] ⊙ ∂h^l)."""
    hidden, masks, forward = x, [], []
    for matrix in matrices:
        pre_activation = hidden @ matrix.T
        masks.append(pre_activation > 0)
        hidden = pre_activation * masks[-1]
        forward.append(_norms(hidden) / _norms(x))
    gradient, backward = delta, [np.ones(len(delta))]
    for matrix, mask in zip(matrices[:0:-1], masks[:0:-1]):  # layers L..2, each giving ∂h^{l−1}
        gradient = (gradient * mask) @ matrix
        backward.append(_norms(gradient) / _norms(delta))
    return np.stack(forward, axis=1), np.stack(backward[::-1], axis=1)


def resnet_ratios(matrices: list[np.ndarray], x: np.ndarray, delta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample ‖h^b‖/‖x‖ and ‖∂h^b‖/‖∂h^B‖, each (samples, B) for b = 1..B; `matrices` alternate W0, W1;
    h^b = h^{b−1} + W1·ReLU(W0·h^{b−1}), so ∂h^{b−1} = ∂h^b + W0ᵀ(1[W0·h^{b−1} > 0] ⊙ W1ᵀ∂h^b)."""
    blocks = list(zip(matrices[0::2], matrices[1::2]))
    hidden, masks, forward = x, [], []
    for first, second in blocks:
        pre_activation = hidden @ first.T
        masks.append(pre_activation > 0)
        hidden = hidden + (pre_activation * masks[-1]) @ second.T
        forward.append(_norms(hidden) / _norms(x))
    gradient, backward = delta, [np.ones(len(delta))]
    for (first, second), mask in zip(blocks[:0:-1], masks[:0:-1]):  # blocks B..2, each giving ∂h^{b−1}
        gradient = gradient + ((gradient @ second) * mask) @ first
        backward.append(_norms(gradient) / _norms(delta))
    return np.stack(forward, axis=1), np.stack(backward[::-1], axis=1)


def _norms(rows: np.ndarray) -> np.ndarray:
    return np.linalg.norm(rows, axis=1)


RATIOS = {"mlp": mlp_ratios, "resnet": resnet_ratios}


def network_frame(network: str, width: int, *, samples: int = SAMPLES, seed: int = SEED, inits=INITS) -> pd.DataFrame:
    """One (network, m0) of Figure 1: a row per (init, direction, plotted layer) with the mean and std of the
    per-sample ratio over `samples` samples."""
    layers = network_layers(network, width, seed)
    x, delta = network_signals(network, width, seed, samples)
    rows = []
    for init in inits:
        # One init's matrices at a time (the ResNet's at m0 = 1000 are 0.3 GB); the Gaussian is redrawn from its seed.
        matrices = [wn_matrix(np.random.default_rng(draw).standard_normal(shape), init, gamma) for shape, gamma, draw in layers]
        for direction, ratios in zip(DIRECTIONS, RATIOS[network](matrices, x, delta)):
            for layer in plotted_layers(network, direction):
                per_sample = ratios[:, layer - 1]
                rows.append({"network": network, "width": width, "init": init, "direction": direction, "layer": layer,
                             "mean": per_sample.mean(), "std": per_sample.std(), "samples": samples})
    return pd.DataFrame(rows)


def figure1_frame(*, samples: int = SAMPLES, seed: int = SEED, progress=None) -> pd.DataFrame:
    """Every panel of Figure 1: network_frame for each network and m0."""
    frames = []
    for network in NETWORKS:
        for width in WIDTHS:
            if progress:
                progress(f"figure 1: {network}, m0 = {width}, {samples} samples")
            frames.append(network_frame(network, width, samples=samples, seed=seed))
    return pd.concat(frames, ignore_index=True)


def key_values(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of `df` at KEY_LAYERS, one line per (network, width, direction, init): "l: mean ± std" side by side."""
    lines = []
    for (network, width, direction, init), rows in df.groupby(["network", "width", "direction", "init"], sort=False):
        rows = rows.set_index("layer")
        cells = [f"{layer}: {rows.at[layer, 'mean']:.3f} ± {rows.at[layer, 'std']:.3f}" for layer in KEY_LAYERS[network, direction]]
        lines.append({"network": network, "width": width, "direction": direction, "init": init, "ratio at layer": "   ".join(cells)})
    return pd.DataFrame(lines)


def write_figure1(out_dir: str, progress=print, *, samples: int = SAMPLES, seed: int = SEED) -> list[str]:
    """Compute Figure 1 and write figure1.png and figure1.csv (the frame) into `out_dir`; returns the paths written."""
    df = figure1_frame(samples=samples, seed=seed, progress=progress)
    caption = (f"Figure 1 (reference §A6): norm ratios at initialization, mean ± std over {samples} samples (seed {seed})\n"
               + key_values(df).to_string(index=False))
    return write_report_files(out_dir, {FIGURE_FILE: draw_figure1(df)}, TABLE_FILE, df, caption, progress)
