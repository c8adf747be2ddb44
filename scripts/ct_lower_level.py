"""How close the bilevel lower level (FISTA-TV with adaptive restart) gets to its fixed point, by the variants tried
to make `implicit` exact at N = 100 FISTA iterations (docs/ct.md, "Hypergradient accuracy"). On ct_fewview, float64:

- prox_iters: the fixed-point residual ||T(x_N) - x_N|| / ||x_N|| at N = 100 and 200 with --inner-iters-list
  cold-start Condat-Vu iterations per prox (a more accurate prox);
- warm_dual:  the prox's dual carried from one FISTA step to the next (--warm-iters CV iterations per step), so the
  limit is the exact TV solution: the residual of the joint map and of the exact proximal-gradient map (prox by
  3000 CV iterations) at N = 50, 100, 200, 400;
- continue:   restart-FISTA run on until the residual is <= 1e-10 and 1e-12 (checked every 10 iterations): N and CPU s;
- newton:     a Newton-Krylov finish from x_N: (I - dT/dx) dx = T(x) - x by GMRES (JVPs of the prox, relative
              residual 1e-6) until the residual is <= 1e-13; then implicit (GMRES adjoint to 1e-10) at the
              finished point against the central difference (step --h in log lam) of the loss of the finished
              point, i.e. of the lower level "N FISTA iterations + the finish";
- hybrid:     a correction for an unconverged x_N: the last --tail iterations unrolled, started from the state at
              N - tail carrying implicit's derivative of the fixed point (the value is x_N exactly), against the
              central difference of the loss of x_N.
- tolerance:  what `solver.hypergradient=implicit` ships: the lower level run until ||T(x) - x|| / ||x|| <= --tols
              (checked every 10 iterations) with each of --caps as the cap on FISTA iterations, the adjoint by
              GMRES to --adjoint-rtol; its hypergradient against the central difference (steps --h-list in log lam) of
              the loss of that same lower level (the tolerance-stopped solution map), and against a tighter
              reference (tolerance --ref-tol, cap 20000: the fixed point itself); FISTA iterations, residual
              reached, adjoint products and CPU seconds of the hypergradient. At a cap the residual cannot
              reach, the gradient is compared with the central difference of the loss of x_cap as well.
- anderson:   Anderson acceleration (type II, memory --memories, Tikhonov-regularised least squares --aa-reg
              relative to the Gram matrix's mean diagonal; safeguard: a residual above 10x the best so far drops
              the memory and takes the plain step T(x)) of the same map T, from x = 0 or after --aa-warm
              restart-FISTA iterations, beside restart-FISTA: the residual ||T(x_k) - x_k|| / ||x_k|| after
              k = --marks evaluations of T (each one projection, one back-projection and the 5-iteration prox),
              and CPU seconds.
- anderson_hypergradient: implicit (GMRES adjoint to --adjoint-rtol) at Anderson's x after each of --caps
              evaluations of T (memory --memories[0], after --aa-warm[0] restart-FISTA iterations) against the
              central difference (step --h in log lam) of the loss of that same lower level.
- krylov_bound: the best any Krylov method (Anderson, GMRES, Newton-Krylov, nonlinear GMRES) can do with k
              products of the same cost, were T the affine map it is at its fixed point x* (an oracle that knows
              the solution's active set): full (unrestarted) GMRES with k = --marks products on
              (I - dT/dx*) (x - x*) = 0 from x = 0; the residual of that linear model relative to ||x*||. x* is
              restart-FISTA run to 1e-13. With --fourier-alphas, the same GMRES right-preconditioned by a
              circulant approximation of I - dT/dx (cheap: two FFTs, no projector), P = F^-1 diag(1 / (K + alpha
              |w|^2 + eps)) F, K the DFT of tau M A^T A's response to a point at the centre, |w|^2 the discrete
              Laplacian's symbol, for each alpha in --fourier-alphas and eps in --fourier-eps.

    python scripts/ct_lower_level.py --parts prox_iters warm_dual continue
    python scripts/ct_lower_level.py --parts hybrid
    python scripts/ct_lower_level.py --parts newton --lams 5     # minutes per lambda; longer at small lambda
    python scripts/ct_lower_level.py --parts tolerance --caps 3000 400 100 --out outputs/bench/ct_implicit_tol.json
    python scripts/ct_lower_level.py --parts anderson krylov_bound --out outputs/bench/ct_anderson.json
"""
from __future__ import annotations

