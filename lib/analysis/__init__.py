"""What the studies' reports share: reading a run's config.json, the default output folder and
writing figures and summary tables (files.py). Each study's own frames, plots and report live in
its package (lib/studies/<name>/): h5 -> pandas DataFrames -> plot_*(df, ax); only the CLI writes files."""
