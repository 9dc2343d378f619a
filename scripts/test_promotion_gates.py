#!/usr/bin/env python3
"""Unit tests of the promotion gates (scripts/promotion_gates.py): each gate passing, failing
and failing closed on missing data; the config's refusals. scripts/test-infra.sh runs them:

    python3 scripts/test_promotion_gates.py
"""
import pathlib
import sys
import tempfile
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import promotion_gates as pg  # noqa: E402

GATES = {
    "max_cider_drop": 0.02,
    "max_p95_latency_increase_percent": 10.0,
    "max_5xx_rate_increase_points": 0.5,
    "min_invocations": 500,
    "window_minutes": 60,
}


def report(delta):
    return {"a": "primary-model", "b": "candidate-model", "images": 50,
            "figures": {"CIDEr-D": {"a": 1.0, "b": 1.0 + delta, "delta": delta}}}


def metrics(p=(1000, 2, 200.0), c=(600, 1, 210.0)):
    """(invocations, 5xx, p95 ms) of the primary and the candidate."""
    return {v: {"invocations": n, "errors_5xx": e, "p95_latency_ms": ms}
            for v, (n, e, ms) in (("primary", p), ("candidate", c))}


def verdict(rep, met):
    return {g.name: g.passed for g in pg.evaluate(GATES, rep, met)}


class Gates(unittest.TestCase):
    def test_all_pass(self):
        result = verdict(report(-0.01), metrics())
        self.assertEqual(set(result), {"cider", "invocations:primary", "invocations:candidate", "p95_latency", "5xx_rate"})
        self.assertTrue(all(result.values()), result)

    def test_cider_drop_beyond_the_limit_fails(self):
        self.assertFalse(verdict(report(-0.021), metrics())["cider"])
        self.assertTrue(verdict(report(-0.02), metrics())["cider"])
        self.assertTrue(verdict(report(0.3), metrics())["cider"])

    def test_report_without_cider_fails_closed(self):
        no_refs = {"a": "x", "b": "y", "figures": {"p95 ms": {"a": 1, "b": 2, "delta": 1}}}
        self.assertFalse(verdict(no_refs, metrics())["cider"])
        self.assertFalse(verdict({"figures": {"CIDEr-D": {"delta": None}}}, metrics())["cider"])

    def test_latency_increase_beyond_the_limit_fails(self):
        self.assertFalse(verdict(report(0), metrics(c=(600, 1, 220.1)))["p95_latency"])
        self.assertTrue(verdict(report(0), metrics(c=(600, 1, 220.0)))["p95_latency"])
        self.assertTrue(verdict(report(0), metrics(c=(600, 1, 100.0)))["p95_latency"])

    def test_5xx_rate_rise_beyond_the_limit_fails(self):
        # primary 0.2 %; candidate 0.8 % is +0.6 points
        self.assertFalse(verdict(report(0), metrics(c=(1000, 8, 200.0)))["5xx_rate"])
        self.assertTrue(verdict(report(0), metrics(c=(1000, 7, 200.0)))["5xx_rate"])

    def test_too_few_invocations_fail(self):
        result = verdict(report(0), metrics(c=(499, 0, 200.0)))
        self.assertFalse(result["invocations:candidate"])
        self.assertTrue(result["invocations:primary"])

    def test_missing_figures_fail_closed(self):
        for variant, index in (("primary", 0), ("candidate", 1)):
            for figure in range(3):
                p, c = [1000, 2, 200.0], [600, 1, 210.0]
                (p, c)[index][figure] = None
                result = verdict(report(0), metrics(tuple(p), tuple(c)))
                self.assertFalse(all(result.values()), f"{variant} figure {figure} missing: {result}")

    def test_zero_invocations_fail_closed(self):
        result = verdict(report(0), metrics(p=(0, 0, 200.0)))
        self.assertFalse(result["5xx_rate"])
        self.assertFalse(result["invocations:primary"])


class Config(unittest.TestCase):
    def write(self, text):
        f = tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False)
        f.write(text)
        f.close()
        self.addCleanup(pathlib.Path(f.name).unlink)
        return f.name

    def test_shipped_config_loads(self):
        gates = pg.load_config(str(pathlib.Path(__file__).resolve().parent / "promote-model.conf"))
        self.assertEqual(set(gates), set(pg.GATE_KEYS))

    def test_missing_unknown_and_bad_values_are_refused(self):
        full = "[gates]\n" + "".join(f"{k} = 1\n" for k in pg.GATE_KEYS)
        self.assertEqual(pg.load_config(self.write(full))["min_invocations"], 1)
        for text, message in (
            (full.replace("min_invocations = 1\n", ""), "min_invocations is not set"),
            (full + "max_cost = 3\n", "unknown gate"),
            (full.replace("max_cider_drop = 1", "max_cider_drop = lots"), "is not a float"),
            (full.replace("max_cider_drop = 1", "max_cider_drop = -1"), "must not be negative"),
            (full.replace("window_minutes = 1", "window_minutes = 0"), "at least 1"),
            ("[other]\n", r"no \[gates\] section"),
        ):
            with self.assertRaisesRegex(pg.InputError, message):
                pg.load_config(self.write(text))
        with self.assertRaisesRegex(pg.InputError, "cannot read"):
            pg.load_config("/nonexistent/promote-model.conf")


if __name__ == "__main__":
    unittest.main()
