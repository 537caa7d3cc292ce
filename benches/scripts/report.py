#!/usr/bin/env python3
"""Turns one criterion run of the alamos benches into the tables of BENCHMARKS.md.

Reads the median of every benchmark from criterion's `new/estimates.json`
files (nanoseconds per call), prints one markdown table of medians and
ratios, then the issue's targets with met/missed. Build-cost figures are
included when `build_cost.sh` has left its `build_cost.json` beside the
criterion directory.

    python3 benches/scripts/report.py                  # everything found
    python3 benches/scripts/report.py --stripped       # the stripped pair only
    python3 benches/scripts/report.py --run prometheus=DIR1 --run alamos=DIR2

The criterion directory is `$CRITERION_HOME`, else `$CARGO_TARGET_DIR/criterion`,
else `target/criterion` under the repository root; `--criterion DIR` overrides.
"""

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# (id, what it measures, the command that produces it)
OVERHEAD = "cargo bench -p alamos-benches --bench overhead"
SCALING = "cargo bench -p alamos-benches --bench scaling_1 --bench scaling_10k"
STRIPPED = "bash benches/scripts/stripped.sh"
EXEMPLARS = "cargo bench -p alamos-benches --bench exemplars"
EXEMPLARS_OTEL = "cargo bench -p alamos-benches --bench exemplars --features otel"
ROWS = [
    ("overhead/bare", "bare function", OVERHEAD),
    ("overhead/atomic_u64", "`static AtomicU64` increment", OVERHEAD),
    ("overhead/alamos_disabled", "alamos, disabled at run time", OVERHEAD),
    ("overhead/alamos_metrics_only", "alamos, metrics only", OVERHEAD),
    ("overhead/alamos_span_metrics", "alamos, span + metrics", OVERHEAD),
    ("overhead/tracing_disabled", "`#[tracing::instrument]`, disabled", OVERHEAD),
    ("overhead/tracing_enabled", "`#[tracing::instrument]`, enabled", OVERHEAD),
    ("overhead/fastrace_no_parent", "`#[fastrace::trace]`, no parent (off)", OVERHEAD),
    ("overhead/fastrace_no_reporter", "`#[fastrace::trace]`, under a root, no reporter", OVERHEAD),
    ("overhead/fastrace_reporter", "`#[fastrace::trace]`, under a root, reporter", OVERHEAD),
    ("overhead/metrics_counter", "`metrics::counter!` per call", OVERHEAD),
    ("overhead/metrics_counter_cached", "`metrics` cached `Counter` handle", OVERHEAD),
    ("overhead/metrics_histogram_instant", "`metrics::histogram!` + `Instant` timing", OVERHEAD),
    ("overhead/metrics_histogram", "`metrics::histogram!` per call", OVERHEAD),
    ("overhead/autometrics", "`#[autometrics]` (prometheus-client backend)", OVERHEAD),
    ("overhead/alamos_counter", "`alamos::counter!`, enabled", OVERHEAD),
    ("overhead/alamos_counter_disabled", "`alamos::counter!`, disabled at run time", OVERHEAD),
    ("overhead/alamos_histogram", "`alamos::histogram!`, enabled", OVERHEAD),
    ("overhead/alamos_histogram_disabled", "`alamos::histogram!`, disabled at run time", OVERHEAD),
    ("overhead/clock_std_instant", "reference: `std::time::Instant::now()`", OVERHEAD),
    ("overhead/clock_quanta_instant", "reference: `quanta::Instant::now()`", OVERHEAD),
    ("overhead/clock_rdtsc", "reference: a bare `rdtsc`", OVERHEAD),
    ("threads/atomic_u64/1", "`AtomicU64`, 1 thread", OVERHEAD),
    ("threads/atomic_u64/2", "`AtomicU64`, 2 threads, per thread", OVERHEAD),
    ("threads/alamos_metrics_only/1", "alamos metrics only, 1 thread", OVERHEAD),
    ("threads/alamos_metrics_only/2", "alamos metrics only, 2 threads, per thread", OVERHEAD),
    ("threads/alamos_span_metrics/1", "alamos span + metrics, 1 thread", OVERHEAD),
    ("threads/alamos_span_metrics/2", "alamos span + metrics, 2 threads, per thread", OVERHEAD),
    ("threads/tracing_enabled/1", "`#[tracing::instrument]` enabled, 1 thread", OVERHEAD),
    ("threads/tracing_enabled/2", "`#[tracing::instrument]` enabled, 2 threads, per thread", OVERHEAD),
    ("scaling/alamos_disabled/1", "alamos disabled, 3 experiments registered", SCALING),
    ("scaling/alamos_disabled/10000", "alamos disabled, 10,003 experiments registered", SCALING),
    ("scaling/alamos_metrics_only/1", "alamos metrics only, 3 experiments", SCALING),
    ("scaling/alamos_metrics_only/10000", "alamos metrics only, 10,003 experiments", SCALING),
    ("scaling/alamos_span_metrics/1", "alamos span + metrics, 3 experiments", SCALING),
    ("scaling/alamos_span_metrics/10000", "alamos span + metrics, 10,003 experiments", SCALING),
    ("render/alamos/10000", "render 10,000 alamos callsites (60,000 series)", SCALING),
    ("render/direct/10000", "render the same series written directly", SCALING),
    ("exemplars/no_otel/metrics_only", "alamos metrics only, without `otel`", EXEMPLARS),
    ("exemplars/otel/metrics_only", "alamos metrics only, with `otel` (exemplar slot checked)", EXEMPLARS_OTEL),
    ("exemplars/no_otel/span_metrics", "alamos span + metrics, sampled OpenTelemetry span, without `otel`", EXEMPLARS),
    ("exemplars/otel/span_metrics", "alamos span + metrics, sampled OpenTelemetry span, with `otel` (exemplars)", EXEMPLARS_OTEL),
    ("exemplars/otel/span_metrics_capture_every_call", "the same, an exemplar captured on every call (interval 0)", EXEMPLARS_OTEL),
    ("exemplars/no_otel/histogram", "`alamos::histogram!`, without `otel`", EXEMPLARS),
    ("exemplars/otel/histogram", "`alamos::histogram!`, with `otel` (exemplar slot checked)", EXEMPLARS_OTEL),
    ("stripped/bare", "bare function (stripped build)", STRIPPED),
    ("stripped/alamos_max_level_off", "alamos with `max_level_off`", STRIPPED),
    ("stripped/counter_max_level_off", "`counter!` with `max_level_off`", STRIPPED),
    ("stripped/histogram_max_level_off", "`histogram!` with `max_level_off`", STRIPPED),
]
# Ratios are to this row, when the row has no more specific reference.
BASELINE = {"overhead": "overhead/bare", "stripped": "stripped/bare"}
REFERENCE = {
    "overhead/alamos_counter": "overhead/metrics_counter_cached",
    "overhead/alamos_histogram": "overhead/metrics_histogram",
    "threads/atomic_u64/2": "threads/atomic_u64/1",
    "threads/alamos_metrics_only/2": "threads/alamos_metrics_only/1",
    "threads/alamos_span_metrics/2": "threads/alamos_span_metrics/1",
    "threads/tracing_enabled/2": "threads/tracing_enabled/1",
    "scaling/alamos_disabled/10000": "scaling/alamos_disabled/1",
    "scaling/alamos_metrics_only/10000": "scaling/alamos_metrics_only/1",
    "scaling/alamos_span_metrics/10000": "scaling/alamos_span_metrics/1",
    "render/alamos/10000": "render/direct/10000",
    "exemplars/otel/metrics_only": "exemplars/no_otel/metrics_only",
    "exemplars/otel/span_metrics": "exemplars/no_otel/span_metrics",
    "exemplars/otel/span_metrics_capture_every_call": "exemplars/no_otel/span_metrics",
    "exemplars/otel/histogram": "exemplars/no_otel/histogram",
}


