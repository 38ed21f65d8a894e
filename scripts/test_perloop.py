# SPDX-License-Identifier: GPL-2.0
"""Unit tests of scripts/perloop.py (run by scripts/test.sh's host checks)."""

import unittest

import perloop

LOG = """P empty storm execl_storm: procs=2 seconds=8 pin=cpu loops=100 loops_per_sec=12.5 mem=1
P empty dso     90.00%  [kernel.kallsyms]
P empty dso      5.00%  ld-linux-x86-64.so.2
P empty dso      0.50%  [rmap_shadow]
P empty sym     40.00%  [k] pv_native_safe_halt
P empty sym      1.00%  [k] pv_native_safe_halt_other
P shadow storm execl_storm: procs=2 seconds=8 pin=cpu loops=50 loops_per_sec=6.2 mem=1
P shadow dso     80.00%  [kernel.kallsyms]
P shadow dso      4.00%  ld-linux-x86-64.so.2
P shadow dso      3.00%  [rmap_shadow]
P shadow sym     30.00%  [k] pv_native_safe_halt
"""


class Parse(unittest.TestCase):
    def test_storms_and_shares(self):
        runs = perloop.parse(LOG.splitlines())
        self.assertEqual([r["mode"] for r in runs], ["empty", "shadow"])
        self.assertEqual(runs[0]["loops"], 100)
        self.assertEqual(runs[0]["idle"], 40.0)
        self.assertEqual(runs[1]["dso"]["[rmap_shadow]"], 3.0)

    def test_figures(self):
        f = perloop.figures(perloop.parse(LOG.splitlines())[1])
        self.assertAlmostEqual(f["busy"], 1e3 * 70 / 50)
        self.assertAlmostEqual(f["kernel"], 1e3 * 50 / 50)
        self.assertAlmostEqual(f["module_ld"], 3.0 / 4.0)
        self.assertAlmostEqual(f["busy_ld"], 70 / 4.0)

    def test_no_loops_is_none(self):
        self.assertIsNone(perloop.figures({"loops": 0, "idle": 0.0, "dso": {"ld-linux-x86-64.so.2": 1.0}}))
        self.assertIsNone(perloop.figures({"loops": 5, "idle": 0.0, "dso": {}}))


if __name__ == "__main__":
    unittest.main()
