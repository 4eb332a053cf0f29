"""The initializers of Blumenfeld, Gilboa & Soudry (2020) as registry entries (reference/constnet.md
§2.2, §2.3, §2.6): ConstNet's deterministic channel patterns, LeakyNet's noisy patterns, and the
Gaussian inits of the random layers. The Keras classes live in channel_patterns.py, imported
when an entry is built, so the command line can list the names before Keras starts.
"""

from lib.initializers import INITIALIZERS

# Entries that need a conv kernel (kh, kw, C_in, C_out): they act on channels.
CONV_ONLY = ("channel_average", "channel_identity", "noisy_average", "noisy_identity")


@INITIALIZERS.register("channel_average")
def channel_average(seed: int, value: float = 1.0):
    """ConstNet's averaging kernel: centre tap value / C_in for every (in, out) pair (deterministic, seed unused)."""
    from lib.initializers.channel_patterns import ChannelAverage

    return ChannelAverage(value)


@INITIALIZERS.register("channel_identity")
def channel_identity(seed: int, value: float = 1.0):
    """LeakyNet's identity kernel (code 'i'): output channel o = value x input channel (o mod C_in)."""
    from lib.initializers.channel_patterns import ChannelIdentity

    return ChannelIdentity(value)


@INITIALIZERS.register("noisy_average", tiny={"noise_variance": 0.01})
def noisy_average(seed: int, value: float = 1.0, noise_variance: float = 0.0):
    """LeakyNet code 'n': 0.99 x the averaging kernel + N(0, noise_variance)."""
    from lib.initializers.channel_patterns import NoisyPattern

    return NoisyPattern("average", value, noise_variance=noise_variance, seed=seed)


@INITIALIZERS.register("noisy_identity", tiny={"noise_variance": 0.01})
def noisy_identity(seed: int, value: float = 1.0, noise_variance: float = 0.0):
    """LeakyNet code 'k': 0.99 x the identity kernel + N(0, noise_variance)."""
    from lib.initializers.channel_patterns import NoisyPattern

    return NoisyPattern("identity", value, noise_variance=noise_variance, seed=seed)


@INITIALIZERS.register("fan_out_normal")
def fan_out_normal(seed: int, scale: float = 1.0):
    """N(0, scale / fan_out), untruncated: the original's 'He' (varnet) init, scale 2 sigma_w for block convs."""
    import keras

    return keras.initializers.VarianceScaling(scale, mode="fan_out", distribution="untruncated_normal", seed=seed)


@INITIALIZERS.register("gaussian")
def gaussian(seed: int, stddev: float = 1.0):
    """N(0, stddev^2), untruncated: LeakyNet's random layers (code 'h') and its noisy classifier."""
    import keras

    return keras.initializers.RandomNormal(stddev=stddev, seed=seed)
