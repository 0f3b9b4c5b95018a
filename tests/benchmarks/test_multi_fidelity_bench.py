"""benchmarks/multi_fidelity.py's arithmetic: stopped trials cost energy but add no hypervolume; the energy each
sweep spends to reach 95% of the plain sweep's final hypervolume; their ratio and the final hypervolumes."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
from multi_fidelity import compare, hv_curve, reference, summarise


def row(state: str, energy: float, acc: float | None, j: float | None, stopped: int | None = None, p: int = 0):
    return {"state": state, "energy_J": energy, "acc": acc, "j_per_sample": j, "stopped_at_epoch": stopped,
            "params": {"width": p}}  # fmt: skip


def test_stopped_trials_cost_energy_and_add_no_hypervolume() -> None:
    rows = [row("COMPLETE", 10, 0.8, 0.5), row("PRUNED", 2, 0.1, 0.1, stopped=1), row("COMPLETE", 10, 0.9, 0.4)]
    ref = reference(rows)
    assert ref == pytest.approx((0.0, 0.55))
    curve = hv_curve(rows, ref)
    assert [e for e, _ in curve] == [10, 12, 22]
    assert [h for _, h in curve] == pytest.approx([0.8 * 0.05, 0.8 * 0.05, 0.9 * 0.15])


def test_ratio_to_ninety_five_percent_of_the_plain_front() -> None:
    plain = [row("COMPLETE", 40, 0.5, 1.0, p=1), row("COMPLETE", 40, 0.9, 0.5, p=2), row("COMPLETE", 40, 0.2, 2.0, p=3)]
    mf = [row("COMPLETE", 40, 0.5, 1.0, p=1), row("COMPLETE", 40, 0.9, 0.5, p=2), row("PRUNED", 10, 0.2, 2.0, 1, p=3)]
    s = compare(plain, mf)
    # reference J = 1.1 x 2.0 (plain's dear trial); both fronts are {(0.9, 0.5)} after trial 1, at 80 J
    assert s["paired"] and s["n_stopped"] == 1
    assert s["final_hv"]["plain"] == pytest.approx(0.9 * 1.7) == pytest.approx(s["final_hv"]["mf"])
    assert s["energy_to_target_J"] == {"plain": 80, "mf": 80} and s["ratio"] == 1.0
    assert s["total_J"] == {"plain": 120, "mf": 90}
    never = compare(plain, [row("COMPLETE", 40, 0.5, 1.0, p=1), row("PRUNED", 5, 0.9, 0.5, 1, p=2)])
    assert never["energy_to_target_J"]["mf"] is None and never["ratio"] is None
    q = summarise([s, never])
    assert q["seeds_target_not_reached_by_mf"] == 1 and q["energy_ratio_to_target_quartiles"] == (1.0, 1.0, 1.0)


def test_the_front_reference_shows_a_stopped_front_point_that_the_box_reference_hides() -> None:
    from multi_fidelity import BOX, FRONT, front_reference, front_stopped

    plain = [row("COMPLETE", 9, 0.97, 10, p=1), row("COMPLETE", 9, 0.99, 100, p=2), row("COMPLETE", 9, 0.90, 1, p=3)]
    mf = [plain[0], row("PRUNED", 1, 0.5, 100, 1, p=2), plain[2]]
    assert front_stopped(plain, mf) == (1, 3)
    assert front_reference(plain, mf) == pytest.approx((-0.891, 109.9))
    box, front = compare(plain, mf, ref_kind=BOX), compare(plain, mf, ref_kind=FRONT)
    box_ratio = box["final_hv"]["mf"] / box["final_hv"]["plain"]
    front_ratio = front["final_hv"]["mf"] / front["final_hv"]["plain"]
    assert box_ratio == pytest.approx(105.1 / 105.3) and box_ratio > 0.995
    assert front_ratio == pytest.approx(7.9731 / 8.1711, abs=1e-6) and front_ratio < 0.98
    with pytest.raises(ValueError, match="reference 'nadir' is not allowed: one of box, front"):
        compare(plain, mf, ref_kind="nadir")


def test_the_report_names_the_trial_that_reaches_the_target_and_renders_again_from_the_saved_json(tmp_path) -> None:
    import json

    from _sweep_runs import trials_to_reach
    from multi_fidelity import GOAL_KEY, LOG, main, report

    assert trials_to_reach([(10.0, 0.0), (25.0, 0.5), (30.0, 0.9)], 0.5) == 2
    assert trials_to_reach([(10.0, 0.0)], 0.5) is None
    plain = [row("COMPLETE", 40, 0.5, 1.0, p=1), row("COMPLETE", 40, 0.9, 0.5, p=2), row("COMPLETE", 40, 0.2, 2.0, p=3)]
    mf = [row("COMPLETE", 40, 0.5, 1.0, p=1), row("PRUNED", 5, 0.9, 0.5, 1, p=2), row("COMPLETE", 40, 0.9, 0.5, p=3)]
    seed = {"seed": 0, **compare(plain, mf), LOG: compare(plain, mf, LOG)}
    q = summarise([seed])
    args = {"seeds": "1", "trials": "3", "epochs": "9", "eta": "3", "rank": "nds_hv", "keep_front": "true",
            "jobs": "1", "threads": "1"}  # fmt: skip
    result = {"args": args, "wall_s": 1.0, "load_average_1_5_15min": {"start": [0, 0, 0], "end": [1, 1, 1]},
              "cpus": 2, GOAL_KEY: "NOT MET", "summary": q, "summary_on_log_energy": summarise([seed[LOG]]),
              "seeds": [seed]}  # fmt: skip
    saved = tmp_path / "multi_fidelity.json"
    saved.write_text(json.dumps(result))
    assert main(["--report", str(saved)]) == 0
    # plain reaches 95% of its front with its second trial, mf (whose second trial stopped) with its third
    assert seed["energy_to_target_J"] == {"plain": 80, "mf": 85}
    text = report(result)
    assert "| 80 | 85 | 2 / 3 | 106% |" in text
    # plain's front is its second trial alone, which mf stopped (its third trial is the same point)
    assert text.splitlines()[4].endswith("| 100% | 1 of 1 |")
    assert "front trials that the multi-fidelity sweep stopped: 1 of 1 (paired seeds: 1 of 1)" in text
    with pytest.raises(SystemExit):
        main(["--report", str(tmp_path / "missing.json")])
    # a run saved before keep_front, threads and the log10 summary existed renders too (top-only, unset threads)
    old = {**result, "args": {k: v for k, v in args.items() if k not in ("keep_front", "threads")}}
    del old["summary_on_log_energy"]
    assert "keep_front=false" in report(old) and "OMP_NUM_THREADS unset" in report(old)
    assert report(old).splitlines()[4:] == text.splitlines()[4:]


def test_replay_stops_by_the_rule_and_charges_the_epochs_run() -> None:
    from multi_fidelity_replay import replay

    from ecopt_lightning.sweeper.successive_halving import RungSchedule

    def trial(n: int, accs: list[float], j: float, total: float) -> dict:
        curves = {"val_acc": accs, "energy/train_epoch_J": [10.0] * 3, "energy/val_epoch_J": [1.0] * 3}
        return {**row("COMPLETE", total, accs[-1], j, p=n), "number": n, "curves": curves}

    plain = [
        trial(0, [0.8, 0.9, 0.95], 1.0, 40.0),
        trial(1, [0.5, 0.6, 0.7], 2.0, 40.0),  # dominated by 0 at epoch 1
        trial(2, [0.9, 0.92, 0.93], 0.5, 40.0),  # dominates 0 and 1 at epoch 1
    ]
    sim = replay(plain, RungSchedule(1, 2, 3), 3)  # rungs 1, 2; eta 2
    # 0 alone at both rungs; 1: n=2 keep 1, dominated: stopped after epoch 1, charged 40 - 2 x (10 + 1) = 18 J;
    # 2 at rung 1: n=3 keep 1, first; at rung 2 beside 0 (0.92, 0.5) dominates (0.9, 1.0): first of 2, goes on
    assert [r["state"] for r in sim] == ["COMPLETE", "PRUNED", "COMPLETE"]
    assert sim[1]["stopped_at_epoch"] == 1 and sim[1]["energy_J"] == pytest.approx(18.0) and sim[1]["acc"] == 0.5
    assert sim[0]["energy_J"] == sim[2]["energy_J"] == 40.0 and "curves" not in sim[0]


def test_replay_over_orders_counts_the_orders_that_stop_the_front_defining_trial() -> None:
    from multi_fidelity_replay import over_orders, reordered

    from ecopt_lightning.sweeper.successive_halving import RungSchedule

    def trial(n: int, accs: list[float]) -> dict:
        curves = {"val_acc": accs, "energy/train_epoch_J": [10.0] * 2, "energy/val_epoch_J": [0.0] * 2}
        return {**row("COMPLETE", 20.0, accs[-1], 1.0, p=n), "number": n, "curves": curves}

    # same J/sample; C starts slowest and ends best, so C alone makes the target (A's final 0.91 < 95% of 0.99);
    # at the one rung (epoch 1, eta 2) C is dominated by whoever came before it: it goes on only when first
    plain = [trial(0, [0.9, 0.91]), trial(1, [0.5, 0.6]), trial(2, [0.1, 0.99])]
    shuffled = reordered(plain, __import__("random").Random(1))
    assert [r["number"] for r in shuffled] == [0, 1, 2]
    assert sorted(r["params"]["width"] for r in shuffled) == [0, 1, 2]
    out = over_orders(plain, RungSchedule(1, 2, 2), 2, 300, seed=0)
    assert 0.55 < out["mf_never_share"] < 0.78  # 2/3 of the orders put C after another trial
    assert out["ratio"] == 1.0  # C first: both arms train it in full and reach the target with it


def test_log_energy_scale_measures_the_hypervolume_on_log10_j_per_sample() -> None:
    from multi_fidelity import LOG

    plain = [row("COMPLETE", 10, 0.9, 1e-4, p=0), row("COMPLETE", 10, 0.5, 1e-6, p=1)]
    mf = [row("COMPLETE", 10, 0.9, 1e-4, p=0), row("PRUNED", 2, 0.4, 1e-6, stopped=1, p=1)]
    # log: J/sample over the most frugal model's, so (0.9, 2) and (0.5, 0), reference (0, 1.1 x 2): the frugal
    # model covers 0.5 x 2.2, the accurate one adds 0.4 x 0.2; linear: reference J 1.1e-4, 0.5 x 1.09e-4 + 0.4 x 1e-5
    log, linear = compare(plain, mf, LOG), compare(plain, mf)
    assert log["final_hv"]["plain"] == pytest.approx(0.5 * 2.2 + 0.4 * 0.2)
    assert linear["final_hv"]["plain"] == pytest.approx(0.5 * 1.09e-4 + 0.4 * 1e-5)
    assert log["final_hv"]["mf"] == pytest.approx(0.9 * 0.2) and log["ratio"] is None  # mf stopped the frugal one
    with pytest.raises(ValueError, match="energy scale 'ln' is not allowed: one of linear, log"):
        compare(plain, mf, "ln")


def test_replay_ranks_on_log_energy_as_the_sweeper_does_keeping_the_frugal_end_the_linear_rule_dropped() -> None:
    from multi_fidelity_replay import replay

    from ecopt_lightning.sweeper.successive_halving import RungSchedule

    def trial(n: int, acc: float, j: float) -> dict:
        curves = {"val_acc": [acc, acc], "energy/train_epoch_J": [10.0] * 2, "energy/val_epoch_J": [0.0] * 2}
        return {**row("COMPLETE", 20.0, acc, j, p=n), "number": n, "curves": curves}

    # at the one rung (epoch 1, eta 2) the last trial, B, ranks among M, A, D: D is dominated (and, inside the
    # front's box, moves no reference); on the front A, M, B the frugal B adds 0.03 x 9e-6 J on the linear axis
    # (least: dropped) but 0.03 x 1 decade on the log axis, where the accurate A adds least (0.05 x 0.2): with 2
    # of 4 going on, B stops on one axis and goes on on the other (A, the second trial, ties with M and stops as
    # the later one; its rung value still counts)
    plain = [trial(0, 0.85, 1e-5), trial(1, 0.9, 1e-4), trial(2, 0.7, 1e-4), trial(3, 0.6, 1e-6)]
    schedule = RungSchedule(1, 2, 2, keep_front=False)  # the tie-break alone
    assert [r["state"] for r in replay(plain, schedule, 2, "linear")] == ["COMPLETE", "PRUNED", "PRUNED", "PRUNED"]
    assert [r["state"] for r in replay(plain, schedule, 2)] == ["COMPLETE", "PRUNED", "PRUNED", "COMPLETE"]  # log
    # keep_front (the sweeper's default): A and B are on the front at the rung and go on whatever their place
    kept = replay(plain, RungSchedule(1, 2, 2), 2, "linear")
    assert [r["state"] for r in kept] == ["COMPLETE", "COMPLETE", "PRUNED", "COMPLETE"]


def test_a_stopped_trial_pays_the_short_measurement_and_one_that_goes_on_a_second_warm_up() -> None:
    from multi_fidelity_replay import replay, stopped_cost

    from ecopt_lightning.sweeper.successive_halving import RungSchedule

    def trial(n: int, acc: float, j: float) -> dict:
        curves = {"val_acc": [acc, acc], "energy/train_epoch_J": [4.0] * 2, "energy/val_epoch_J": [1.0] * 2,
                  "benchmark": {"energy_J": 6.0, "repeats": 6.0, "warmup_J": 2.0}}  # fmt: skip
        return {**row("COMPLETE", 20.0, acc, j, p=n), "number": n, "curves": curves}

    # a full trial: 20 J, 6 of them its benchmark (2 J warm-up, 6 repeats of 2/3 J); stopped after epoch 1 of 2
    # with a 3-repeat benchmark (2 + 3 x 2/3 = 4 J): 20 - (4 + 1) - (6 - 4) = 13 J; as measured: 20 - 5 = 15 J
    t = trial(0, 0.9, 1.0)
    assert stopped_cost(t, 1, 2, 3) == pytest.approx(13.0) and stopped_cost(t, 1, 2, None) == pytest.approx(15.0)
    # 0 goes on alone (it could not be stopped: it measures once, in full); 1 and 3 are on the front at a rung
    # where they could have been stopped (eta 2: two or more there): each continues its short measurement there,
    # which adds a second warm-up, 2 J; 2, dominated, stops
    plain = [trial(0, 0.9, 1.0), trial(1, 0.95, 2.0), trial(2, 0.5, 3.0), trial(3, 0.99, 0.5)]
    sim = replay(plain, RungSchedule(1, 2, 2), 2, rung_repeats=3)
    assert [r["state"] for r in sim] == ["COMPLETE", "COMPLETE", "PRUNED", "COMPLETE"]
    assert [r["energy_J"] for r in sim] == pytest.approx([20.0, 22.0, 13.0, 22.0])


def test_the_oracles_reach_the_target_every_time_and_the_target_oracle_for_the_least_energy() -> None:
    from multi_fidelity_replay import ORACLE, TARGET_ORACLE, over_orders

    from ecopt_lightning.sweeper.successive_halving import RungSchedule

    def trial(n: int, accs: list[float], j: float) -> dict:
        curves = {"val_acc": accs, "energy/train_epoch_J": [10.0] * 2, "energy/val_epoch_J": [0.0] * 2}
        return {**row("COMPLETE", 20.0, accs[-1], j, p=n), "number": n, "curves": curves}

    # C starts slowest and ends best: the rule stops it whenever a trial came first; the oracles know better
    pool = [
        trial(0, [0.9, 0.91], 1.0),
        trial(1, [0.5, 0.6], 1.0),
        trial(2, [0.1, 0.99], 1.0),
        trial(3, [0.4, 0.45], 2.0),
    ]
    schedule = RungSchedule(1, 2, 2)
    rule = over_orders(pool, schedule, 2, 50, seed=0)
    front = over_orders(pool, schedule, 2, 50, seed=0, rule=ORACLE)
    target = over_orders(pool, schedule, 2, 50, seed=0, rule=TARGET_ORACLE)
    assert rule["mf_never_share"] > 0 and front["mf_never_share"] == target["mf_never_share"] == 0
    assert target["ratio"] <= front["ratio"] < 1.0


def test_pooled_draws_replay_sweeps_of_the_drawn_size() -> None:
    from multi_fidelity_replay import over_orders

    from ecopt_lightning.sweeper.successive_halving import RungSchedule

    def trial(n: int, accs: list[float]) -> dict:
        curves = {"val_acc": accs, "energy/train_epoch_J": [10.0] * 2, "energy/val_epoch_J": [0.0] * 2}
        return {**row("COMPLETE", 20.0, accs[-1], 1.0, p=n), "number": n, "curves": curves}

    pool = [trial(0, [0.9, 0.91]), trial(1, [0.5, 0.6]), trial(2, [0.1, 0.99])]
    schedule = RungSchedule(1, 2, 2)
    whole = over_orders(pool, schedule, 2, 100, seed=0)
    assert whole["mf_never_share"] > 0.5  # as in the test above: C stopped whenever another trial came first
    single = over_orders(pool, schedule, 2, 100, seed=0, draw=1)
    # a sweep of one trial: it is alone at the rung, so it goes on, and both arms reach the target with it
    assert single["mf_never_share"] == 0.0 and single["ratio"] == 1.0 and single["draw"] == 1


def test_replay_options_are_checked_in_one_line(tmp_path) -> None:
    from multi_fidelity_replay import main

    for bad in (["--brackets", "0"], ["--orders", "-1"], ["--promotion", "--brackets", "2"]):
        with pytest.raises(SystemExit) as stop:
            main([*bad, "--work", str(tmp_path)])
        assert stop.value.code == 2  # argparse's usage error, before anything is read


def test_promotion_resumes_a_paused_trial_once_its_rung_has_room_where_stopping_on_arrival_loses_it() -> None:
    from multi_fidelity_replay import per_trial, replay, replay_promotion

    from ecopt_lightning.sweeper.successive_halving import RungSchedule

    def trial(n: int, accs: list[float]) -> dict:
        curves = {"val_acc": accs, "energy/train_epoch_J": [10.0] * 2, "energy/val_epoch_J": [0.0] * 2}
        return {**row("COMPLETE", 20.0, accs[-1], 1.0, p=n), "number": n, "curves": curves}

    plain = [trial(0, [0.9, 0.91]), trial(1, [0.5, 0.6]), trial(2, [0.4, 0.99]), trial(3, [0.45, 0.5])]
    schedule = RungSchedule(1, 2, 2, keep_front=False)
    # on arrival trial 1 ranks 2nd of 2 (the top 1 go on): stopped for good; paused, it goes up once 4 trials are
    # at the rung (the top 2 go on)
    assert [r["state"] for r in replay(plain, schedule, 2)] == ["COMPLETE", "PRUNED", "PRUNED", "PRUNED"]
    work = replay_promotion(plain, schedule, 2)
    assert [(r["segment_of"], r["state"]) for r in work] == [
        (0, "PAUSED"), (1, "PAUSED"), (0, "COMPLETE"), (2, "PAUSED"), (3, "PAUSED"), (1, "COMPLETE")
    ]  # fmt: skip
    trials = per_trial(plain, work)
    assert [(r["state"], r["energy_J"], r["stopped_at_epoch"]) for r in trials] == [
        ("COMPLETE", 20.0, None), ("COMPLETE", 20.0, None), ("PAUSED", 10.0, 1), ("PAUSED", 10.0, 1)
    ]  # fmt: skip
    assert sum(r["energy_J"] for r in work) == sum(r["energy_J"] for r in trials) == 60.0


def test_the_mnist1d_job_fits_the_main_jobs_mlp_on_generated_signals(monkeypatch, tmp_path) -> None:
    """``--job mnist1d``: the digits main job's ``run`` on MNIST-1D, generated offline once and loaded by every trial
    (benchmarks/mnist1d_job.py); the classifier takes its 40 features, the split is the digits job's."""
    import types

    import mnist1d_job
    from hydra import compose, initialize_config_dir

    swapped = types.SimpleNamespace(DigitsDataModule=None, DigitsClassifier=lambda **kw: kw)
    mnist1d_job.use_in(swapped)
    assert swapped.DigitsDataModule is mnist1d_job.Mnist1dDataModule
    assert swapped.DigitsClassifier(width=8) == {"width": 8, "inputs": mnist1d_job.FEATURES}

    monkeypatch.setenv(mnist1d_job.DATA_ENV, str(mnist1d_job.generate(tmp_path / "m1d.npz")))
    monkeypatch.syspath_prepend(str(Path(__file__).parents[2] / "examples"))
    monkeypatch.chdir(tmp_path)
    import train

    monkeypatch.setattr(train, "DigitsDataModule", mnist1d_job.Mnist1dDataModule)
    monkeypatch.setattr(train, "DigitsClassifier", functools.partial(train.DigitsClassifier, inputs=40))
    with initialize_config_dir(str(Path(__file__).parents[2] / "conf"), version_base=None):
        cfg = compose("train", ["trainer.max_epochs=1", "trainer.accelerator=cpu", "energy.inference_benchmark=false"])
    metrics = train.run(cfg)
    assert 0.0 <= metrics["val_acc"] <= 1.0 and 0.0 <= metrics["test_acc"] <= 1.0
    dm = mnist1d_job.Mnist1dDataModule()
    dm.setup("fit")
    assert [len(dm.splits[k]) for k in ("train", "val", "test")] == [3200, 800, 1000]


