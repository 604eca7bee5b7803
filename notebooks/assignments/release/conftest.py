"""The student copies fail by design until filled in: nbval runs the instructor sources in ../source, not these."""

collect_ignore_glob = ["*.ipynb"]
