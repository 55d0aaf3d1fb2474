"""Accuracy of each tool over several seeds of `benchmarks/peers.py`, and whether hfdistill's differs from each peer's.

One `peers.py --seed N` run per seed gives one accuracy per tool (its output folder's peers.json); a seed's spread
(about a point on 872 validation sentences) is larger than the gaps between tools, so one seed cannot say which is
more accurate. This reads the runs' peers.json files and prints, per tool, every seed's accuracy, the mean and standard
deviation, and Welch's two-sided t-test of hfdistill's accuracies against the tool's (`scipy.stats.ttest_ind` with
``equal_var=False``):

    python benchmarks/peers_summary.py out/peers_seed0 out/peers_seed1 out/peers_seed2 ...
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from scipy import stats


def collect(folders: list[str]) -> dict[str, dict[int, float]]:
    """``{tool: {seed: accuracy in %}}`` over the folders' peers.json files; a seed measured twice for one tool is an
    error (which run would count?)."""
    accuracies: dict[str, dict[int, float]] = {}
    for folder in folders:
        path = Path(folder) / "peers.json"
        if not path.exists():
            raise SystemExit(f"{path} does not exist: pass folders that benchmarks/peers.py wrote (its --output_dir).")
        run = json.loads(path.read_text())
        seed = run["job"]["seed"]
        for row in run["rows"]:
            if row.get("flags"):
                continue  # a variant of hfdistill (--hfdistill_flags), not its defaults
            by_seed = accuracies.setdefault(row["tool"], {})
            if seed in by_seed:
                raise SystemExit(f"{path}: {row['tool']} at seed {seed} is also in another folder; "
                                 "pass each seed once.")
            by_seed[seed] = 100 * row["accuracy"]
    return accuracies


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", help="output folders of benchmarks/peers.py runs (one seed each)")
    args = parser.parse_args()
    accuracies = collect(args.folders)
    if "hfdistill" not in accuracies:
        raise SystemExit("No hfdistill run among the folders: the comparison needs one.")
    ours = list(accuracies["hfdistill"].values())
    print("| tool | seeds | accuracy per seed (%) | mean | std | hfdistill minus tool | Welch p |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for tool, by_seed in accuracies.items():
        values = [by_seed[seed] for seed in sorted(by_seed)]
        std = statistics.stdev(values) if len(values) > 1 else float("nan")
        if tool == "hfdistill":
            gap, p = "-", "-"
        else:
            gap = f"{statistics.mean(ours) - statistics.mean(values):+.2f}"
            p = (f"{stats.ttest_ind(ours, values, equal_var=False).pvalue:.2f}" if min(len(ours), len(values)) > 1
                 else "-")
        print(f"| {tool} | {' '.join(map(str, sorted(by_seed)))} | {' / '.join(f'{v:.2f}' for v in values)} | "
              f"{statistics.mean(values):.2f} | {std:.2f} | {gap} | {p} |")


if __name__ == "__main__":
    main()
