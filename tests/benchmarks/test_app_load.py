"""The load benchmark's pure parts (benchmarks/app_load.py): --think and --sweep parsing, the
seeded pauses, the sweep table and the room's verdict, on synthetic timings (no browser,
no server, no timed assertion)."""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest
from floats import assert_close


@pytest.fixture(scope="module")
def al():
    from benchmark_script import load

    return load("app_load")


def level(al, p95: dict[str, float] | float, errors: dict[str, int] | None = None,
          n: int = 20) -> dict:
    """A level's summary whose times for each interaction run evenly from 0.2 s up to the
    wanted p95 (np.percentile's linear 95th of n evenly spaced values: lo + 0.95 (hi - lo));
    ``errors``: how many per interaction ("other": between interactions)."""
    p95 = {k: p95 for k in al.INTERACTIONS} if isinstance(p95, float) else p95
    times = {}
    for kind in al.INTERACTIONS:
        if kind not in p95:
            times[kind] = []
            continue
        hi = 0.2 + (p95[kind] - 0.2) / 0.95
        times[kind] = [0.2 + (hi - 0.2) * i / (n - 1) for i in range(n)]
    at = [k for k, count in (errors or {}).items() for _ in range(count)]
    return {"times": times, "server": {k: [t / 2 for t in ts] for k, ts in times.items()},
            "errors": [f"v0: {k} did not finish" for k in at], "error_at": at, "think_s": [0.0]}


def args(al, tmp_path, *extra):
    (tmp_path / "manifest.csv").write_text("id\n")
    return al.parse_args(["--data", str(tmp_path), "--chromium", sys.executable, *extra])


# --------------------------------------------------------------------------- arguments
@pytest.mark.parametrize("given, want", [(["5-15"], (5.0, 15.0)), (["5", "15"], (5.0, 15.0)),
                                         (["10"], (10.0, 10.0)), (["0.5-2.5"], (0.5, 2.5)),
                                         (["0"], (0.0, 0.0))])
def test_think_takes_a_range_two_numbers_or_one(al, given, want):
    assert al.parse_think(given) == want


@pytest.mark.parametrize("given", [["15-5"], ["a-b"], ["1-2-3"], ["-"], ["1", "2", "3"]])
def test_think_refuses_what_is_no_range(al, given):
    with pytest.raises(ValueError, match="--think"):
        al.parse_think(given)


def test_sweep_is_sorted_unique_and_always_has_one_visitor(al):
    assert al.parse_sweep("1,2,4,8,16") == [1, 2, 4, 8, 16]
    assert al.parse_sweep("8, 2,2") == [1, 2, 8]  # 1 added: the reference of every ratio
    for bad in ("0,2", "two", ""):
        with pytest.raises(ValueError, match="--sweep"):
            al.parse_sweep(bad)


def test_parse_args_modes(al, tmp_path):
    a = args(al, tmp_path)
    assert (a.sweep, a.think, a.sessions) == (None, None, 8)  # closed loop, 8 vs 1
    a = args(al, tmp_path, "--sweep", "1,2,4,8,16", "--think", "5-15", "--pin", "1")
    assert (a.sweep, a.think, a.pin) == ([1, 2, 4, 8, 16], (5.0, 15.0), 1)
    a = args(al, tmp_path, "--think", "5", "15", "--sessions", "4")
    assert (a.sweep, a.think, a.sessions) == (None, (5.0, 15.0), 4)


@pytest.mark.parametrize("extra", [["--sweep", "1,2", "--sessions", "4"], ["--think", "9-3"],
                                   ["--sweep", "0"]])
def test_parse_args_refuses(al, tmp_path, extra, capsys):
    with pytest.raises(SystemExit):
        args(al, tmp_path, *extra)
    assert "error" in capsys.readouterr().err


# --------------------------------------------------------------------------- the pace
def test_pauses_are_seeded_per_visitor_and_stay_in_range(al):
    def draws(name, seed=0):
        pace = al.Pace((5.0, 15.0), seed, name)
        return [pace.next() for _ in range(30)]

    a = draws("L3n8v0")
    assert a == draws("L3n8v0")  # the same visitor pauses alike in every run
    assert a != draws("L3n8v1") and a != draws("L3n8v0", seed=1)
    assert all(5.0 <= s <= 15.0 for s in a)
    pace = al.Pace((5.0, 15.0), 0, "v")
    total = sum(pace.next() for _ in range(10))
    assert pace.total == pytest.approx(total)
    closed = al.Pace(None, 0, "v")
    assert [closed.next() for _ in range(3)] == [0.0, 0.0, 0.0] and closed.total == 0