def test_with_final_values_known_the_rule_keeps_a_late_riser_the_first_rung_stops() -> None:
    """``--final-known`` (replay only): the rule sees each trial's final val_acc at every rung, a rule with perfect
    prediction; the trial's energy and final values stay as measured."""
    from multi_fidelity_replay import final_known, replay

    from ecopt_lightning.sweeper.successive_halving import RungSchedule

    def trial(n: int, accs: list[float], j: float) -> dict:
        curves = {"val_acc": accs, "energy/train_epoch_J": [10.0] * 3, "energy/val_epoch_J": [1.0] * 3}
        return {**row("COMPLETE", 40.0, accs[-1], j, p=n), "number": n, "curves": curves}

    # 1 is dominated by 0 at epoch 1 (same J/sample, lower accuracy) but ends above it
    plain = [trial(0, [0.8, 0.85, 0.9], 1.0), trial(1, [0.5, 0.8, 0.95], 1.0)]
    assert [r["state"] for r in replay(plain, RungSchedule(1, 2, 3), 3)] == ["COMPLETE", "PRUNED"]
    known = [final_known(r) for r in plain]
    assert known[1]["curves"]["val_acc"] == [0.95] * 3 and known[1]["acc"] == plain[1]["acc"]
    assert known[1]["curves"]["energy/train_epoch_J"] == plain[1]["curves"]["energy/train_epoch_J"]
    assert [r["state"] for r in replay(known, RungSchedule(1, 2, 3), 3)] == ["COMPLETE", "COMPLETE"]