def criterion_dir(override):
    if override:
        return Path(override)
    if os.environ.get("CRITERION_HOME"):
        return Path(os.environ["CRITERION_HOME"])
    if os.environ.get("CARGO_TARGET_DIR"):
        return Path(os.environ["CARGO_TARGET_DIR"]) / "criterion"
    return ROOT / "target" / "criterion"


def load(directory):
    """Maps each benchmark's full id to (median, lower, upper) in ns."""
    found = {}
    for benchmark in directory.glob("**/new/benchmark.json"):
        estimates = benchmark.with_name("estimates.json")
        if not estimates.exists():
            continue
        full_id = json.loads(benchmark.read_text())["full_id"]
        median = json.loads(estimates.read_text())["median"]
        interval = median["confidence_interval"]
        found[full_id] = (
            median["point_estimate"],
            interval["lower_bound"],
            interval["upper_bound"],
        )
    return found


def fmt_time(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.1f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    if ns >= 100:
        return f"{ns:.0f} ns"
    return f"{ns:.2f} ns"


def reference_of(row_id):
    if row_id in REFERENCE:
        return REFERENCE[row_id]
    return BASELINE.get(row_id.split("/")[0])


def table(runs):
    """Medians and ratios, one pair of columns per run."""
    header = "| benchmark | what |"
    rule = "|---|---|"
    for label, _ in runs:
        header += f" median ({label}) | ratio |"
        rule += "---:|---:|"
    lines = [header + " ratio to |", rule + "---|"]
    commands = {}
    for row_id, what, command in ROWS:
        if not any(row_id in medians for _, medians in runs):
            continue
        commands.setdefault(command, []).append(row_id)
        reference = reference_of(row_id)
        line = f"| `{row_id}` | {what} |"
        for _, medians in runs:
            if row_id not in medians:
                line += " — | |"
                continue
            median = medians[row_id][0]
            ratio = ""
            if reference in medians and reference != row_id:
                ratio = f"{median / medians[reference][0]:.2f}×"
            line += f" {fmt_time(median)} | {ratio} |"
        to = f"`{reference}`" if reference and reference != row_id else ""
        lines.append(line + f" {to} |")
    return lines, commands


def targets(medians):
    """(target, measured, met) for every target whose rows were measured."""

    def m(row_id):
        return medians[row_id][0]

    def have(*row_ids):
        return all(row_id in medians for row_id in row_ids)

    results = []
    if have("overhead/alamos_disabled", "overhead/bare"):
        extra = m("overhead/alamos_disabled") - m("overhead/bare")
        results.append(("disabled ≤ bare + 0.5 ns", f"bare {extra:+.2f} ns", extra <= 0.5))
    if have("overhead/alamos_disabled", "overhead/tracing_disabled"):
        ratio = m("overhead/alamos_disabled") / m("overhead/tracing_disabled")
        results.append(("disabled ≤ tracing's disabled `#[instrument]`", f"{ratio:.2f}×", ratio <= 1.0))
    if have("stripped/alamos_max_level_off", "stripped/bare"):
        _, low, high = medians["stripped/alamos_max_level_off"]
        _, bare_low, bare_high = medians["stripped/bare"]
        ratio = m("stripped/alamos_max_level_off") / m("stripped/bare")
        overlap = low <= bare_high and bare_low <= high
        results.append((
            "stripped indistinguishable from bare (median intervals overlap, or within ±3%)",
            f"{ratio:.3f}×",
            overlap or abs(ratio - 1.0) <= 0.03,
        ))
    for row in ("alamos_counter_disabled", "alamos_histogram_disabled"):
        if have(f"overhead/{row}", "overhead/bare"):
            extra = m(f"overhead/{row}") - m("overhead/bare")
            results.append((f"{row} ≤ bare + 0.5 ns", f"bare {extra:+.2f} ns", extra <= 0.5))
    for row in ("counter_max_level_off", "histogram_max_level_off"):
        if have(f"stripped/{row}", "stripped/bare"):
            ratio = m(f"stripped/{row}") / m("stripped/bare")
            results.append((f"stripped {row} within ±3% of bare", f"{ratio:.3f}×", abs(ratio - 1.0) <= 0.03))
    if have("overhead/alamos_counter", "overhead/metrics_counter_cached"):
        ratio = m("overhead/alamos_counter") / m("overhead/metrics_counter_cached")
        results.append(("`counter!` ≤ 2× a cached `metrics` counter", f"{ratio:.2f}×", ratio <= 2.0))
    if have("overhead/alamos_histogram", "overhead/metrics_histogram"):
        ratio = m("overhead/alamos_histogram") / m("overhead/metrics_histogram")
        results.append(("`histogram!` ≤ 0.5× `metrics::histogram!`", f"{ratio:.2f}×", ratio <= 0.5))
    if have("overhead/alamos_metrics_only", "overhead/autometrics"):
        ratio = m("overhead/alamos_metrics_only") / m("overhead/autometrics")
        results.append(("metrics only ≤ 0.1× autometrics", f"{ratio:.3f}×", ratio <= 0.1))
    if have("overhead/alamos_metrics_only", "overhead/metrics_histogram_instant"):
        ratio = m("overhead/alamos_metrics_only") / m("overhead/metrics_histogram_instant")
        results.append((
            "metrics only ≤ 0.25× `metrics::histogram!` + `Instant`",
            f"{ratio:.2f}×",
            ratio <= 0.25,
        ))
    if have("overhead/alamos_span_metrics", "overhead/tracing_enabled"):
        ratio = m("overhead/alamos_span_metrics") / m("overhead/tracing_enabled")
        results.append(("span + metrics ≤ 1.2× `#[tracing::instrument]` enabled", f"{ratio:.2f}×", ratio <= 1.2))
    for row in ("alamos_disabled", "alamos_metrics_only", "alamos_span_metrics"):
        many, one = f"scaling/{row}/10000", f"scaling/{row}/1"
        if have(many, one):
            ratio = m(many) / m(one)
            results.append((f"flat scaling, {row}: 10,000 experiments within 5% of 1", f"{ratio:.3f}×", ratio <= 1.05))
    for row in ("alamos_metrics_only", "alamos_span_metrics"):
        two, one = f"threads/{row}/2", f"threads/{row}/1"
        if have(two, one):
            ratio = m(two) / m(one)
            results.append((f"two threads, {row}: ≤ 2× one thread each", f"{ratio:.2f}×", ratio <= 2.0))
    if have("render/alamos/10000", "render/direct/10000"):
        ratio = m("render/alamos/10000") / m("render/direct/10000")
        results.append(("render of 10,000 alamos callsites ≤ metrics-exporter-prometheus direct", f"{ratio:.2f}×", ratio <= 1.0))
    return results


def targets_table(runs):
    per_run = [(label, {t: (measured, met) for t, measured, met in targets(medians)}) for label, medians in runs]
    order = []
    for _, results in per_run:
        order.extend(t for t in results if t not in order)
    header = "| target |" + "".join(f" {label} | |" for label, _ in per_run)
    rule = "|---|" + "---:|---|" * len(per_run)
    lines = [header, rule]
    for target in order:
        line = f"| {target} |"
        for _, results in per_run:
            if target in results:
                measured, met = results[target]
                line += f" {measured} | {'met' if met else '**missed**'} |"
            else:
                line += " — | |"
        lines.append(line)
    return lines


def build_cost_table(build_cost):
    lines = [
        f"| build of {build_cost['functions']:,} annotated functions | alamos | tracing | ratio | target ≤ 1.0× |",
        "|---|---:|---:|---:|---|",
    ]
    for profile, figures in sorted(build_cost.get("profiles", {}).items()):
        ratio = figures["alamos_seconds"] / figures["tracing_seconds"]
        lines.append(
            f"| crate only, deps prebuilt, `{profile}` (median of {len(figures.get('alamos_runs', [])) or 1}) "
            f"| {figures['alamos_seconds']:.2f} s | {figures['tracing_seconds']:.2f} s | {ratio:.2f}× "
            f"| {'met' if ratio <= 1.0 else '**missed**'} |"
        )
    clean = build_cost.get("from_clean_dev")
    if clean:
        ratio = clean["alamos_seconds"] / clean["tracing_seconds"]
        lines.append(
            f"| from clean, deps included, `dev` | {clean['alamos_seconds']:.2f} s "
            f"| {clean['tracing_seconds']:.2f} s | {ratio:.2f}× | {'met' if ratio <= 1.0 else '**missed**'} |"
        )
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--criterion", help="criterion output directory of a single run")
    parser.add_argument(
        "--run",
        action="append",
        default=[],
        metavar="LABEL=DIR",
        help="a labelled criterion directory; repeat for one column per run",
    )
    parser.add_argument("--build-cost", help="build_cost.json (default: beside the criterion directory)")
    parser.add_argument("--stripped", action="store_true", help="print the stripped pair only")
    args = parser.parse_args()
    if args.run:
        runs = [(label, Path(directory)) for label, directory in (run.split("=", 1) for run in args.run)]
    else:
        runs = [("this run", criterion_dir(args.criterion))]
    runs = [(label, load(directory), directory) for label, directory in runs]
    for label, medians, directory in runs:
        if not medians:
            sys.exit(f"no criterion results under {directory} ({label})")

    if args.stripped:
        medians = runs[0][1]
        bare, stripped = "stripped/bare", "stripped/alamos_max_level_off"
        if bare not in medians or stripped not in medians:
            sys.exit(f"no stripped results under {runs[0][2]}")
        print(f"bare:                 median {medians[bare][0]:.3f} ns")
        print(f"alamos max_level_off: median {medians[stripped][0]:.3f} ns")
        print(f"ratio:                {medians[stripped][0] / medians[bare][0]:.3f}×")
        for target, _, met in targets(medians):
            if target.startswith("stripped"):
                print(f"target: {target}: {'met' if met else 'MISSED'}")
        return

    labelled = [(label, medians) for label, medians, _ in runs]
    lines, commands = table(labelled)
    print("\n".join(lines))
    print()
    print("| command | rows |")
    print("|---|---|")
    for command, row_ids in commands.items():
        groups = sorted({row_id.split("/")[0] for row_id in row_ids})
        print(f"| `{command}` | {', '.join(f'`{group}/*`' for group in groups)} |")
    print()
    print("\n".join(targets_table(labelled)))
    build_cost_file = Path(args.build_cost) if args.build_cost else runs[0][2].parent / "build_cost.json"
    if build_cost_file.exists():
        print()
        print("\n".join(build_cost_table(json.loads(build_cost_file.read_text()))))


if __name__ == "__main__":
    main()
