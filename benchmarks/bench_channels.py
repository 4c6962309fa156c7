"""Speed of the channels lab: 64 MINE estimators as one batched model vs one after another.

Prints networks·steps per second of ``mine_mutual_information`` (32 estimators + their 32 null
networks = 64 networks in one batched model) against the plain way, measured in the same run:
64 ``nn.Sequential`` statistics networks of the same shape, each with its own ``torch.optim.Adam``,
trained one after another with the same bias-corrected DV gradient. Target: >= 10x.

    python benchmarks/bench_channels.py               # the ratio
    python benchmarks/bench_channels.py --lab         # also times the lab's default run
    python benchmarks/bench_channels.py --bias-table  # MINE against closed-form Gaussian MI
    python benchmarks/bench_channels.py --mine-settings  # the lab's MINE settings, measured

Torch runs on one thread unless OMP_NUM_THREADS says otherwise. The batched time is the best
of 3 runs (each about a second, so one scheduler hiccup is a large share of it); the load
average is printed beside each time, because on a shared machine absolute numbers mean little
(the ratio is measured in one run).
"""

from __future__ import annotations

import argparse
import math
import os
import time

import torch

from workbench.measures import mine_mutual_information

D, N, HIDDEN, BATCH, STEPS, NETWORKS = 2, 2000, 32, 128, 200, 64


def pairs(d: int, rho: float, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=gen)
    return x, rho * x + math.sqrt(1 - rho**2) * torch.randn(n, d, generator=gen)


def plain_mine(x: torch.Tensor, z: torch.Tensor, seed: int) -> float:
    """One estimator the ordinary way: an nn.Module, autograd, torch.optim.Adam, EMA correction."""
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Linear(x.shape[1] + z.shape[1], HIDDEN),
        torch.nn.ReLU(),
        torch.nn.Linear(HIDDEN, HIDDEN),
        torch.nn.ReLU(),
        torch.nn.Linear(HIDDEN, 1),
    )
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(seed)
    n_train = int(0.7 * x.shape[0])
    log_ma = torch.zeros(())
    for step in range(STEPS):
        i = torch.randint(0, n_train, (BATCH,), generator=gen)
        j = torch.randint(0, n_train, (BATCH,), generator=gen)
        t_joint = net(torch.cat([x[i], z[i]], 1))[:, 0]
        t_marg = net(torch.cat([x[i], z[j]], 1))[:, 0]
        with torch.no_grad():
            lme = torch.logsumexp(t_marg, 0) - math.log(BATCH)
            log_ma = (
                lme if step == 0 else torch.logaddexp(log_ma + math.log(0.99), lme + math.log(0.01))
            )
        weight = torch.exp(t_marg - log_ma).detach()
        loss = -t_joint.mean() + (weight * t_marg).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return float((t_joint.mean() - lme).detach())


def bench_mine(repeats: int = 3) -> None:
    """Best of ``repeats`` runs of the batched path (about a second each) against one plain run.

    The batched run is short, so a scheduler hiccup on a shared machine is a large share of it;
    its best of 3 is its cost. The plain run lasts ~20 s and averages such noise out itself.
    """
    x, z = pairs(D, 0.5, N, 0)
    mine_mutual_information(x, z, n_estimators=2, hidden=HIDDEN, steps=5, batch_size=BATCH)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        est = mine_mutual_information(
            x, z, n_estimators=NETWORKS // 2, hidden=HIDDEN, steps=STEPS, batch_size=BATCH
        )
        times.append(time.perf_counter() - start)
    batched = min(times)
    load_batched = os.getloadavg()[0]
    start = time.perf_counter()
    for k in range(NETWORKS):
        plain_mine(x, z, k)
    plain = time.perf_counter() - start
    load_plain = os.getloadavg()[0]
    rate_b, rate_p = NETWORKS * STEPS / batched, NETWORKS * STEPS / plain
    runs = ", ".join(f"{t:.2f}" for t in times)
    print(f"MINE, {NETWORKS} networks × {STEPS} steps (d={D}, hidden={HIDDEN}, batch={BATCH}):")
    print(
        f"  batched (one model)      {batched:7.2f} s   {rate_b:9.0f} network-steps/s"
        f"   best of {repeats}: {runs} s   (load {load_batched:.2f})"
    )
    print(
        f"  one after another (nn)   {plain:7.2f} s   {rate_p:9.0f} network-steps/s"
        f"   (load {load_plain:.2f})"
    )
    print(f"  ratio                    {plain / batched:7.1f}x   (target >= 10x)")
    print(
        f"  estimate {est.estimate:.3f} bits [{est.low:.3f}, {est.high:.3f}], true "
        f"{-D / 2 * math.log2(0.75):.3f}"
    )


