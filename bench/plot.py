#!/usr/bin/python3
"""Draws bench/results/ratios.png from bench/results/latest.json.

Left: every ratio (runwasm ÷ peer) as a horizontal bar on a log axis, green
when it meets its target, red when it misses, grey when it has none; each
target is a black tick across its bar. Right: `state` latency in ms for each
runtime with the 3 ms target. Usage: plot.py LATEST.json OUT.png
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(src, dst):
    doc = json.load(open(src))
    ratios = [r for r in doc["ratios"] if r["key"] != "state_ms"]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(15, 0.42 * len(ratios) + 2.4),
                                  gridspec_kw={"width_ratios": [3.2, 1]})

    labels, values, colors = [], [], []
    for r in ratios:
        label = r["label"]
        if r["note"] and r["key"].startswith("compute_never") and r["value"] is not None:
            label += "\n" + r["note"]
        labels.append(label)
        v = r["value"]
        values.append(v if v is not None else 0)
        colors.append("#bbbbbb" if r["pass"] is None else ("#3a9d4a" if r["pass"] else "#d0473c"))
    ys = list(range(len(ratios)))[::-1]
    present = [v for v in values if v > 0]
    lo = min(present + [t["target"] for t in ratios if t["target"]] + [1]) / 1.6
    hi = max(present + [1]) * 2.2
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    ax.barh(ys, [max(v - lo, 0) for v in values], color=colors, left=lo, height=0.62)
    ax.axvline(1.0, color="#555555", linestyle=":", linewidth=1)
    for y, r, v in zip(ys, ratios, values):
        if r["target"] is not None:
            ax.plot([r["target"], r["target"]], [y - 0.42, y + 0.42], color="black", linewidth=2.2)
            ax.text(r["target"], y + 0.36, f" ≤{r['target']}", fontsize=7, va="bottom")
        if r["value"] is None:
            ax.text(lo * 1.05, y, " " + (r["note"] or "n/a"), va="center", fontsize=8, color="#444444")
        else:
            x = max(v, r["target"] or 0) * 1.07
            ax.text(x, y, f"{v:.2f}×", va="center", fontsize=8, fontweight="bold")
    ax.set_yticks(ys)
    ax.set_yticklabels(labels, fontsize=7.5)
    ax.set_xlabel("runwasm ÷ peer (median; log scale; lower is better; | = target)")
    m = doc["meta"]
    ax.set_title(f"runwasm benchmark {m['date']} · {m['git']} · {m['cpu']}, {m['cpus']} CPUs · "
                 f"load {m['loadavg_at_start'][0]}→{m['loadavg_at_end'][0]}", fontsize=9)

    st = doc["results"].get("state", {})
    names = [n for n in st if not n.startswith("_") and st[n].get("wall_ms")]
    vals = [st[n]["wall_ms"]["median"] for n in names]
    target = doc.get("state_target_ms", 3.0)
    cols = ["#3a9d4a" if (n.startswith("runwasm") and v <= target) else
            "#d0473c" if n.startswith("runwasm") else "#8da0cb" for n, v in zip(names, vals)]
    ax2.bar(range(len(names)), vals, color=cols)
    ax2.axhline(target, color="black", linewidth=1.5)
    ax2.text(-0.45, target, f"target ≤ {target} ms (runwasm)", ha="left", va="bottom", fontsize=7)
    for i, v in enumerate(vals):
        ax2.text(i, v, f"{v:.2f}", ha="center", va="bottom", fontsize=8)
    ax2.set_xticks(range(len(names)))
    ax2.set_xticklabels([n.replace(" (", "\n(") for n in names], fontsize=7)
    ax2.set_ylabel("ms (median)")
    ax2.set_title("state latency (created container)", fontsize=9)

    notes = [n for n in doc.get("notes", []) if "unmounted" in n]
    if notes:
        fig.text(0.01, 0.005, "Note: /sys/fs/cgroup/unified unmounted in a private mount namespace "
                 "for all runtimes (crun 1.8 refuses the host's hybrid cgroup layout).",
                 fontsize=7, color="#444444")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(dst, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
