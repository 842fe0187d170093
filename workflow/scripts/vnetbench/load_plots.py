"""The figures of latency under load and of parallel flows (vnetbench.load), read by people as
vnetbench.plots: whole titles, legends below the axes, every series labelled as the config
labels its platform.

- CDF: per platform, the probes' latency idle and under load, one panel each (log x). A sample
  is one interim interval of a probe (PROBE_STEP_S): its time over the transactions it
  completed, Flent's conversion of netperf's demo mode; pooled over the repetitions.
- Time series: one cell per platform (its first repetition), Flent-style: throughput up and
  down (the flows summed) and the probe's latency over the cell's load phase.
- Scaling: a figure's flow counts side by side: the aggregate rate, and the machine's CPU per
  Gbit (bulk) or per transaction (request/response), against the number of flows.
"""

import math
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from .metrics import UNITS  # noqa: E402
from .model import split_test  # noqa: E402

_WIDTH = 62


def _title(fig, title: str) -> None:
    fig.suptitle(textwrap.fill(title.replace("$", r"\$"), _WIDTH + 30), fontsize="medium")


def probe_samples(record: dict, job: str) -> list[float]:
    """A probe's latency samples in microseconds: each interim interval's time over its
    transactions (an interval that completed none has no sample)."""
    series = record["load"]["jobs"][job]["series"]
    return [1e6 / rate for _, _, rate in series if rate > 0]


def _panels(count: int, height: float):
    columns = 2 if count > 1 else 1
    rows = math.ceil(count / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(6.4 * columns / 1.4, height * rows + 1.2),
                             layout="constrained", squeeze=False)  # fmt: skip
    for ax in axes.flat[count:]:
        ax.set_visible(False)
    return fig, list(axes.flat)


def cdf_plot(records: list[dict], labels: dict[str, str], title: str):
    """One panel per platform: the CDF of the probes' latency idle and under load."""
    platforms = [name for name in labels if any(r["platform"] == name for r in records)]
    fig, axes = _panels(len(platforms), 2.3)
    lines = {
        "probe_tcp": ("TCP_RR under load", "C3", "-"),
        "idle_tcp": ("TCP_RR idle", "C0", "-"),
        "probe_udp": ("UDP_RR under load", "C3", ":"),
        "idle_udp": ("UDP_RR idle", "C0", ":"),
    }
    for ax, platform in zip(axes, platforms, strict=False):
        mine = [r for r in records if r["platform"] == platform]
        for job, (name, colour, style) in lines.items():
            samples = sorted(s for r in mine for s in probe_samples(r, job))
            if samples:
                share = [(i + 1) / len(samples) for i in range(len(samples))]
                ax.step(samples, share, where="post", color=colour, linestyle=style, label=name)
        ax.set_xscale("log")
        ax.set_ylim(0, 1)
        ax.grid(True, alpha=0.3)
        ax.set_title(textwrap.fill(labels[platform].replace("$", r"\$"), 40), fontsize="small")
        ax.set_xlabel("Probe latency (us, per 50 ms interval)", fontsize="small")
        ax.set_ylabel("Share of intervals", fontsize="small")
    _title(fig, title)
    handles, names = axes[0].get_legend_handles_labels()
    reps = sorted({r["rep"] for r in records})
    note = (
        f"pooled over repetitions {reps[0]}-{reps[-1]}; "
        "a sample: one interim interval's time over its transactions"
    )
    fig.legend(handles, names, loc="outside lower center", ncol=4, fontsize="small", frameon=False,
               title=note, title_fontsize=6)  # fmt: skip
    return fig


def flows_summed(jobs: dict, prefix: str, grid: list[float]) -> list[float]:
    """The flows named `prefix`N summed on `grid`: each flow's rate is constant over its interval."""
    total = [0.0] * len(grid)
    for name, job in jobs.items():
        if not name.startswith(prefix):
            continue
        for index, t in enumerate(grid):
            for end, interval, rate in job["series"]:
                if end - interval <= t < end:
                    total[index] += rate
                    break
    return total