def bench_lab() -> None:
    import tempfile

    from workbench.core.runner import run_lab
    from workbench.core.runs import init_project
    from workbench_labs.channels import LAB

    for name, values in (("quick", LAB.preset("quick")), ("default", {})):
        with tempfile.TemporaryDirectory() as tmp:
            project = init_project(os.path.join(tmp, "p"), name="bench")
            start = time.perf_counter()
            run_lab(LAB, LAB.make_config(values), project, device="cpu")
            print(f"channels lab, {name} run: {time.perf_counter() - start:.1f} s")


def bias_table() -> None:
    print("d  rho  true   MINE   error  interval        null   (N=4000, default settings)")
    for d, rho in ((1, 0.5), (2, 0.5), (5, 0.5), (5, 0.9), (10, 0.5), (20, 0.3), (20, 0.9)):
        truth = -d / 2 * math.log2(1 - rho**2)
        e = mine_mutual_information(*pairs(d, rho, 4000, d), seed=d)
        print(
            f"{d:<2} {rho:<4} {truth:6.2f} {e.estimate:6.2f} {e.estimate - truth:+6.2f}  "
            f"[{e.low:5.2f}, {e.high:5.2f}]  {e.bias_at_zero:+.2f}",
            flush=True,
        )


#: (steps, lr, batch, estimators) rows of the table in labs/channels/gaussian.py.
MINE_SETTINGS = (
    (200, 1e-3, 128, 4),
    (200, 3e-3, 128, 4),
    (300, 3e-3, 256, 4),
    (300, 3e-3, 256, 2),
    (500, 3e-3, 256, 4),
    (1000, 3e-3, 128, 4),
    (2000, 3e-3, 128, 4),
)


def linear_cells(width: int) -> tuple[torch.Tensor, torch.Tensor, list[float]]:
    """The lab's exact linear Gaussian cells at init (d = 4, depths 1, 2, 4, seeds 0, 1)."""
    from workbench_labs.channels.gaussian import linear_information, noisy_last_layer
    from workbench_labs.channels.nets import build_ensemble

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2000, 4, generator=gen, dtype=torch.float64)
    layers, exact = [], []
    for depth in (1, 2, 4):
        model = build_ensemble(width, depth, "linear", 1.0, [0, 1], 4, 1)
        t, sigma = noisy_last_layer(model, x, 1.0, gen)
        layers.append(t)
        exact += linear_information(model, sigma.numpy()).tolist()
    return x, torch.cat(layers), exact


def mine_settings() -> None:
    from workbench.measures import mine_mutual_information_batch

    cells = {w: linear_cells(w) for w in (2, 8)}
    print("steps  lr     batch  k  error w2  error w8  coverage  CPU s (load)")
    for steps, lr, batch, k in MINE_SETTINGS:
        errors, covered, cpu = [], [], 0.0
        for w, (x, t, exact) in cells.items():
            start = time.process_time()
            ests = mine_mutual_information_batch(
                x.expand(t.shape[0], -1, -1), t, n_estimators=k, hidden=32, steps=steps,
                batch_size=batch, lr=lr, seed=w, null_estimators=False,
            )  # fmt: skip
            cpu += time.process_time() - start
            errors.append(sum(e.estimate - v for e, v in zip(ests, exact, strict=True)) / 6)
            covered += [e.covers(v) for e, v in zip(ests, exact, strict=True)]
        print(
            f"{steps:<6} {lr:<6g} {batch:<6} {k}  {errors[0]:+8.3f}  {errors[1]:+8.3f}  "
            f"{sum(covered) / len(covered):8.2f}  {cpu:5.1f} ({os.getloadavg()[0]:.1f})",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", action="store_true", help="also time the lab's runs")
    parser.add_argument("--bias-table", action="store_true", help="MINE vs closed form")
    parser.add_argument(
        "--mine-settings", action="store_true", help="MINE's error on the lab's linear cells"
    )
    args = parser.parse_args()
    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(1)
    print(
        f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs, "
        f"torch threads {torch.get_num_threads()}"
    )
    bench_mine()
    if args.lab:
        bench_lab()
    if args.bias_table:
        bias_table()
    if args.mine_settings:
        mine_settings()


if __name__ == "__main__":
    main()
