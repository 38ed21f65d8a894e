# SPDX-License-Identifier: GPL-2.0
"""Unit tests of scripts/labstats.py against scipy's own tests and known
answers (run by scripts/test.sh in the toolchain root:
python3 -m unittest discover -s scripts -p 'test_*.py')."""
import math
import random
import unittest

from scipy import stats

import labstats as ls


class Paired(unittest.TestCase):
    def test_matches_ttest_rel(self):
        rng = random.Random(1)
        a = [50 + rng.gauss(0, 5) for _ in range(12)]
        b = [x * (0.97 + rng.gauss(0, 0.02)) for x in a]
        r = ls.paired(list(zip(b, a)))
        ref = stats.ttest_rel([math.log(x) for x in b], [math.log(x) for x in a])
        self.assertAlmostEqual(r.p, ref.pvalue, places=10)
        self.assertEqual(r.n, 12)
        self.assertLess(r.lo, r.mean)
        self.assertLess(r.mean, r.hi)

    def test_ci_and_p_agree(self):
        rng = random.Random(2)
        for _ in range(200):
            a = [rng.uniform(40, 60) for _ in range(rng.randint(2, 15))]
            b = [x * rng.uniform(0.9, 1.1) for x in a]
            r = ls.paired(list(zip(b, a)))
            self.assertEqual(r.lo <= 1 <= r.hi, r.p >= 0.05, (r.lo, r.hi, r.p))

    def test_n_too_small(self):
        r = ls.paired([(1.0, 2.0)])
        self.assertFalse(r.has_ci)
        self.assertIn("n too small", r.fmt())
        self.assertNotIn("nan", r.fmt())
        self.assertEqual(ls.paired([]).fmt(), "no data")


class Welch(unittest.TestCase):
    def test_matches_ttest_ind(self):
        rng = random.Random(3)
        a = [rng.uniform(100, 200) for _ in range(5)]
        b = [rng.uniform(100, 400) for _ in range(9)]
        r = ls.welch(a, b)
        ref = stats.ttest_ind([math.log(x) for x in a], [math.log(x) for x in b], equal_var=False)
        self.assertAlmostEqual(r.p, ref.pvalue, places=10)

    def test_ci_and_p_agree(self):
        # The audit's finding: an interval with df of the smaller arm and a
        # p with Welch's df disagreed. Here both use Welch's df.
        rng = random.Random(4)
        for _ in range(200):
            a = [rng.uniform(50, 70) for _ in range(rng.randint(2, 8))]
            b = [rng.uniform(45, 75) for _ in range(rng.randint(2, 8))]
            r = ls.welch(a, b)
            self.assertEqual(r.lo <= 1 <= r.hi, r.p >= 0.05, (r.lo, r.hi, r.p))


class Holm(unittest.TestCase):
    def test_known(self):
        rs = [ls.Ratio(3, 1.0, p=p) for p in (0.01, 0.04, 0.03)]
        ls.holm(rs)
        self.assertAlmostEqual(rs[0].p_holm, 0.03)
        self.assertAlmostEqual(rs[1].p_holm, 0.06)
        self.assertAlmostEqual(rs[2].p_holm, 0.06)

    def test_capped_and_monotone(self):
        rs = [ls.Ratio(3, 1.0, p=p) for p in (0.5, 0.9, 0.001)]
        ls.holm(rs)
        self.assertEqual(rs[1].p_holm, 1.0)
        self.assertLessEqual(rs[2].p_holm, rs[0].p_holm)


class Diff(unittest.TestCase):
    def test_paired_diff(self):
        pairs = [(1.0, 0.0), (2.0, 0.5), (1.5, 0.4)]
        ref = stats.ttest_rel([a for a, _ in pairs], [b for _, b in pairs]).pvalue
        self.assertAlmostEqual(ls.paired_diff(pairs), ref)
        self.assertIsNone(ls.paired_diff([(1.0, 0.0)]))
        self.assertEqual(ls.paired_diff([(1.0, 1.0), (2.0, 2.0)]), 1.0)
        self.assertEqual(ls.holm_p([0.01, None, 0.04]), [0.02, None, 0.04])


class Tost(unittest.TestCase):
    @staticmethod
    def ratio(mean, sd, n, seed=5):
        rng = random.Random(seed)
        logs = [rng.gauss(0, 1) for _ in range(n)]
        m0 = sum(logs) / n
        s0 = math.sqrt(sum((x - m0) ** 2 for x in logs) / (n - 1))
        pairs = [(math.exp(math.log(mean) + (x - m0) / s0 * sd), 1.0) for x in logs]
        return ls.paired(pairs)

    def test_shown(self):
        self.assertEqual(ls.tost(self.ratio(1.0, 0.005, 20))[0], "shown")

    def test_refuted(self):
        self.assertEqual(ls.tost(self.ratio(0.93, 0.02, 20))[0], "refuted")

    def test_undecided_with_n(self):
        v, need = ls.tost(self.ratio(0.995, 0.1, 20))
        self.assertEqual(v, "undecided")
        # sd 0.1, distance |log .995 - log .99| ~ 0.00504: about 1.5e3.
        self.assertGreater(need, 1000)
        self.assertLess(need, 3000)

    def test_undecided_needs_more_than_it_has(self):
        # Far from the margin but noisy at n = 2 (as a short report's
        # 0.789 [0.482, 1.291]): more repetitions than the two it has, and
        # enough for the t test's power, not the normal approximation's.
        r = self.ratio(0.789, 0.2, 2)
        v, need = ls.tost(r)
        self.assertEqual(v, "undecided")
        self.assertGreater(need, 2)
        d = abs(math.log(0.789) - math.log(0.99))
        t = ls.stats.t
        self.assertLessEqual((t.ppf(0.95, need - 1) + t.ppf(0.80, need - 1)) * r.sd / math.sqrt(need), d)

    def test_n_too_small(self):
        self.assertEqual(ls.tost(ls.paired([(1.0, 1.0)]))[0], "n too small")


class Boots(unittest.TestCase):
    def test_no_between(self):
        b, w, k = ls.boots([[0.1, -0.1, 0.0], [0.1, -0.1, 0.0]])
        self.assertEqual(b, 0.0)
        self.assertEqual(k, 2)
        self.assertAlmostEqual(w, 0.1)

    def test_between(self):
        b, w, k = ls.boots([[0.0, 0.01, -0.01], [0.5, 0.51, 0.49]])
        self.assertGreater(b, 0.3)
        self.assertLess(w, 0.02)

    def test_one_boot(self):
        self.assertIsNone(ls.boots([[0.1, 0.2]]))


class Mean(unittest.TestCase):
    def test_fmt(self):
        self.assertEqual(ls.fmt_mean([5.0]), "5.0 (n = 1: n too small for an interval)")
        self.assertNotIn("nan", ls.fmt_mean([1.0, 1.0]))


if __name__ == "__main__":
    unittest.main()
