# SPDX-License-Identifier: GPL-2.0
"""Unit tests of scripts/lockstat.py (run by scripts/test.sh's host checks)."""

import os
import tempfile
import unittest

import lockstat


def k_line(rep, cfg, loops, lps, w_hold_us, w_acq=100, w_wait_us=10.0):
    return (f"K 1n2c {rep} {cfg} {loops} {lps} 3 {w_wait_us} {w_acq} {w_hold_us} "
            f"1 2.0 50 5.0\n")


class Hold(unittest.TestCase):
    def run_raw(self, text):
        with tempfile.TemporaryDirectory() as d:
            raw = os.path.join(d, "raw.txt")
            with open(raw, "w") as f:
                f.write(text)
            lockstat.main(raw, d)
            with open(os.path.join(d, "lockstat.md")) as f:
                return f.read()

    def test_paired_ratios(self):
        # shadow holds the write side twice as long per loop in every
        # repetition (same loops): the paired ratio is exactly 2.
        raw = ""
        for rep, jitter in ((1, 1.0), (2, 1.1), (3, 0.9)):
            raw += k_line(rep, "unloaded", 100, 20.0 * jitter, 1000.0 * jitter)
            raw += k_line(rep, "empty", 100, 19.0 * jitter, 1100.0 * jitter)
            raw += k_line(rep, "shadow", 100, 18.0 * jitter, 2000.0 * jitter)
        md = self.run_raw(raw)
        rows = {ln.split("|")[1].strip(): ln for ln in md.splitlines() if " / " in ln}
        self.assertIn("shadow / unloaded", rows)
        cells = [c.strip() for c in rows["shadow / unloaded"].split("|")]
        self.assertTrue(cells[2].startswith("0.900"), cells)  # loops/s
        self.assertTrue(cells[3].startswith("2.000"), cells)  # W hold/acq
        self.assertTrue(cells[4].startswith("2.000"), cells)  # W hold/loop
        self.assertTrue(cells[5].startswith("1.000"), cells)  # W wait/loop
        self.assertIn("| shadow | 3 |", md)

    def test_zero_loops_left_out(self):
        raw = k_line(1, "unloaded", 0, 0.0, 0.0) + k_line(1, "shadow", 10, 2.0, 50.0)
        md = self.run_raw(raw)
        self.assertNotIn("| unloaded |", md)
        self.assertNotIn("nan", md.lower())

    def test_no_lines(self):
        with self.assertRaises(SystemExit):
            self.run_raw("nothing here\n")


if __name__ == "__main__":
    unittest.main()