# --------------------------------------------------------------------------- the server's part
def test_server_part_is_the_sessions_runs_inside_each_window(al):
    """The server's own times (its run log), not when the browser saw the messages: on a
    busy browser CPU the end of a run reaches the page seconds after the server sent it."""
    v = al.Visitor("v0", session="s1")
    v.windows = [("change case", 100.0, 104.0),  # seen 4 s after the trigger
                 ("Grad-CAM map", 110.0, 111.0),
                 ("switch page", 120.0, 121.0)]
    runs = {"s1": [(99.0, 99.5),  # the step before: started before the trigger
                   (100.5, 100.7), (100.8, 101.0),  # a run and its rerun
                   (110.2, 110.6)],
            "s2": [(120.1, 120.4)]}  # another visitor's, in this one's window
    part = al.server_part(v, runs)
    assert part["change case"] == [pytest.approx(0.5)]  # first start -> last end
    assert part["Grad-CAM map"] == [pytest.approx(0.4)]
    assert part["switch page"] == [] and part["zero-shot prompt edit"] == []
    assert al.server_part(al.Visitor("v1"), runs) == {k: [] for k in al.INTERACTIONS}  # no session seen
    both = al.summarise([v, al.Visitor("v1")], runs)
    assert both["server"]["change case"] == [pytest.approx(0.5)]
    assert al.summarise([v])["server"]["change case"] == []  # no run log (a --url server)
    v.windows.append(("warm load: Zero-shot", 130.0, 131.0))  # app_scale.py's own kinds
    runs["s1"].append((130.2, 130.5))
    assert al.server_part(v, runs)["warm load: Zero-shot"] == [pytest.approx(0.3)]


def test_sharing_tells_overlapped_runs_and_their_wait_from_runs_alone(al):
    """Why a load tail grows on one core: runs that overlap another wait about the other's CPU
    time; runs alone wait almost nothing. Only runs that started inside the phase count."""
    recs = [{"session": "a", "start": 10.0, "wall": 0.10, "cpu": 0.09},   # alone: waits 0.01 s
            {"session": "a", "start": 20.0, "wall": 0.20, "cpu": 0.10},   # overlaps b's run
            {"session": "b", "start": 20.1, "wall": 0.15, "cpu": 0.05},   # overlaps a's run
            {"session": "c", "start": 30.0, "wall": 0.05, "cpu": 0.06},   # CPU above wall: waits 0
            {"session": "c", "start": 99.0, "wall": 5.00, "cpu": 0.10}]   # after the phase
    s = al.sharing(recs, 0.0, 50.0)
    assert s["runs"] == 4 and s["overlapped"] == 0.5
    assert_close(s["wait_overlapped"][0], 0.1, atol=1e-6)  # median of 0.10 and 0.10
    assert_close(s["wait_alone"][0], 0.005, atol=1e-6)  # median of 0.01 and 0
    text = al.sharing_text(s)
    assert "4 server runs, 50.0 % overlapped another" in text and "alone 0.005/" in text
    assert al.sharing(recs, 200.0, 300.0) is None  # no run in the phase
    alone = al.sharing(recs[:1], 0.0, 50.0)
    assert alone["overlapped"] == 0.0 and alone["wait_overlapped"] is None
    assert "overlapped –" in al.sharing_text(alone)
    line = al.level_line({1: {**level(al, 1.0), "sharing": alone}}, 1)
    assert "1 server run, 0.0 % overlapped another" in line


def test_cpu_line_says_how_busy_the_pinned_browsers_kept_their_cpus(al):
    before, after = {"server": 0.0, "browser": 0.0}, {"server": 20.0, "browser": 150.0}
    line = al.cpu_line(before, after, 250.0, browser_cpus=1)
    assert "server 20 (0.08 cores)" in line and "browsers 150 (0.60 cores, 60% of their 1 CPU)" in line
    assert "of their" not in al.cpu_line(before, after, 250.0)  # not pinned: they share every CPU


