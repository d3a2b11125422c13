"""Serving: in-process cost against its irreducible parts, and HTTP percentiles for every decision's main route.

One run prints one table (and writes it as JSON with ``--out``):

- in-process, one request at a time, on the models the service loads: ``Runtime.run`` for 1 id of each route,
  against its irreducible parts timed alone in the same process (the online store read of one id, and each LightGBM
  booster's predict of that one row), over random known users as the requests are (and, for context, on one user
  repeated, which flatters the floor: its pages and tree paths stay hot); TreeSHAP reasons (opt-in) as extra cost
  per explained row;
- the service (``bentoml serve serving.service:ShopSense`` started on 127.0.0.1, or ``--url``) driven from a
  separate load-generator process (httpx clients on threads, keep-alive) for ``--seconds`` per cell: each route's
  main request with 1 id at concurrency 1, 8 and 32, and ``/churn/predict`` with 100 ids.

Goals (issue 15, 2 cores): in-process 1 id <= 3x its irreducible parts; ``/churn/predict`` 1 id at concurrency 8
p99 <= 25 ms and <= 3x the in-process p50; throughput at concurrency 32 reported with its p99.

    SHOPSENSE_DATA_DIR=<demo data> .venv/bin/python benchmarks/bench_serving.py --seconds 15
    ... --routes churn tiering            # only these routes
    ... --batching both                   # also with SHOPSENSE_SERVING_BATCHING=false
    ... --url http://127.0.0.1:3000 --key KEY   # a server that is already running
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from serving import local_server  # noqa: E402

LOCALHOST = ("127.0.0.1", "localhost", "[::1]")
COMMAND = "SHOPSENSE_DATA_DIR=<demo data> .venv/bin/python benchmarks/bench_serving.py"

#: decision -> (main route, entity of its ids, request body from a list of ids)
ROUTES: dict[str, tuple[str, str, Callable[[list[str]], dict[str, Any]]]] = {
    "churn": ("/churn/predict", "user", lambda ids: {"user_ids": ids}),
    "tiering": ("/users/tier", "user", lambda ids: {"user_ids": ids}),
    "demand": ("/demand/forecast", "sku", lambda ids: {"sku_ids": ids}),
    "reviews": ("/reviews/score", "review", lambda ids: {"review_ids": ids}),
    "recommend": ("/recommend/user", "user", lambda ids: {"user_id": ids[0]}),
}
#: entity -> (feature file, id column) whose ids the online store holds
ENTITY_IDS = {"user": ("user.parquet", "user_id"), "sku": ("sku.parquet", "sku_id"), "review": ("review.parquet", "review_id")}  # fmt: skip


def _stats(samples_s: list[float], seconds: float) -> dict[str, float]:
    if not samples_s:
        return {"n": 0, "p50": float("nan"), "p95": float("nan"), "p99": float("nan"), "rps": 0.0}
    p50, p95, p99 = np.percentile(np.array(samples_s) * 1e3, [50, 95, 99])
    return {"n": len(samples_s), "p50": p50, "p95": p95, "p99": p99, "rps": len(samples_s) / seconds}


def _timed(fn: Callable[[], Any], seconds: float, min_calls: int = 20) -> dict[str, float]:
    """Percentiles (ms) of ``fn`` called back to back for ``seconds`` (at least ``min_calls`` times)."""
    samples: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(samples) < min_calls:
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return _stats(samples, seconds)


# -- load generator (runs in its own process) -------------------------------------------------------------------


def loadgen(url: str, key: str, route: str, ids: list[str], batch: int, concurrency: int, seconds: float) -> dict:
    """``concurrency`` threads, each with its own keep-alive client, posting ``route``'s request until the deadline."""
    import httpx

    path, _, body = ROUTES[route]
    deadline = time.perf_counter() + seconds
    samples: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency

    def worker(i: int) -> None:
        rng = random.Random(i)
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            while time.perf_counter() < deadline:
                request = body(rng.sample(ids, batch))
                started = time.perf_counter()
                response = client.post(path, json=request)
                elapsed = time.perf_counter() - started
                if response.status_code == 200:
                    samples[i].append(elapsed)
                else:
                    errors[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result = _stats([s for per in samples for s in per], time.perf_counter() - started)
    return result | {"errors": sum(errors)}


def run_loadgen_process(
    url: str, key: str, route: str, ids_file: Path, batch: int, concurrency: int, seconds: float
) -> dict:
    command = [sys.executable, __file__, "--loadgen", url, "--key", key, "--route", route, "--ids-file", str(ids_file)]
    command += ["--batch", str(batch), "--concurrency", str(concurrency), "--seconds", str(seconds)]
    done = subprocess.run(
        command, capture_output=True, text=True, check=True, env=os.environ | {"OMP_NUM_THREADS": "1"}
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- in-process -------------------------------------------------------------------------------------------------


def _runtime(decisions: list[str]) -> Any:
    from features.settings import get_settings
    from serving import model_store
    from serving.runtime import Runtime
    from serving.state import freeze_loaded

    settings = get_settings()
    model_store.use_bentoml_home(settings)
    served = {}
    for name in decisions:
        try:
            served[name] = model_store.load_from_store(name)
        except Exception as err:  # a decision without a stored champion is left out of the table, said why
            print(f"  {name}: not loaded ({type(err).__name__}: {err})")
    runtime = Runtime(served, Runtime.open_reader(settings), settings.cache_dir)
    freeze_loaded()  # as the service does once its models are loaded: collections then skip them
    return runtime


def _job(decision: str, ids: list[str], **params: Any) -> Any:
    """The job the service builds for ``decision``'s main route with these ids (the route's own request parsing)."""
    from serving.runtime import Job
    from training import decisions

    path, _, body = ROUTES[decision]
    route = next(r for r in decisions.get(decision).routes if r.path == path)
    call = route.call(route.request.model_validate(body(ids) | params))
    return Job(ids=call.ids, params=dict(call.params), unknown_status=route.unknown_status)


def irreducible(runtime: Any, decision: str, users: list[str], seconds: float) -> dict[str, dict[str, float]]:
    """The parts no implementation avoids, each timed alone: the store read of one id, each booster on its row.

    Each part cycles through ``users``, one id per call. Why: the in-process figure reads a random user per request;
    timed on one id repeated, the read hits the same SQLite pages and each booster walks one path its branch
    predictor has learnt, a floor no request of a random user reaches (:func:`run` times both ways).
    """
    from features.store.layout import key_columns
    from models.btyd import with_btyd_block

    plan = runtime.plan(decision)
    service = plan.lookups[0]
    layout = runtime.reader.layout(service)
    batches = itertools.cycle([[user] for user in users])
    get = _timed(lambda: runtime.reader.get(service, next(batches)), seconds)
    if runtime._raw is None:  # no SQLite fast path (Redis): the reader's own call is the store read
        out = {"lookup (store read, 1 id)": get}
    else:
        read, keys = runtime._raw.read, itertools.cycle([key_columns(layout, [user]) for user in users])
        out = {"lookup (store read, 1 id)": _timed(lambda: read(layout, next(keys), 1), seconds)}
        out["reader.get (store read + frame)"] = get
    matrix, _ = runtime._lookup(plan, users)
    for served in [*(m for m, _ in plan.upstream), plan.served]:
        x = matrix[:, plan.positions[served.decision]]
        rows = [x[i : i + 1] for i in range(len(x))]
        regressor, classifier = getattr(served.model, "regressor", None), getattr(served.model, "classifier", None)
        if regressor is not None:  # the LTV booster on the row it predicts from (BG/NBD columns included)
            names = tuple(regressor.feature_names_)
            inputs = (
                rows
                if regressor.btyd_ is None
                else [with_btyd_block(regressor.btyd_, r, names, regressor.btyd_horizon_days) for r in rows]
            )
            ready = itertools.cycle(inputs)
            out[f"{served.decision} booster predict (1 row)"] = _timed(
                lambda b=regressor.booster_, r=ready: b.predict(next(r), num_threads=1), seconds
            )
            if regressor.btyd_ is not None:  # model work the floor leaves out: shown beside it
                raw = itertools.cycle(rows)
                out[f"{served.decision} BG/NBD inputs (1 row)"] = _timed(
                    lambda m=regressor, r=raw, n=names: with_btyd_block(m.btyd_, next(r), n, m.btyd_horizon_days),
                    seconds,
                )
        if classifier is not None:
            if getattr(classifier, "btyd_", None) is not None:
                raw = itertools.cycle(rows)
                out[f"{served.decision} BG/NBD inputs (1 row)"] = _timed(
                    lambda c=classifier, r=raw: c.model_array(next(r)), seconds
                )
            ready = itertools.cycle([classifier.model_array(r) for r in rows])
            out[f"{served.decision} booster predict (1 row)"] = _timed(
                lambda c=classifier, r=ready: c.booster_.predict(next(r), raw_score=True, num_threads=1), seconds
            )
    return out


def shap_per_row(runtime: Any, users: list[str], seconds: float) -> dict[str, float]:
    """TreeSHAP cost per explained row: the booster's ``pred_contrib`` on 100 rows, and the whole route's extra."""
    plan = runtime.plan("churn")
    matrix, _ = runtime._lookup(plan, users[:100])
    classifier = plan.served.model.classifier
    rows = classifier.model_array(matrix[:, plan.positions["churn"]])
    contrib = _timed(lambda: classifier.booster_.predict(rows, pred_contrib=True), seconds)
    plain = _timed(lambda: runtime.run("churn", [_job("churn", users[:100])]), seconds)
    explained = _timed(lambda: runtime.run("churn", [_job("churn", users[:100], explain=True)]), seconds)
    one = _timed(lambda: runtime.run("churn", [_job("churn", users[:1], explain=True)]), seconds)
    return {
        "pred_contrib_ms_per_row": contrib["p50"] / len(rows),
        "route_extra_ms_per_row": (explained["p50"] - plain["p50"]) / len(rows),
        "churn_1_id_explain_p50_ms": one["p50"],
    }


def in_process(runtime: Any, ids: dict[str, list[str]], seconds: float) -> dict[str, dict[str, float]]:
    """Each served route's request for 1 id (and churn for 100), one at a time, through ``Runtime.run``."""
    rng = random.Random(0)
    out = {}
    for decision in ROUTES:
        if decision not in runtime.plans:
            continue
        pool = ids[ROUTES[decision][1]]
        try:
            runtime.run(decision, [_job(decision, pool[:1])])
        except Exception as err:  # a model that cannot answer is a row saying why, not a crash of the table
            out[f"{decision} 1 id"] = {"error": f"{type(err).__name__}: {err}"}
            continue
        out[f"{decision} 1 id"] = _timed(
            lambda d=decision, p=pool: runtime.run(d, [_job(d, rng.sample(p, 1))]), seconds
        )
    users = ids["user"]
    if "churn" in runtime.plans:
        out["churn 100 ids"] = _timed(lambda: runtime.run("churn", [_job("churn", rng.sample(users, 100))]), seconds)
    return out


# -- main -------------------------------------------------------------------------------------------------------


def known_ids(limit: int = 5000) -> dict[str, list[str]]:
    """Ids of each entity the latest feature snapshot (so the online store) holds."""
    import pandas as pd

    from features.settings import get_settings

    settings = get_settings()
    paths = settings.dataset(settings.serving_dataset or settings.default_dataset)
    out = {}
    for entity, (file, column) in ENTITY_IDS.items():
        if (paths.features / file).exists():
            frame = pd.read_parquet(paths.features / file, columns=[column])
            out[entity] = frame[column].drop_duplicates().astype(str).head(limit).tolist()
    return out


def service_table(url: str, key: str, files: dict[str, Path], args: argparse.Namespace) -> dict[str, dict]:
    table = {}
    cells = [(r, 1) for r in args.routes] + [("churn", b) for b in args.batches if b != 1 and "churn" in args.routes]
    for route, batch in cells:
        if ROUTES[route][1] not in files:
            print(f"  {route}: no {ROUTES[route][1]} ids in this world, skipped")
            continue
        for concurrency in args.concurrency:
            r = run_loadgen_process(url, key, route, files[ROUTES[route][1]], batch, concurrency, args.seconds)
            table[f"{route} {batch} id(s) @{concurrency}"] = r
            if r["n"] == 0:
                print(f"  {route} {batch} id(s) @{concurrency}: no successful request ({r['errors']} errors)")
                continue
            print(
                f"  {ROUTES[route][0]:<17} ids={batch:<4} conc={concurrency:<3} p50 {r['p50']:7.2f}  p95 {r['p95']:7.2f}"
                f"  p99 {r['p99']:7.2f} ms  {r['rps']:7.1f} req/s  errors {r['errors']}",
                flush=True,
            )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15.0, help="Duration of each load cell.")
    parser.add_argument("--routes", nargs="+", default=list(ROUTES), choices=list(ROUTES), help="Decisions to load.")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 100], help="Ids per /churn/predict request.")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--url", help="A running server on this machine (else one is started).")
    parser.add_argument("--key", default="shopsense-demo-key", help="API key for the server.")
    parser.add_argument("--batching", choices=["on", "off", "both"], default="on", help="Server's request batching.")
    parser.add_argument("--workers", type=int, default=1, help="Worker processes of a started server.")
    parser.add_argument("--inproc-seconds", type=float, default=3.0, help="Duration of each in-process cell.")
    parser.add_argument("--out", type=Path, help="Also write the table as JSON here.")
    parser.add_argument("--loadgen", help=argparse.SUPPRESS)
    parser.add_argument("--route", help=argparse.SUPPRESS)
    parser.add_argument("--ids-file", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.loadgen:
        ids = json.loads(Path(args.ids_file).read_text())
        result = loadgen(args.loadgen, args.key, args.route, ids, args.batch, args.concurrency[0], args.seconds)
        print(json.dumps(result))
        return
    run(args)


def run(args: argparse.Namespace) -> None:
    import tempfile

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if args.url and not any(host in args.url for host in LOCALHOST):
        raise SystemExit("--url must point at this machine (127.0.0.1 / localhost)")
    load_before = os.getloadavg()[0]
    ids = known_ids()
    tmp = Path(tempfile.mkdtemp(prefix="bench_serving_"))
    files = {}
    for entity, values in ids.items():
        files[entity] = tmp / f"{entity}_ids.json"
        files[entity].write_text(json.dumps(values))
    tables = {}
    if args.url:
        print(f"service at {args.url} ({os.cpu_count()} cores), {args.seconds:.0f} s per cell")
        tables["as running"] = service_table(args.url, args.key, files, args)
    else:
        from features.settings import get_settings
        from training.cli_serve import sync

        sync(get_settings())
        for batching in {"on": [True], "off": [False], "both": [True, False]}[args.batching]:
            port = local_server.free_port()
            extra = {"SHOPSENSE_SERVING_BATCHING": str(batching).lower()}
            log = tmp / f"server_{batching}.log"
            proc = local_server.start(get_settings(), port, log, workers=args.workers, extra_env=extra, timeout=900)
            label = f"batching {'on' if batching else 'off'}, {args.workers} worker(s)"
            print(f"service ({label}) at 127.0.0.1:{port}, {os.cpu_count()} cores, {args.seconds:.0f} s per cell")
            try:
                tables[label] = service_table(f"http://127.0.0.1:{port}", args.key, files, args)
            finally:
                local_server.stop(proc)
    print("in-process (Runtime.run, one request at a time), and its irreducible parts timed alone:", flush=True)
    runtime = _runtime(sorted({*args.routes, "ltv", "tiering"}))
    inproc = in_process(runtime, ids, args.inproc_seconds)
    sample = random.Random(1).sample(ids["user"], min(1000, len(ids["user"])))  # as in_process draws them
    parts = {
        d: {"random ids": irreducible(runtime, d, sample, args.inproc_seconds),
            "one id repeated": irreducible(runtime, d, sample[:1], args.inproc_seconds)}
        for d in ("churn", "tiering") if d in runtime.plans
    }  # fmt: skip
    shap = shap_per_row(runtime, ids["user"], args.inproc_seconds) if "churn" in runtime.plans else {}
    report = {"inproc": inproc, "parts": parts, "shap": shap, "service": tables,
              "load": [load_before, os.getloadavg()[0]], "cores": os.cpu_count()}  # fmt: skip
    print_table(report, args)
    if args.out:
        args.out.write_text(json.dumps(report, indent=2, default=float))
    gc.unfreeze()  # frozen objects are not finalised at exit, and DuckDB's bindings then print "leaked" lists


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def print_table(report: dict, args: argparse.Namespace) -> None:
    """One table: what, figure, goal, verdict (every row from this run; the command is in the header)."""
    rows: list[tuple[str, str, str, str]] = []
    inproc, parts = report["inproc"], report["parts"]
    for decision, ways in parts.items():
        total = inproc[f"{decision} 1 id"]["p50"]
        for way, timed in ways.items():
            lookup = timed["lookup (store read, 1 id)"]["p50"]
            floor = lookup + sum(v["p50"] for k, v in timed.items() if "booster" in k)
            for name, v in timed.items():
                rows.append((f"{decision}: {name}, alone, {way}", f"p50 {v['p50']:.3f} ms", "", ""))
            goal, verdict = ("<= 3x", _verdict(total <= 3 * floor)) if way == "random ids" else ("(context)", "")
            rows.append(
                (f"{decision} 1 id in-process (Runtime.run) vs irreducible (store read + boosters, {way})",
                 f"p50 {total:.3f} ms vs {floor:.3f} ms = {total / floor:.1f}x", goal, verdict)
            )  # fmt: skip
            inputs = sum(v["p50"] for k, v in timed.items() if "BG/NBD" in k)
            if inputs:  # the boosters' BG/NBD expectations are model work, not serving overhead: the ratio with them
                rows.append(
                    (f"{decision} 1 id in-process vs store read + boosters + their BG/NBD inputs ({way})",
                     f"p50 {total:.3f} ms vs {floor + inputs:.3f} ms = {total / (floor + inputs):.1f}x", "(context)",
                     "")
                )  # fmt: skip
    for name, v in inproc.items():
        if "error" in v:
            rows.append((f"{name} in-process (Runtime.run)", f"fails: {v['error'][:120]}", "", ""))
        elif not any(name == f"{d} 1 id" for d in parts):
            rows.append((f"{name} in-process (Runtime.run)", f"p50 {v['p50']:.2f} / p99 {v['p99']:.2f} ms", "", ""))
    shap = report["shap"]
    if shap:
        rows.append(("TreeSHAP reasons (opt-in): booster pred_contrib per row", f"{shap['pred_contrib_ms_per_row']:.3f} ms", "", ""))  # fmt: skip
        rows.append(("TreeSHAP reasons: extra route cost per explained row (100 ids)", f"{shap['route_extra_ms_per_row']:.3f} ms", "", ""))  # fmt: skip
        rows.append(("churn 1 id with reasons in-process", f"p50 {shap['churn_1_id_explain_p50_ms']:.2f} ms", "", ""))
    churn_p50 = inproc.get("churn 1 id", {}).get("p50", float("nan"))
    for label, table in report["service"].items():
        for cell, r in table.items():
            goal, verdict = "", ""
            if r["n"] == 0:
                rows.append((f"service ({label}) {ROUTES[cell.split()[0]][0]} {cell.split(' ', 1)[1]}",
                             f"no successful request ({r['errors']} errors)", "", ""))  # fmt: skip
                continue
            if cell == "churn 1 id(s) @8":
                goal = f"p99 <= 25 ms and <= 3x in-process p50 ({3 * churn_p50:.1f} ms)"
                verdict = f"{_verdict(r['p99'] <= 25)} / {_verdict(r['p99'] <= 3 * churn_p50)}"
            rows.append(
                (f"service ({label}) {ROUTES[cell.split()[0]][0]} {cell.split(' ', 1)[1]}",
                 f"p50 {r['p50']:.1f} / p99 {r['p99']:.1f} ms, {r['rps']:.0f} req/s, {r['errors']} errors", goal, verdict)
            )  # fmt: skip
    load = report["load"]
    print(f"\n{COMMAND} --seconds {args.seconds:g} --inproc-seconds {args.inproc_seconds:g} "
          f"--routes {' '.join(args.routes)}   ({report['cores']} cores, load {load[0]:.1f} -> {load[1]:.1f})")  # fmt: skip
    print("| what | figure | goal | verdict |\n|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
