"""LeakyNet's `--init` strings (reference/constnet.md §2.6): one code per layer, conv1 then every block.

`1_ii11_ii11_ii11` reads conv1 | group 1 | group 2 | group 3; underscores are cosmetic. No
Keras here: the command line checks a string before TensorFlow starts.
"""

CODES = {"1": "averaging", "i": "identity", "h": "random", "k": "noisy identity", "n": "noisy average"}
# The seven runs of the original's lrnet_experiment.sh, in order: more and more averaging
# layers, i.e. less and less room for symmetry-breaking noise to travel.
GRID = ("h_hhhh_hhhh_hhhh", "i_iiii_iiii_iiii", "1_iiii_iiii_iiii", "1_iiii_11ii_iiii", "1_iiii_1111_iiii",
        "1_ii11_ii11_ii11", "1_1111_1111_1111")


def blocks_per_group(depth: int) -> int:
    return (depth - 4) // 3


def parse_init_string(text: str, depth: int) -> list[str]:
    """The layer codes of `text` for a net of `depth`: exactly 1 + 3n of them, each one of CODES.

    Stricter than the original, which raised IndexError on too few codes, ignored extra ones
    and read any unknown character as noisy average.
    """
    codes = list(text.strip("_").replace("_", ""))
    needed = 1 + 3 * blocks_per_group(depth)
    n = blocks_per_group(depth)
    if len(codes) != needed:
        layout = "_".join(["x"] + ["x" * n] * 3)
        raise ValueError(f"--init '{text}' has {len(codes)} layer codes; depth {depth} needs {needed} "
                         f"(conv1 + {needed - 1} blocks, written {layout})")
    unknown = sorted(set(codes) - set(CODES))
    if unknown:
        valid = ", ".join(f"{code} {meaning}" for code, meaning in CODES.items())
        raise ValueError(f"--init '{text}': unknown layer code '{unknown[0]}' (valid: {valid})")
    return codes