def test_run_log_argument(al, tmp_path):
    assert args(al, tmp_path).run_log is None
    assert args(al, tmp_path, "--url", "http://127.0.0.1:1", "--run-log", "r.jsonl").run_log == "r.jsonl"


# --------------------------------------------------------------------------- the table
def test_sweep_table_rows_ratios_and_errors(al):
    levels = {1: level(al, 1.0), 2: level(al, 1.2), 8: level(
        al, {**{k: 1.4 for k in al.INTERACTIONS}, "Grad-CAM map": 3.0},
        {"Grad-CAM map": 2, "other": 1})}
    text = al.sweep_table(levels)
    lines = text.splitlines()
    assert "p95 / 1 visitor" in lines[0] and "errors" in lines[0]
    rows = [ln.split() for ln in lines[2:]]
    assert len(rows) == 3 * len(al.INTERACTIONS) + 1  # + the errors between interactions
    grad8 = next(r for r in rows if r[0] == "8" and r[1:3] == ["Grad-CAM", "map"])
    assert grad8[-7:-3] + grad8[-1:] == ["3.00", "20", "2", "3.00x", "1.50"]  # p95, n, errors, ratio, server
    lo, hi = (float(x.strip("[],")) for x in grad8[-3:-1])  # the ratio's interval
    assert lo < 3.0 < hi
    case2 = next(r for r in rows if r[0] == "2" and r[1:3] == ["change", "case"])
    assert case2[-6:-3] == ["20", "0", "1.20x"]
    assert rows[-1][0] == "8" and rows[-1][-1] == "1"  # errors between interactions
    assert all(r[-2] == "1.00x" for r in rows if r[0] == "1")


def test_sweep_table_without_times_shows_dashes(al):
    levels = {1: level(al, {k: 1.0 for k in al.INTERACTIONS[:3]}), 2: level(al, 1.0)}
    row = next(ln for ln in al.sweep_table(levels).splitlines()
               if ln.split()[:2] == ["1", "switch"])
    assert row.split()[3:] == ["–", "–", "0", "0", "–", "–"]
    assert "no times for switch page" in al.level_line(levels, 2)
    assert "ratio" not in al.level_line(levels, 1)  # one visitor is the reference


# --------------------------------------------------------------------------- the verdict
THINK = (5.0, 15.0)


def test_verdict_met_at_eight_visitors_within_one_and_a_half(al):
    levels = {1: level(al, 1.0), 2: level(al, 1.1), 8: level(al, 1.5), 16: level(al, 9.0)}
    met, line = al.sweep_verdict(levels, THINK)
    assert met and ": met" in line and "1.50x" in line  # at the bound; 16 visitors do not count


def test_verdict_not_met_over_the_ratio_on_one_interaction(al):
    p95 = {**{k: 1.2 for k in al.INTERACTIONS}, "switch page": 1.6}
    met, line = al.sweep_verdict({1: level(al, 1.0), 8: level(al, p95)}, THINK)
    assert not met and "NOT met" in line
    assert re.search(r"worst p95 ratio 1\.60x \[\d\.\d\d, \d\.\d\d\] \(switch page\)", line)


@pytest.mark.parametrize("where", [8, 1])
def test_verdict_not_met_with_any_error(al, where):
    levels = {1: level(al, 1.0), 8: level(al, 1.0)}
    levels[where] = level(al, 1.0, {"other": 1})
    met, line = al.sweep_verdict(levels, THINK)
    assert not met and "1 error(s)" in line


def test_verdict_needs_times_the_eight_visitors_and_a_room_pace(al):
    missing = {k: 1.0 for k in al.INTERACTIONS[:3]}
    met, line = al.sweep_verdict({1: level(al, 1.0), 8: level(al, missing)}, THINK)
    assert not met and "no times for switch page" in line
    met, line = al.sweep_verdict({1: level(al, 1.0), 2: level(al, 1.0)}, THINK)
    assert not met and "not measured" in line
    met, line = al.sweep_verdict({1: level(al, 1.0), 8: level(al, 1.0)}, None)
    assert not met and "closed loop" in line


def test_verdict_on_the_servers_part_reads_the_server_times(al):
    seen, server = level(al, 9.0), level(al, 1.2)  # browsers queue; the server keeps pace
    many = {**seen, "server": server["times"]}
    levels = {1: level(al, 1.0), 8: many}
    levels[1]["server"] = level(al, 1.0)["times"]
    assert not al.sweep_verdict(levels, THINK)[0]
    met, line = al.sweep_verdict(levels, THINK, key="server")
    assert met and "the server's part of every interaction" in line and "1.20x" in line


