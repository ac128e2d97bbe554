"""Three small measurements behind the docs' "why pathwise" page, against exact answers.

1. Score-function versus pathwise: per-draw variance of the two unbiased estimators of
   d/dmu E[x^2], x ~ Normal(mu, 1) (exact gradient 2 mu): pathwise 2x, score-function
   x^2 (x - mu), with no baseline.
2. Hard versus soft clipping onto [0, 1] of x = loc + eps, eps ~ Normal(0, 1), as the mass
   moves out of the interval: the share of draws whose gradient d clip(x) / d loc is
   exactly 0 (they teach the optimiser nothing), the mean gradient (for the hard clip
   it estimates P(0 < x < 1)), and the soft clip's bias E[soft(x)] - E[hard(x)], on
   the same draws.
3. Temperature: the Gumbel-Softmax (relaxed) estimator of the gradient of
   E[f(z)], f(z) = (z . c)^2 for z ~ Categorical(softmax(logits)) (exact: gradient of
   sum_k pi_k c_k^2), as tau varies: relative bias of its mean and total per-draw
   variance, next to the score-function estimator f(z) grad log pi_z (unbiased).

float64, torch, fixed seeds. Run: PYTHONPATH=. python benchmarks/why_pathwise.py
(a few seconds).
"""

import argparse
import time

import torch

from ppl_reparam.pyro.distributions import RelaxedOneHotCategorical, SoftClipTransform

N = 200_000


def score_vs_pathwise() -> None:
    print("1. d/dmu E[x^2], x ~ Normal(mu, 1): per-draw variance of unbiased estimators")
    print("| mu | exact | pathwise mean | pathwise var | score-function mean | score var | ratio |")
    print("|---|---|---|---|---|---|---|")
    g = torch.Generator().manual_seed(0)
    for mu in (0.0, 1.0, 3.0):
        x = mu + torch.randn(N, generator=g, dtype=torch.float64)
        path = 2 * x
        score = x**2 * (x - mu)
        print(
            f"| {mu:g} | {2 * mu:g} | {path.mean():.3f} | {path.var():.2f} | "
            f"{score.mean():.3f} | {score.var():.1f} | {score.var() / path.var():.0f}x |"
        )


def hard_vs_soft() -> None:
    print("\n2. clip(loc + eps) onto [0, 1], eps ~ Normal(0, 1): d clip / d loc per draw")
    print(
        "| loc | hard: zero-gradient draws | hard: mean grad | soft 0.1: zero | soft 0.1: "
        "mean grad | soft 0.1: bias of mean | soft 0.01: bias of mean |"
    )
    print("|---|---|---|---|---|---|---|")
    g = torch.Generator().manual_seed(1)
    eps = torch.randn(N, generator=g, dtype=torch.float64)
    for loc in (0.5, 3.0, 6.0):
        row = [f"{loc:g}"]
        for clip in (lambda x: x.clamp(0.0, 1.0), SoftClipTransform(0.0, 1.0, 0.1)):
            x = (loc + eps).requires_grad_(True)
            # each output depends on its own draw only: the gradient of the sum is per draw
            (per_draw,) = torch.autograd.grad(clip(x).sum(), x)
            row += [f"{(per_draw == 0).double().mean():.1%}", f"{per_draw.mean():.2e}"]
        hard = (loc + eps).clamp(0.0, 1.0)
        for softness in (0.1, 0.01):
            # paired with the hard clip on the same draws, so the noise of each mean cancels
            soft = SoftClipTransform(0.0, 1.0, softness)(loc + eps)
            row.append(f"{float((soft - hard).mean()):+.1e}")
        print("| " + " | ".join(row) + " |")


def temperature() -> None:
    print("\n3. grad of E[(z . c)^2], z ~ Categorical(softmax(logits)), K = 3")
    logits = torch.tensor([0.5, -0.3, 0.1], dtype=torch.float64)
    c = torch.tensor([-1.0, 0.5, 2.0], dtype=torch.float64)
    probs = logits.softmax(-1)
    exact = probs * (c**2 - (probs * c**2).sum())  # d/dlogits sum_k pi_k c_k^2
    print("| estimator | tau | relative bias of the mean | total per-draw variance |")
    print("|---|---|---|---|")
    n = 20_000
    torch.manual_seed(2)
    for tau in (0.1, 0.3, 0.5, 1.0, 2.0):
        theta = logits.clone().repeat(n, 1).requires_grad_(True)
        z = RelaxedOneHotCategorical(torch.tensor(tau, dtype=torch.float64), logits=theta)
        f = ((z.rsample() * c).sum(-1)) ** 2
        (grads,) = torch.autograd.grad(f.sum(), theta)  # row i: the gradient of draw i
        bias = (grads.mean(0) - exact).norm() / exact.norm()
        print(f"| relaxed | {tau:g} | {bias:.3f} | {grads.var(0).sum():.2f} |")
    k = torch.distributions.Categorical(probs=probs).sample((n,))
    score = (c[k] ** 2)[:, None] * (torch.nn.functional.one_hot(k, 3) - probs)
    bias = (score.mean(0) - exact).norm() / exact.norm()
    print(f"| score-function (exact samples) | — | {bias:.3f} (noise) | {score.var(0).sum():.2f} |")


def main() -> None:
    # no options: --help prints what the script measures
    argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    ).parse_args()
    start = time.perf_counter()
    torch.set_default_dtype(torch.float64)
    score_vs_pathwise()
    hard_vs_soft()
    temperature()
    print(f"\n({N} draws in 1 and 2, 20000 in 3; {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