import math
import time

from ct_setup import ct_parser, ct_problem, write_json  # scripts/ct_setup.py

PARTS = ("prox_iters", "warm_dual", "continue", "newton", "hybrid", "tolerance", "anderson", "anderson_hypergradient",
         "krylov_bound")


def main(argv=None):
    ap = ct_parser(__doc__, size=64, views=30, iters=100, out="outputs/bench/ct_lower_level.json")
    ap.add_argument("--lams", type=float, nargs="+", default=[0.5, 1.5, 5.0])
    ap.add_argument("--parts", nargs="+", default=list(PARTS[:5]), choices=PARTS)
    ap.add_argument("--inner-iters-list", type=int, nargs="+", default=[5, 20, 50])
    ap.add_argument("--warm-iters", type=int, nargs="+", default=[5, 20])
    ap.add_argument("--h", type=float, default=1e-4)
    ap.add_argument("--tail", type=int, nargs="+", default=[10, 30])
    ap.add_argument("--tols", type=float, nargs="+", default=[1e-10], help="tolerance: fixed-point residual tolerances")
    ap.add_argument("--caps", type=int, nargs="+", default=[3000, 400, 100], help="tolerance: caps on FISTA iterations")
    ap.add_argument("--h-list", type=float, nargs="+", default=[1e-4, 1e-3], help="tolerance: FD steps in log lam")
    ap.add_argument("--ref-tol", type=float, default=1e-13, help="tolerance: the reference's residual tolerance")
    ap.add_argument("--adjoint-rtol", type=float, default=1e-10, help="tolerance: GMRES relative residual (the "
                    "solver's default adjoint_rtol is 1e-8)")
    ap.add_argument("--adjoint-iters", type=int, default=3000, help="tolerance: most GMRES products (solver: 1000)")
    ap.add_argument("--memories", type=int, nargs="+", default=[5, 10, 20, 50], help="anderson: memory m")
    ap.add_argument("--aa-reg", type=float, default=1e-10, help="anderson: relative Tikhonov regularisation")
    ap.add_argument("--aa-warm", type=int, nargs="+", default=[0, 40, 70],
                    help="anderson: restart-FISTA iterations before Anderson takes over")
    ap.add_argument("--marks", type=int, nargs="+", default=[50, 100, 150, 200, 300],
                    help="anderson, krylov_bound: evaluations of T at which the residual is reported")
    ap.add_argument("--fourier-alphas", type=float, nargs="*", default=[],
                    help="krylov_bound: Laplacian weights of the circulant preconditioner (none: not run)")
    ap.add_argument("--fourier-eps", type=float, nargs="+", default=[1e-3, 1e-2],
                    help="krylov_bound: shifts of the circulant preconditioner")
    args = ap.parse_args(argv)

    import torch

    from regrun.config import config_section
    from regrun.linalg.iterate import AdjointSolve, FixedPointStop, fixed_point_solution, run_to_fixed_point
    from regrun.linalg.krylov import gmres
    from regrun.optim.bilevel import BilevelLoss
    from regrun.tomography.fista_tv import lipschitz, make_fista

    problem = ct_problem(args)
    f64 = {"dtype": torch.float64}

    def fista(inner):
        cfg = config_section("solver", "bilevel", inner_iters=inner)
        return make_fista(problem, cfg, lipschitz(problem, cfg), restart="gradient")

    def residual(f, x, lam):
        return float((f.prox_gradient(x, lam) - x).norm() / x.norm())

    rows = {}
    f = fista(5)
    if "prox_iters" in args.parts:
        rows["prox_iters"] = []
        for inner in args.inner_iters_list:
            fk = fista(inner)
            for lam in args.lams:
                lt = torch.tensor(lam, **f64)
                with torch.no_grad():
                    s, got = fk.start(lt), {}
                    for k in range(1, 201):
                        s = fk.step(s, lt)
                        if k in (100, 200):
                            got[k] = residual(fk, s[0], lt)
                rows["prox_iters"].append({"inner_iters": inner, "lam": lam, "residual": got})
                print(f"prox_iters K={inner} lam={lam}: residual at N=100 {got[100]:.1e}, N=200 {got[200]:.1e}",
                      flush=True)

    if "warm_dual" in args.parts:
        rows["warm_dual"] = []
        prox = f.prox

        def prox_from(b, mu, v, iters):
            s = (torch.zeros_like(b), v)
            for _ in range(iters):
                s = prox.step(s, (b, mu))
            return prox.output(s, b, mu), s[1]

        for K in args.warm_iters:
            for lam in args.lams:
                mu = lam * f.tau
                with torch.no_grad():
                    x = torch.zeros(f.shape, **f64)
                    y, t, v = x, 1.0, prox.start(x)[1]
                    got = {}
                    for k in range(1, 401):
                        x_new, v = prox_from(y - f.tau * f.data_gradient(y), mu, v, K)
                        t_new = (1 + math.sqrt(1 + 4 * t * t)) / 2
                        m = (t - 1) / t_new
                        if float(((y - x_new) * (x_new - x)).sum()) > 0:  # the same adaptive restart
                            t_new, m = 1.0, 0.0
                        y, x, t = x_new + m * (x_new - x), x_new, t_new
                        if k in (50, 100, 200, 400):
                            b = x - f.tau * f.data_gradient(x)
                            tx, tv = prox_from(b, mu, v, K)
                            exact, _ = prox_from(b, mu, prox.start(x)[1], 3000)
                            got[k] = {"joint": float((tx - x).norm() / x.norm()),
                                      "dual": float((tv - v).norm() / v.norm()),
                                      "exact_map": float((exact - x).norm() / x.norm())}
                rows["warm_dual"].append({"warm_iters": K, "lam": lam, "residual": got})
                print(f"warm_dual K={K} lam={lam}: " + "; ".join(
                    f"N={n} joint {r['joint']:.1e} exact-map {r['exact_map']:.1e}" for n, r in got.items()), flush=True)

    if "continue" in args.parts:
        rows["continue"] = []
        for lam in args.lams:
            lt = torch.tensor(lam, **f64)
            with torch.no_grad():
                s, hit, k, c0 = f.start(lt), {}, 0, time.process_time()
                while k < 3000 and len(hit) < 2:
                    s = f.step(s, lt)
                    k += 1
                    if k % 10 == 0:
                        r = residual(f, s[0], lt)
                        for tol in (1e-10, 1e-12):
                            if r <= tol and str(tol) not in hit:
                                hit[str(tol)] = {"iters": k, "cpu_seconds": time.process_time() - c0}
            rows["continue"].append({"lam": lam, "reached": hit})
            print(f"continue lam={lam}: " + ", ".join(f"<= {t} at N={h['iters']} ({h['cpu_seconds']:.1f} CPU s)"
                                                       for t, h in hit.items()), flush=True)

    if "newton" in args.parts:
        rows["newton"] = []
        ref = BilevelLoss(f, problem.truth, args.iters, "unrolled", "log", f.mask)

        def finish(theta):
            """x_N, then Newton-Krylov steps on x - T(x) = 0: (x, residuals, JVP products)."""
            lam = torch.tensor(math.exp(theta), **f64)
            with torch.no_grad():
                x = f.solve(lam, args.iters)
                log, products = [], 0
                for _ in range(12):
                    r = f.prox_gradient(x, lam) - x
                    log.append(float(r.norm() / x.norm()))
                    if log[-1] <= 1e-13:
                        break
                    jac = jacobian_product(f, x, lam)
                    sol = gmres(lambda v: v - jac(v), r.reshape(-1), iters=2000, rtol=1e-6, restart=50)
                    products += sol.n_iter
                    x = x + sol.x.view(f.shape)
            return x, log, products

        for lam in args.lams:
            theta = math.log(lam)
            c0 = time.process_time()
            xs, log, products = finish(theta)
            cpu = time.process_time() - c0
            fd = (float(ref.loss_of(finish(theta + args.h)[0])) -
                  float(ref.loss_of(finish(theta - args.h)[0]))) / (2 * args.h)
            seen = []
            adjoint = AdjointSolve("gmres", 3000, 1e-10, 50, report=lambda m, i, r, seen=seen: seen.append((i, r)))
            t = torch.tensor(theta, **f64, requires_grad=True)
            c1 = time.process_time()
            loss = ref.loss_of(fixed_point_solution(f.prox_gradient, xs, torch.exp(t), adjoint))
            grad = float(torch.autograd.grad(loss, t)[0])
            row = {"lam": lam, "iters": args.iters, "newton_residuals": log, "newton_products": products,
                   "newton_cpu_seconds": cpu, "loss_finished": float(loss.detach()), "loss_x_N": ref.value(theta),
                   "fd": fd, "implicit": grad, "rel_error_vs_fd": (abs(grad - fd) / abs(fd) if fd else math.inf),
                   "adjoint_products": seen[-1][0], "adjoint_residual": seen[-1][1],
                   "adjoint_cpu_seconds": time.process_time() - c1}
            rows["newton"].append(row)
            print(f"newton N={args.iters} lam={lam}: residuals {' '.join(f'{r:.1e}' for r in log)}, {products} "
                  f"products, {cpu:.1f} CPU s; loss {row['loss_finished']:.6f} (x_N {row['loss_x_N']:.6f}); "
                  f"FD {fd:.5e} implicit {grad:.5e} ({row['rel_error_vs_fd']:.1e}); adjoint {seen[-1][0]} "
                  f"products, {row['adjoint_cpu_seconds']:.1f} CPU s", flush=True)
    if "hybrid" in args.parts:
        rows["hybrid"] = []
        ref = BilevelLoss(f, problem.truth, args.iters, "unrolled", "log", f.mask)
        for lam in args.lams:
            theta = math.log(lam)
            fd = (ref.value(theta + args.h) - ref.value(theta - args.h)) / (2 * args.h)
            for tail in args.tail:
                t = torch.tensor(theta, **f64, requires_grad=True)
                lam_t = torch.exp(t)
                with torch.no_grad():
                    s = f.start(lam_t)
                    for _ in range(args.iters - tail):
                        s = f.step(s, lam_t.detach())
                z = fixed_point_solution(f.prox_gradient, s[0], lam_t, AdjointSolve("gmres", 3000, 1e-10, 50))
                dz = z - z.detach()  # zero in value, implicit's derivative of the fixed point
                s = (s[0] + dz, s[1] + dz, s[2])
                for _ in range(tail):
                    s = f.step(s, lam_t)
                grad = float(torch.autograd.grad(ref.loss_of(s[0]), t)[0])
                rows["hybrid"].append({"lam": lam, "iters": args.iters, "tail": tail, "fd": fd, "grad": grad,
                                       "rel_error_vs_fd": (abs(grad - fd) / abs(fd) if fd else math.inf)})
                print(f"hybrid N={args.iters} lam={lam} tail={tail}: FD {fd:.5e} grad {grad:.5e} "
                      f"({(abs(grad - fd) / abs(fd) if fd else math.inf):.1e})", flush=True)
    if "tolerance" in args.parts:
        rows["tolerance"] = []
        adjoint = AdjointSolve("gmres", args.adjoint_iters, args.adjoint_rtol, 50)

        def lower(cap, tol):
            return BilevelLoss(f, problem.truth, cap, "implicit", "log", f.mask, adjoint=adjoint,
                               stop=FixedPointStop(tol, 10))

        def fd_of(loss, theta, h):
            """Central difference of the loss of `loss`'s lower level, and the FISTA iterations at theta +- h."""
            up = loss.value(theta + h)
            n_up = loss.forward[0]
            down = loss.value(theta - h)
            return (up - down) / (2 * h), (n_up, loss.forward[0])

        reference = lower(20000, args.ref_tol)
        for lam in args.lams:
            theta = math.log(lam)
            ref_fd = {h: fd_of(reference, theta, h)[0] for h in args.h_list}
            for cap in args.caps:
                for tol in args.tols:
                    loss = lower(cap, tol)
                    c0 = time.process_time()
                    ev = loss.value_and_grad(theta)
                    cpu = time.process_time() - c0
                    row = {"lam": lam, "cap": cap, "tol": tol, "grad": ev.grad, "lower_iters": ev.lower_iters,
                           "fixed_point_residual": ev.fixed_point_residual, "adjoint_iters": ev.adjoint_iters,
                           "adjoint_residual": ev.adjoint_residual, "cpu_seconds": cpu, "loss": ev.loss,
                           "fd": {}, "ref_fd": ref_fd}
                    for h in args.h_list:
                        fd, iters_pm = fd_of(loss, theta, h)
                        row["fd"][h] = {"fd": fd, "rel_error": abs(ev.grad - fd) / abs(fd), "lower_iters_pm": iters_pm,
                                        "ref_rel_error": abs(ev.grad - ref_fd[h]) / abs(ref_fd[h])}
                    rows["tolerance"].append(row)
                    h0 = args.h_list[0]
                    print(f"tolerance lam={lam} cap={cap} tol={tol:g}: {ev.lower_iters} FISTA iterations, residual "
                          f"{ev.fixed_point_residual:.1e}; implicit {ev.grad:+.6e} in {cpu:.1f} CPU s "
                          f"({ev.adjoint_iters} adjoint products, {ev.adjoint_residual:.0e}); " + "; ".join(
                              f"FD(h={h:g}) {r['fd']:+.6e} rel {r['rel_error']:.1e} (FISTA {r['lower_iters_pm']}), "
                              f"vs fixed point {r['ref_rel_error']:.1e}" for h, r in row["fd"].items()) +
                          f" [ref FD(h={h0:g}) {ref_fd[h0]:+.6e}]", flush=True)
    if "anderson" in args.parts:
        rows["anderson"] = []
        marks, n = sorted(args.marks), max(args.marks)
        for lam in args.lams:
            lt = torch.tensor(lam, **f64)
            with torch.no_grad():
                c0, s, got = time.process_time(), f.start(lt), {}
                for k in range(1, n + 1):
                    s = f.step(s, lt)
                    if k in marks:
                        got[k] = residual(f, s[0], lt)  # one more T, not counted (as the tolerance check's)
                cpu = time.process_time() - c0
            rows["anderson"].append({"lam": lam, "method": "fista_restart", "residual": got, "cpu_seconds": cpu})
            print(f"anderson lam={lam} restart-FISTA ({cpu:.1f} CPU s): "
                  + " ".join(f"{k}:{r:.1e}" for k, r in got.items()), flush=True)
            for warm in args.aa_warm:
                for m in args.memories:
                    c0 = time.process_time()
                    _, got, resets = anderson(f, lt, n, m, args.aa_reg, warm, marks)
                    cpu = time.process_time() - c0
                    rows["anderson"].append({"lam": lam, "method": "anderson", "memory": m, "warm": warm,
                                             "resets": resets, "residual": got, "cpu_seconds": cpu})
                    print(f"anderson lam={lam} m={m} warm={warm} ({resets} safeguard resets, {cpu:.1f} CPU s): "
                          + " ".join(f"{k}:{r:.1e}" for k, r in got.items()), flush=True)
    if "anderson_hypergradient" in args.parts:
        rows["anderson_hypergradient"] = []
        ref = BilevelLoss(f, problem.truth, args.iters, "unrolled", "log", f.mask)
        m, warm = args.memories[0], args.aa_warm[0]
        adjoint = AdjointSolve("gmres", args.adjoint_iters, args.adjoint_rtol, 50)

        def lower(theta, cap):
            return anderson(f, torch.tensor(math.exp(theta), **f64), cap, m, args.aa_reg, warm, [cap])

        for lam in args.lams:
            theta = math.log(lam)
            for cap in args.caps:
                x, got, resets = lower(theta, cap)
                t = torch.tensor(theta, **f64, requires_grad=True)
                grad = float(torch.autograd.grad(ref.loss_of(fixed_point_solution(f.prox_gradient, x, torch.exp(t),
                                                                                  adjoint)), t)[0])
                (xu, _, ru), (xd, _, rd) = lower(theta + args.h, cap), lower(theta - args.h, cap)
                fd = (float(ref.loss_of(xu)) - float(ref.loss_of(xd))) / (2 * args.h)
                row = {"lam": lam, "cap": cap, "memory": m, "warm": warm, "residual": got[cap],
                       "resets": [resets, ru, rd], "implicit": grad, "fd": fd, "rel_error": abs(grad - fd) / abs(fd)}
                rows["anderson_hypergradient"].append(row)
                print(f"anderson_hypergradient lam={lam} cap={cap} m={m} warm={warm}: residual {got[cap]:.1e}, "
                      f"resets {row['resets']}; implicit {grad:+.6e} FD {fd:+.6e} rel {row['rel_error']:.1e}",
                      flush=True)
    if "krylov_bound" in args.parts:
        rows["krylov_bound"] = []
        for lam in args.lams:
            lt = torch.tensor(lam, **f64)
            with torch.no_grad():
                xs, steps, res = run_to_fixed_point(f.step, f.start(lt), lt, 20000, f.prox_gradient,
                                                    lambda st: st[0], 1e-13, 10)
                xs = xs[0]
            jac = jacobian_product(f, xs, lt)  # at x*
            e0 = xs.reshape(-1)  # the error of the start x = 0
            rhs = e0 - jac(e0)   # the linear model's residual there
            got = {}
            for k in sorted(args.marks):
                sol = gmres(lambda v: v - jac(v), rhs, iters=k, rtol=0.0, restart=k)
                got[k] = float((rhs - (sol.x - jac(sol.x))).norm() / xs.norm())
            rows["krylov_bound"].append({"lam": lam, "fista_iters_to_x_star": steps, "x_star_residual": res,
                                         "residual": got})
            print(f"krylov_bound lam={lam} (x* after {steps} FISTA iterations, {res:.1e}): "
                  + " ".join(f"{k}:{r:.1e}" for k, r in got.items()), flush=True)
            if args.fourier_alphas:
                symbol = circulant_symbol(f)
                for alpha in args.fourier_alphas:
                    for eps in args.fourier_eps:
                        inv = 1.0 / (symbol["data"].clamp_min(0) + alpha * symbol["laplacian"] + eps)

                        def pre(v, inv=inv):
                            return torch.fft.ifft2(torch.fft.fft2(v.view(f.shape)) * inv).real.reshape(-1)

                        pgot = {}
                        for k in sorted(args.marks):
                            sol = gmres(lambda u, pre=pre: pre(u) - jac(pre(u)), rhs, iters=k, rtol=0.0, restart=k)
                            xk = pre(sol.x)
                            pgot[k] = float((rhs - (xk - jac(xk))).norm() / xs.norm())
                        rows["krylov_bound"].append({"lam": lam, "fourier_alpha": alpha, "fourier_eps": eps,
                                                     "residual": pgot})
                        print(f"krylov_bound lam={lam} Fourier-preconditioned alpha={alpha:g} eps={eps:g}: "
                              + " ".join(f"{k}:{r:.1e}" for k, r in pgot.items()), flush=True)
    write_json(args, rows)
    print(f"written {args.out}")