def test_header_names_pace_pinning_and_machine(al):
    text = al.header(THINK, 3, al.pin_text({0}, {1}), 3, "http://127.0.0.1:1", "2 cores")
    assert "uniform 5-15 s" in text and "seed 3" in text
    assert "server on CPUs [0], browsers on [1]" in text and "machine: 2 cores" in text
    assert "closed loop" in al.header(None, 0, al.pin_text(None, None), 1, "u", "x")
    assert "cores" in al.machine()


def test_closed_loop_verdict_keeps_its_target_and_takes_the_room_one(al):
    one, many = level(al, 1.0), level(al, 2.0)
    assert ": met" in al.verdict(one, many, 8)  # 2x within the closed loop's 3x
    assert "NOT met" in al.verdict(one, many, 8, al.ROOM_RATIO)


def test_report_prints_the_sweep_or_the_closed_loop(al, tmp_path, capsys):
    a = args(al, tmp_path, "--sweep", "1,8", "--think", "5-15")
    kept = al.report(a, "http://127.0.0.1:1", "no pinning", "2 cores", [level(al, 1.0), level(al, 1.2)])
    out = capsys.readouterr().out
    assert "p95 / 1 visitor" in out
    assert re.search(r"\(0 error\(s\); worst p95 ratio 1\.20x \[\d\.\d\d, \d\.\d\d\] \(change case\)\)$",
                     out.rstrip())
    assert ": met" in out and set(kept["levels"]) == {"1", "8"}
    a = args(al, tmp_path, "--sessions", "4")
    kept = al.report(a, "u", "no pinning", "2 cores", [level(al, 1.0), level(al, 2.0)])
    out = capsys.readouterr().out
    assert "4 sessions p50" in out and "within 3x of one session): met" in out
    assert set(kept) == {"one", "many"}


# --------------------------------------------------------------------------- the ratio's interval
def samples(seed: int, n: int, scale: float = 1.0) -> list[float]:
    """Step times as a server gives them: mostly near 0.2 s, a long right tail."""
    return list(scale * np.random.default_rng(seed).lognormal(np.log(0.2), 0.4, n))


def p95_ratio(one, many) -> float:
    return float(np.percentile(many, 95) / np.percentile(one, 95))


@pytest.mark.parametrize("seed, n_one, n_many", [(0, 10, 21), (1, 30, 24), (2, 20, 20), (3, 12, 30)])
def test_ratio_interval_holds_the_point_estimate(al, seed, n_one, n_many):
    one, many = samples(seed, n_one), samples(100 + seed, n_many, 1.3)
    lo, hi = al.ratio_interval(one, many)
    assert lo < p95_ratio(one, many) < hi
    assert hi - lo > 0.1  # a few dozen samples: an honest interval is wide


def test_ratio_interval_is_seeded(al):
    one, many = samples(0, 20), samples(1, 21)
    assert al.ratio_interval(one, many) == al.ratio_interval(one, many, seed=0)
    assert al.ratio_interval(one, many, seed=1) == al.ratio_interval(one, many, seed=1)
    assert al.ratio_interval(one, many, seed=1) != al.ratio_interval(one, many)


def test_ratio_interval_of_scaled_copies_is_around_the_scale(al):
    one = samples(4, 20)
    lo, hi = al.ratio_interval(one, [2 * t for t in one])
    assert lo < 2.0 < hi  # each list resampled on its own: not exactly 2, ...
    assert_close(np.sqrt(lo * hi), 2.0, atol=0.05)  # ... but 2 times a ratio as likely as its inverse
    assert_close(al.ratio_interval([0.3] * 10, [0.6] * 15), (2.0, 2.0), atol=1e-9)  # no spread: none left


@pytest.mark.parametrize("one, many", [([], [0.2, 0.3]), ([0.2, 0.3], []), ([], [])])
def test_ratio_interval_without_samples_is_none(al, one, many):
    assert al.ratio_interval(one, many) is None


def test_ratio_text(al):
    assert al.ratio_text(1.5838, (1.2149, 2.3)) == "1.58x [1.21, 2.30]"
    assert al.ratio_text(2.04, (1.61, 2.33), 1) == "2.0x [1.6, 2.3]"
    assert al.ratio_text(1.0, None) == "1.00x"


