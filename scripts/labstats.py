# SPDX-License-Identifier: GPL-2.0
"""The lab's statistics, one home for scripts/report.py and overhead.py.

Every ratio of two configurations is taken on the log scale (a ratio's
interval is then symmetric in log and exp() maps it back):

- paired(): configurations measured in the same repetition (same boot, same
  shuffled round) are paired; the statistic is the mean per-repetition
  log-ratio with a Student t interval and test (df = n - 1).
- welch(): unpaired samples (in-kernel storm rows of different designs);
  the interval and the p-value both use the Welch-Satterthwaite df, so an
  interval that includes 1 never comes with p < 0.05.
- holm(): Holm's step-down adjustment over the comparisons of one table.
- tost(): "cost <= MARGIN" as an equivalence question on a paired ratio:
  shown when the one-sided 95 % lower bound is >= 1 - MARGIN, refuted when
  the one-sided 95 % upper bound is < 1 - MARGIN, else undecided, with
  the n a repetition sd like this one needs to decide it (80 % power).
- boots(): boot-to-boot spread of per-repetition log-ratios (one-way
  random effects: the between-boot and within-boot standard deviations).

Where n is too small for an interval, the result says so (fmt() prints
"n too small for an interval"), never NaN.
"""
import math

from scipy import stats


class Ratio:
    """A ratio estimate: n, mean (as a ratio), 95 % interval, p (H0: ratio
    = 1), sd of the log-ratios (paired) and the df used."""

    def __init__(self, n, mean, lo=None, hi=None, p=None, sd=None, df=None, logs=None):
        self.n, self.mean, self.lo, self.hi, self.p, self.sd, self.df = n, mean, lo, hi, p, sd, df
        self.logs = logs or []
        self.p_holm = None

    @property
    def has_ci(self):
        """Whether an interval could be computed (n >= 2 and finite)."""
        return self.lo is not None and self.hi is not None

    def fmt(self, digits=3):
        """"0.974 [0.864, 1.099]", the mean alone with a note when there is
        no interval, or "no data"."""
        if self.n == 0 or self.mean is None:
            return "no data"
        if not self.has_ci:
            return f"{self.mean:.{digits}f} (n = {self.n}: n too small for an interval)"
        return f"{self.mean:.{digits}f} [{self.lo:.{digits}f}, {self.hi:.{digits}f}]"

    def fmt_p(self):
        """p and, when set, its Holm-adjusted value."""
        if self.p is None:
            return "-"
        s = f"{self.p:.3g}"
        if self.p_holm is not None:
            s += f" (Holm {self.p_holm:.3g})"
        return s


def _logs(pairs):
    return [math.log(a / b) for a, b in pairs if a > 0 and b > 0]


def paired(pairs):
    """Ratio a/b from (a, b) pairs measured together."""
    logs = _logs(pairs)
    n = len(logs)
    if n == 0:
        return Ratio(0, None)
    m = sum(logs) / n
    if n < 2:
        return Ratio(n, math.exp(m), logs=logs)
    sd = math.sqrt(sum((x - m) ** 2 for x in logs) / (n - 1))
    df = n - 1
    se = sd / math.sqrt(n)
    h = stats.t.ppf(0.975, df) * se
    if se == 0:
        p = 1.0 if m == 0 else 0.0
    else:
        p = float(2 * stats.t.sf(abs(m / se), df))
    return Ratio(n, math.exp(m), math.exp(m - h), math.exp(m + h), p, sd, df, logs)


def welch(a, b):
    """Ratio of geometric means a/b from independent samples, Welch df."""
    la = [math.log(x) for x in a if x > 0]
    lb = [math.log(x) for x in b if x > 0]
    if not la or not lb:
        return Ratio(0, None)
    ma, mb = sum(la) / len(la), sum(lb) / len(lb)
    m = ma - mb
    if len(la) < 2 or len(lb) < 2:
        return Ratio(min(len(la), len(lb)), math.exp(m))
    va = sum((x - ma) ** 2 for x in la) / (len(la) - 1) / len(la)
    vb = sum((x - mb) ** 2 for x in lb) / (len(lb) - 1) / len(lb)
    se = math.sqrt(va + vb)
    if se == 0:
        return Ratio(min(len(la), len(lb)), math.exp(m), math.exp(m), math.exp(m), 1.0 if m == 0 else 0.0, 0.0)
    df = (va + vb) ** 2 / (va ** 2 / (len(la) - 1) + vb ** 2 / (len(lb) - 1))
    h = stats.t.ppf(0.975, df) * se
    p = float(2 * stats.t.sf(abs(m / se), df))
    return Ratio(min(len(la), len(lb)), math.exp(m), math.exp(m - h), math.exp(m + h), p, None, df)