def jacobian_product(f, x, lam):
    """v -> dT/dx v at x for flat v (T = f.prox_gradient): prox'(b) (v - tau M A^T A v), b = x - tau grad f(x),
    by a JVP of the prox (the Newton-Krylov finish and the Krylov bound)."""
    import torch

    b, mu = x - f.tau * f.data_gradient(x), lam * f.tau

    def jac(v):
        v = v.view(f.shape)
        db = v - f.tau * f._masked(f.backproject(f.project(v)))
        return torch.func.jvp(lambda c: f.prox(c, mu, f.inner_iters, f.inner_mode), (b,), (db,))[1].reshape(-1)

    return jac


def circulant_symbol(f) -> dict:
    """DFT symbols of a circulant approximation of tau M A^T A (its response to a point at the grid's centre)
    and of the discrete Laplacian, on f's 2-D grid."""
    import torch

    n1, n2 = f.shape
    dt = f.data.dtype
    with torch.no_grad():
        point = torch.zeros(f.shape, dtype=dt, device=f.data.device)
        point[n1 // 2, n2 // 2] = 1
        psf = f.tau * f._masked(f.backproject(f.project(point)))
        data = torch.fft.fft2(torch.fft.ifftshift(psf)).real
        w1 = 2 - 2 * torch.cos(2 * math.pi * torch.fft.fftfreq(n1, dtype=dt, device=f.data.device))
        w2 = 2 - 2 * torch.cos(2 * math.pi * torch.fft.fftfreq(n2, dtype=dt, device=f.data.device))
    return {"data": data, "laplacian": w1[:, None] + w2[None, :]}


def anderson(f, lam, n: int, m: int, reg: float, warm: int, marks) -> tuple[dict, int]:
    """Type-II Anderson acceleration of x <- T(x) = f.prox_gradient(x, lam) (Walker and Ni 2011):
    x_{k+1} = x_k + g_k - (dX + dG) gamma, gamma = argmin ||g_k - dG gamma||^2 + reg' ||gamma||^2, g = T(x) - x,
    dX, dG the last m differences; `warm` restart-FISTA iterations first. Safeguard (after Zhang, O'Donoghue and
    Boyd 2020, simplified): a residual above 10x the best one drops the memory and takes T(x_k) instead.
    Returns (the last x, {evaluations of T: ||g|| / ||x||} at `marks`, safeguard resets)."""
    import torch

    with torch.no_grad():
        evals, got, resets = 0, {}, 0
        if warm:
            s = f.start(lam)
            for _ in range(warm):
                s = f.step(s, lam)
            x, evals = s[0], warm
        else:
            x = torch.zeros(f.shape, dtype=f.data.dtype, device=f.data.device)
        tx = f.prox_gradient(x, lam)
        evals += 1
        g = tx - x
        xs, gs = [], []
        best = float(g.norm())
        while evals < n:
            xs, gs = (xs + [x.reshape(-1)])[-(m + 1):], (gs + [g.reshape(-1)])[-(m + 1):]
            if len(xs) > 1:
                dx = torch.stack([b - a for a, b in zip(xs, xs[1:])], 1)
                dg = torch.stack([b - a for a, b in zip(gs, gs[1:])], 1)
                gram = dg.T @ dg
                eye = torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device)
                gram = gram + (reg * gram.diagonal().mean() + torch.finfo(gram.dtype).tiny) * eye
                gamma = torch.linalg.solve(gram, dg.T @ gs[-1])
                x_new = (xs[-1] + gs[-1] - (dx + dg) @ gamma).view(f.shape)
            else:
                x_new = tx
            tx_new = f.prox_gradient(x_new, lam)
            evals += 1
            g_new = tx_new - x_new
            if float(g_new.norm()) > 10 * best:
                resets += 1
                xs, gs = [], []
                x_new = tx
                tx_new = f.prox_gradient(x_new, lam)
                evals += 1
                g_new = tx_new - x_new
            best = min(best, float(g_new.norm()))
            x, tx, g = x_new, tx_new, g_new
            for k in marks:  # a safeguard step takes two evaluations: a mark it skips gets the later residual
                if k <= evals and k not in got:
                    got[k] = float(g.norm() / x.norm())
    return x, got, resets


if __name__ == "__main__":
    main()