def test_sweep_table_shows_each_ratios_interval_and_stays_aligned(al):
    levels = {1: level(al, 1.0), 8: level(al, {**{k: 1.4 for k in al.INTERACTIONS}, "Grad-CAM map": 73.5})}
    lines = al.sweep_table(levels).splitlines()
    assert "[95 % CI]" in lines[0]
    assert {len(ln) for ln in lines} == {len(lines[0])}  # a 73x ratio's interval fits its column
    for kind in al.INTERACTIONS:
        row = next(ln for ln in lines if ln.split()[0] == "8" and kind in ln)
        interval = al.ratio_interval(levels[1]["times"][kind], levels[8]["times"][kind])
        assert interval is not None and f"x [{interval[0]:.2f}, {interval[1]:.2f}]" in row
    assert all("[" not in ln for ln in lines[2:] if ln.split()[0] == "1")  # the reference: 1 by definition
    line = al.level_line(levels, 8)
    iv = al.ratio_interval(levels[1]["times"]["Grad-CAM map"], levels[8]["times"]["Grad-CAM map"])
    assert f"worst p95 ratio {al.ratio_text(73.5, iv)} (Grad-CAM map)" in line


def test_verdict_says_when_the_interval_spans_the_target(al):
    spans = "the interval spans 1.5x: more samples"
    one = level(al, 1.0)
    met, line = al.sweep_verdict({1: one, 8: level(al, 1.45)}, THINK)  # met, [1.20, 1.68]
    assert met and "1.45x [" in line and "span 1.5x: more samples" in line
    met, line = al.sweep_verdict({1: one, 8: level(al, {**{k: 1.0 for k in al.INTERACTIONS},
                                                         "switch page": 1.6})}, THINK)
    assert not met and line.endswith(f"(switch page); {spans} (--loops, --ref-loops) would settle it)")
    for p95 in (1.0, 2.5):  # met or not beyond the intervals: nothing to add
        assert "more samples" not in al.sweep_verdict({1: one, 8: level(al, p95)}, THINK)[1]
    p95 = {**{k: 1.0 for k in al.INTERACTIONS}, "switch page": 1.6, "change case": 2.5}
    met, line = al.sweep_verdict({1: one, 8: level(al, p95)}, THINK)
    assert not met and "more samples" not in line  # the case change is over beyond doubt
    met, line = al.sweep_verdict({1: one, 8: level(al, 1.45, {"other": 1})}, THINK)
    assert not met and "more samples" not in line  # an error decides it


def test_unsettled_names_the_intervals_that_span_the_target(al):
    ratios = {"a": 1.4, "b": 1.2}
    assert al.unsettled(ratios, {"a": (1.3, 1.45), "b": (1.0, 1.4)}, 1.5) == ""
    assert al.unsettled(ratios, {"a": (1.3, 1.6), "b": (1.0, 1.4)}, 1.5).startswith("the interval spans 1.5x")
    assert al.unsettled(ratios, {"a": (1.3, 1.4), "b": (1.0, 1.6)}, 1.5).startswith("the interval of b spans")
    assert al.unsettled(ratios, {"a": (1.3, 1.6), "b": (1.0, 1.6)}, 1.5).startswith("the intervals of a, b span")
    over = {"a": 1.7, "b": 1.2}
    assert al.unsettled(over, {"a": (1.4, 1.9), "b": (1.0, 1.6)}, 1.5).startswith("the interval spans")
    assert al.unsettled(over, {"a": (1.55, 1.9), "b": (1.0, 1.6)}, 1.5) == ""


def test_closed_loop_table_and_verdict_show_the_interval(al):
    one, many = level(al, 1.0), level(al, 2.0)
    interval = al.ratio_interval(one["times"]["change case"], many["times"]["change case"])
    want = al.ratio_text(2.0, interval, 1)
    assert want.startswith("2.0x [") and want in al.table(one, many, 8).splitlines()[2]
    line = al.verdict(one, many, 8)
    assert f"met (worst p95 ratio {want} (change case))" in line and "more samples" not in line
    assert "8 browser sessions" in line
    line = al.verdict(one, level(al, 1.45), 8, al.ROOM_RATIO)
    assert ": met" in line and line.endswith("span 1.5x: more samples (--loops, --ref-loops) would settle it")
