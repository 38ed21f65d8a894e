# SPDX-License-Identifier: GPL-2.0
"""Unit tests of scripts/overhead.py: the drift statistic and an ABBA run's
raw lines end to end (run by scripts/test.sh in the toolchain root:
python3 -m unittest discover -s scripts -p 'test_*.py')."""
import contextlib
import io
import math
import os
import random
import tempfile
import unittest

import overhead as oh


class Drift(unittest.TestCase):
    def test_alternating_is_minus_one(self):
        # Residuals +e, -e, +e, ...: each storm is the opposite of the last.
        seq = [(1, "x", 100 * (1.1 if i % 2 else 1 / 1.1)) for i in range(40)]
        ac = oh.drift(seq)
        self.assertAlmostEqual(ac[1], -1.0, places=6)
        self.assertAlmostEqual(ac[2], 1.0, places=6)

    def test_independent_is_near_zero(self):
        rng = random.Random(3)
        seq = [(1, rng.choice("ab"), 100 * math.exp(rng.gauss(0, 0.1))) for _ in range(4000)]
        for v in oh.drift(seq).values():
            self.assertLess(abs(v), 0.06)

    def test_lags_stay_within_a_boot(self):
        # Two boots, each constant: no residual, no drift to report.
        seq = [(b, "x", 100.0) for b in (1, 2) for _ in range(10)]
        self.assertEqual(oh.drift(seq), {})


class AbbaRun(unittest.TestCase):
    def test_blocks_pair_their_geometric_means(self):
        # shadow costs exactly 5 % in every block, under a drift that
        # moves the machine's speed by 20 % across the run.
        lines = []
        for rep in range(1, 7):
            speed = 100 * (1 + 0.04 * rep)
            order = ["shadow", "empty", "empty", "shadow"] if rep % 2 else ["empty", "shadow", "shadow", "empty"]
            got = {}
            for slot, cfg in enumerate(order, 1):
                v = speed * math.exp(0.01 * slot) * (0.95 if cfg == "shadow" else 1.0)
                got.setdefault(cfg, []).append(v)
                lines.append(f"A 1n2c 1 {rep} {slot} {cfg} {v:.4f}")
            for cfg, (x, y) in got.items():
                lines.append(f"O 1n2c 1 {rep} {cfg} {math.sqrt(x * y):.4f} 2 2")
        with tempfile.TemporaryDirectory() as d:
            raw = os.path.join(d, "raw.txt")
            with open(raw, "w") as f:
                f.write("\n".join(lines) + "\n")
            with contextlib.redirect_stdout(io.StringIO()):
                oh.main(raw, d)
            with open(os.path.join(d, "overhead.md")) as f:
                md = f.read()
        row = next(line for line in md.splitlines() if line.startswith("| shadow / empty |"))
        # A drift linear in log within a block cancels: the ratio is 0.95 in
        # every block, so the interval is a point.
        self.assertIn("| 6 | 0.9500 [0.9500, 0.9500]", row)
        self.assertIn("(ABBA blocks: their single storms)", md)


if __name__ == "__main__":
    unittest.main()
