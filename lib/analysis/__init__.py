"""Analysis of recorded runs: h5 -> pandas DataFrames -> plot_*(df, ax); only the CLI writes files."""