def timeseries_plot(records: list[dict], labels: dict[str, str], title: str):
    """Per platform, its first repetition's load phase: throughput up and down, probe latency."""
    first = {}
    for record in sorted(records, key=lambda r: r["rep"]):
        first.setdefault(record["platform"], record)
    platforms = [name for name in labels if name in first]
    fig, axes = plt.subplots(len(platforms), 1, figsize=(6.4, 1.9 * len(platforms) + 1.4),
                             layout="constrained", squeeze=False, sharex=True)  # fmt: skip
    for ax, platform in zip(axes[:, 0], platforms, strict=True):
        record = first[platform]
        jobs = record["load"]["jobs"]
        end = max(job["window_s"][1] for name, job in jobs.items() if not name.startswith("idle"))
        grid = [i * 0.05 for i in range(int(end / 0.05) + 1)]
        ax.plot(grid, flows_summed(jobs, "up", grid), color="C0", label="upload (flows summed)")
        ax.plot(grid, flows_summed(jobs, "down", grid), color="C1", label="download (flows summed)")
        ax.set_ylabel("Mbit/s", fontsize="small")
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        latency = ax.twinx()
        for job, style in (("probe_tcp", "-"), ("probe_udp", ":")):
            series = jobs[job]["series"]
            latency.plot([end for end, _, rate in series if rate > 0], probe_samples(record, job),
                         color="C3", linestyle=style, label=f"{jobs[job]['test']} probe latency")  # fmt: skip
        latency.set_yscale("log")
        latency.set_ylabel("us", fontsize="small")
        ax.set_title(f"{labels[platform]} (repetition {record['rep']})".replace("$", r"\$"), fontsize="small")
    axes[-1, 0].set_xlabel("Seconds into the load phase")
    _title(fig, title)
    handles, names = axes[0, 0].get_legend_handles_labels()
    more, more_names = fig.axes[-1].get_legend_handles_labels()
    note = "interim results of every netperf (demo mode)"
    fig.legend(handles + more, names + more_names, loc="outside lower center", ncol=2, fontsize="small",
               frameon=False, title=note, title_fontsize=6)  # fmt: skip
    return fig


def scaling_plot(tables: list[pd.DataFrame], title: str):
    """Aggregate rate and CPU per unit of work against the number of flows, per platform
    (mean with its 95% interval)."""
    table = pd.concat(tables, ignore_index=True)
    table["flows"] = [split_test(test)[1] for test in table["test"]]
    rr = "transactions_per_s" in set(table["metric"])
    rate = "transactions_per_s" if rr else "throughput_mbit_s"
    cpu = "machine_cpu_us_per_transaction" if rr else "machine_cpu_s_per_gbit"
    panels = [rate] + ([cpu] if cpu in set(table["metric"]) else [])
    fig, axes = plt.subplots(
        1, len(panels), figsize=(4.2 * len(panels), 4.4), layout="constrained", squeeze=False
    )
    for ax, metric in zip(axes[0], panels, strict=True):
        for index, (label, rows) in enumerate(table[table["metric"] == metric].groupby("label", sort=False)):
            rows = rows.sort_values("flows")
            low, high = rows["mean"] - rows["mean_ci_low"], rows["mean_ci_high"] - rows["mean"]
            marker = "osD^vP*X"[index % 8]
            ax.errorbar(rows["flows"], rows["mean"], yerr=[low, high], capsize=3, marker=marker, label=label)
        counts = sorted(table["flows"].unique())
        ax.set_xscale("log", base=2)
        ax.set_xticks(counts, [str(c) for c in counts])
        ax.minorticks_off()
        ax.set_xlabel("Concurrent flows")
        ax.set_ylabel(f"{'Aggregate rate' if metric == rate else 'Machine CPU'} ({UNITS[metric]})")
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
    _title(fig, title)
    handles, names = axes[0, 0].get_legend_handles_labels()
    n = table[table["n"] > 0]["n"]
    note = f"mean with its 95% t interval; n = {int(n.min())} to {int(n.max())}" if len(n) else "no values"
    fig.legend(handles, [name.replace("$", r"\$") for name in names], loc="outside lower center", ncol=2,
               fontsize="small", frameon=False, title=note, title_fontsize=6)  # fmt: skip
    return fig


def save(fig, output: str) -> None:
    fig.savefig(output)
    plt.close(fig)
