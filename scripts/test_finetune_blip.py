#!/usr/bin/env python3
"""Smoke test of scripts/finetune_blip.py on the tiny checkpoint: a few steps from an
`imagefolder` (the web app's dataset layout) and from a COCO file, full and LoRA, then
`imgcap-inference check-model` on each output. Runs only where torch is importable; not part
of the test command (it needs scripts/requirements-finetune.txt):

    .venv-finetune/bin/python scripts/test_finetune_blip.py
"""
import importlib.util
import json
import pathlib
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT = pathlib.Path(__file__).resolve().parent.parent
TINY = ROOT / "models/tests/fixtures/tiny-blip"
SET = ROOT / "tests/data/eval/captions.json"


def check_model(directory):
    binary = ROOT / "target/debug/imgcap-inference"
    command = ([str(binary)] if binary.exists()
               else ["cargo", "run", "-q", "-p", "imgcap-inference", "--"])
    return subprocess.run(command + ["check-model", str(directory)], cwd=ROOT,
                          capture_output=True, text=True)


@unittest.skipUnless(importlib.util.find_spec("torch"), "torch is not importable")
class FinetuneSmoke(unittest.TestCase):
    def finetune(self, *args):
        return subprocess.run([sys.executable, str(ROOT / "scripts/finetune_blip.py"),
                               "--base", str(TINY), "--max-steps", "2", "--batch-size", "4",
                               *args], capture_output=True, text=True)

    def test_imagefolder_full_and_coco_lora_give_checkpoints_imgcap_loads(self):
        with tempfile.TemporaryDirectory() as work:
            work = pathlib.Path(work)
            # The web app's export layout: train/ with the images and metadata.jsonl.
            train = work / "dataset/train"
            train.mkdir(parents=True)
            coco = json.loads(SET.read_text())
            captions = {a["image_id"]: a["caption"] for a in coco["annotations"]}
            with (train / "metadata.jsonl").open("w") as metadata:
                for image in coco["images"]:
                    name = pathlib.Path(image["file_name"]).name
                    shutil.copy(SET.parent / image["file_name"], train / name)
                    metadata.write(json.dumps({"file_name": name, "text": captions[image["id"]],
                                               "source": "user", "reviewed": True}) + "\n")
            for name, source in [("full", ["--data", str(work / "dataset")]),
                                 ("lora", ["--coco", str(SET), "--lora"])]:
                out = work / name
                run = self.finetune(*source, "--out", str(out))
                self.assertEqual(run.returncode, 0, run.stderr)
                self.assertIn("step 2: loss", run.stdout)
                checked = check_model(out)
                self.assertEqual(checked.returncode, 0, checked.stdout + checked.stderr)
                self.assertIn("the checkpoint is valid", checked.stdout)

    def test_a_folder_without_metadata_is_refused_with_a_reason(self):
        with tempfile.TemporaryDirectory() as work:
            run = self.finetune("--data", work, "--out", str(pathlib.Path(work) / "out"))
            self.assertNotEqual(run.returncode, 0)
            self.assertIn("no metadata.jsonl", run.stderr)


if __name__ == "__main__":
    unittest.main()