def paired_diff(pairs):
    """Two-sided p of a paired t-test on the differences a - b (None when
    n < 2 or every difference is equal)."""
    d = [a - b for a, b in pairs]
    if len(d) < 2:
        return None
    m = sum(d) / len(d)
    if all(x == d[0] for x in d):
        return 1.0 if m == 0 else 0.0
    return float(stats.ttest_rel([a for a, _ in pairs], [b for _, b in pairs]).pvalue)


def holm_p(ps):
    """Holm-adjusted values of a list of p-values (None entries kept)."""
    rs = [Ratio(1, 1.0, p=p) for p in ps]
    holm(rs)
    return [r.p_holm if r.p is not None else None for r in rs]


def holm(ratios):
    """Sets .p_holm on every Ratio with a p-value (Holm step-down over
    them all, as one family) and returns the list."""
    have = [r for r in ratios if r.p is not None]
    order = sorted(have, key=lambda r: r.p)
    k = len(order)
    run = 0.0
    for i, r in enumerate(order):
        run = max(run, min(1.0, (k - i) * r.p))
        r.p_holm = run
    return ratios


def tost(r, margin=0.01):
    """Whether a paired ratio shows a cost of at most MARGIN (ratio >=
    1 - MARGIN): ("shown" | "refuted" | "undecided" | "n too small", n
    needed or None). One-sided tests at 5 % each way; n needed for 80 %
    power at this sd and this mean (undecided only)."""
    if r.n < 2 or r.sd is None:
        return "n too small", None
    bound = math.log(1 - margin)
    m = sum(r.logs) / r.n
    se = r.sd / math.sqrt(r.n)
    t95 = stats.t.ppf(0.95, r.df)
    if se == 0:
        return ("shown" if m >= bound else "refuted"), None
    if m - t95 * se >= bound:
        return "shown", None
    if m + t95 * se < bound:
        return "refuted", None
    d = abs(m - bound)
    if d == 0:
        return "undecided", math.inf
    # The smallest n > r.n at which a one-sided 5 % t test has 80 % power
    # at this sd and distance (t quantiles: at small n the normal
    # approximation promises too few).
    need = max(r.n + 1, math.ceil(((stats.norm.ppf(0.95) + stats.norm.ppf(0.80)) * r.sd / d) ** 2))
    while need < 10**6 and (stats.t.ppf(0.95, need - 1) + stats.t.ppf(0.80, need - 1)) * r.sd / math.sqrt(need) > d:
        need += max(1, need // 20)
    return "undecided", need


def fmt_tost(r, margin=0.01):
    """The TOST verdict as text."""
    verdict, need = tost(r, margin)
    if verdict == "undecided":
        return f"undecided (about {need} repetitions would decide it)" if need != math.inf else "undecided"
    return verdict


def boots(logs_by_boot):
    """(between-boot sd, within-boot sd, number of boots) of log-ratios
    grouped by boot (one-way random-effects ANOVA; between sd 0 when the
    boots' means vary no more than their repetitions predict)."""
    groups = [g for g in logs_by_boot if len(g) >= 1]
    k = len(groups)
    n = sum(len(g) for g in groups)
    if k < 2 or n - k < 1:
        return None
    grand = sum(sum(g) for g in groups) / n
    ssw = sum(sum((x - sum(g) / len(g)) ** 2 for x in g) for g in groups)
    ssb = sum(len(g) * (sum(g) / len(g) - grand) ** 2 for g in groups)
    msw = ssw / (n - k)
    msb = ssb / (k - 1)
    n0 = (n - sum(len(g) ** 2 for g in groups) / n) / (k - 1)
    var_b = max(0.0, (msb - msw) / n0)
    return math.sqrt(var_b), math.sqrt(msw), k


def mean_ci(x):
    """(mean, half-width of the 95 % t interval or None when n < 2)."""
    n = len(x)
    if n == 0:
        return None, None
    m = sum(x) / n
    if n < 2:
        return m, None
    sd = math.sqrt(sum((v - m) ** 2 for v in x) / (n - 1))
    return m, stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)


def fmt_mean(x, digits=1):
    """"12.3 ± 0.4" or "12.3 (n = 1: n too small for an interval)"."""
    m, h = mean_ci(x)
    if m is None:
        return "no data"
    if h is None:
        return f"{m:.{digits}f} (n = {len(x)}: n too small for an interval)"
    return f"{m:.{digits}f} ± {h:.{digits}f}"
