# SPDX-License-Identifier: GPL-2.0
"""Unit tests of scripts/model.py (run by scripts/test.sh's host checks)."""

import random
import unittest

import model


class Mva(unittest.TestCase):
    def test_one_customer_is_the_cycle(self):
        self.assertAlmostEqual(model.mva([0.2, 0.3], 0.5, 1), 1.0)

    def test_known_value(self):
        # One server (demand 1), think 1, two customers: X(1) = 0.5, Q = 0.5;
        # R(2) = 1.5, X(2) = 2 / 2.5.
        self.assertAlmostEqual(model.mva([1.0], 1.0, 2), 0.8)

    def test_bounds_and_monotone(self):
        rnd = random.Random(5)
        for _ in range(200):
            d = [rnd.uniform(1e-7, 1e-5) for _ in range(rnd.randint(1, 8))]
            z = rnd.uniform(0, 1e-4)
            prev = 0.0
            for n in (1, 2, 5, 32, 384):
                x = model.mva(d, z, n)
                self.assertLessEqual(x, n / (z + sum(d)) * (1 + 1e-9))
                self.assertLessEqual(x, 1 / max(d) * (1 + 1e-9))
                self.assertGreaterEqual(x, prev * (1 - 1e-12))
                prev = x
            # Saturation: many customers reach the bottleneck's bound.
            self.assertGreater(model.mva(d, z, 100000), 0.99 / max(d))


class Groups(unittest.TestCase):
    def test_topologies(self):
        self.assertEqual(model.topo_cpus("2n4c"), [(0, 0), (1, 0), (2, 1), (3, 1)])
        self.assertEqual(model.topo_cpus("1n2c"), [(0, 0), (1, 0)])
        self.assertIsNone(model.topo_cpus("host"))

    def test_groups(self):
        one = model.topo_cpus("1n2c")
        two = model.topo_cpus("2n2c")
        self.assertEqual(model.groups("single", "node", 2, two), [(2, [0.5, 0.5])])
        self.assertEqual(model.groups("all-trees", "node", 2, two), [(1, [0.5, 0.5])] * 2)
        self.assertEqual(model.groups("all-trees", "node", 2, one), [(2, [0.5, 0.5])])
        self.assertEqual(model.groups("inverted", "cpu", 2, one), [(1, [0.5, 0.5])] * 2)
        self.assertEqual(model.groups("all-trees", "hash", 2, one), [(2, [0.25] * 4)])
        self.assertEqual(model.groups("all-trees", "single", 8, one), [(2, [0.5, 0.5])])
        self.assertEqual(len(model.groups("all-trees", "node", 12, model.seed_box(12))), 12)

    def test_predict(self):
        # One thread: the measured rate back.
        self.assertAlmostEqual(model.predict("single", "node", 2, [(0, 0)], 1e5, 3000), 1e5)
        # Separate trees and locks per thread: n times one thread.
        self.assertAlmostEqual(model.predict("all-trees", "cpu", 2, model.topo_cpus("1n2c"), 1e5, 3000), 2e5)
        # Two file locks held for the whole operation, two threads: MVA's
        # 2 / (1.5 S), not 2x (they collide on a file half the time).
        self.assertAlmostEqual(model.predict("single", "node", 1, model.topo_cpus("1n2c"), 1e5, 1e4), 4e5 / 3)


if __name__ == "__main__":
    unittest.main()
