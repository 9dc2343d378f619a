#!/usr/bin/env python3
"""Black-box tests of scripts/promote-model.sh, deploy.sh and resize-endpoint.sh. They run
against test doubles of the two external programs on PATH: a fake `aws` that answers from a
canned world (the endpoint, its configurations and models, CloudWatch figures, ECR tags; the
`--query` is evaluated with jmespath, as the CLI does) and a fake `terraform` that records its
arguments, answers `output -raw` and, on apply, moves the endpoint to the applied configuration
or, when the world says SageMaker rolls back, leaves it and fails as the endpoint's
postcondition does. Every call is logged; the tests read the logs and the variables file.
scripts/test-infra.sh runs them with the tools venv (jmespath comes with awscli):

    .venv/bin/python scripts/test_operator_scripts.py
"""
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import textwrap
import unittest

ROOT = pathlib.Path(__file__).resolve().parent.parent

FAKE_AWS = r'''
import json, os, sys
import jmespath
world_path = os.environ["FAKE_WORLD"]
world = json.load(open(world_path))
args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write("aws " + " ".join(args) + "\n")

def opt(name):
    return args[args.index(name) + 1] if name in args else None

def text(value):
    if value is None:
        return "None"
    if isinstance(value, list):
        if value and all(isinstance(v, list) for v in value):
            return "\n".join("\t".join(text(x) for x in v) for v in value)
        return "\t".join(text(v) for v in value)
    return str(value)

def answer(doc):
    query = opt("--query")
    value = jmespath.search(query, doc) if query else doc
    print(text(value) if opt("--output") == "text" else json.dumps(value))
    sys.exit(0)

service, command = args[0], args[1]
if service == "sagemaker":
    if command == "describe-endpoint":
        answer(world["endpoint"])
    if command == "describe-endpoint-config":
        name = opt("--endpoint-config-name")
        if name not in world["configs"]:
            sys.exit(254)
        answer(world["configs"][name])
    if command == "describe-model":
        answer(world["models"][opt("--model-name")])
    if command in ("wait", "delete-endpoint-config", "delete-model"):
        sys.exit(0)
if service == "cloudwatch" and command == "get-metric-statistics":
    variant = [a for a in args if a.startswith("Name=VariantName,Value=")][0].split("=")[-1]
    value = world["metrics"].get(variant, {}).get(opt("--metric-name"))
    points = [] if value is None else [
        {"ExtendedStatistics": {"p95": value}} if "--extended-statistics" in args else {opt("--statistics"): value}]
    answer({"Datapoints": points})
if service == "cloudwatch" and command == "describe-alarms":
    answer({"MetricAlarms": [{"AlarmName": a} for a in world.get("alarms_firing", [])]})
if service == "ecs":
    if command == "describe-services":
        answer({"services": [{"taskDefinition": "web:7"}]})
    if command == "describe-task-definition":
        answer({"taskDefinition": {"containerDefinitions": [{"image": "repo/web:" + world["web_tag"]}]}})
    if command == "wait":
        sys.exit(0)
if service == "ecr" and command == "describe-images":
    sys.exit(0 if opt("--image-ids").split("=", 1)[1] in world["ecr_tags"] else 254)
print("fake aws: unexpected call " + " ".join(args), file=sys.stderr)
sys.exit(99)
'''

FAKE_TERRAFORM = r'''
import json, os, sys
world_path = os.environ["FAKE_WORLD"]
world = json.load(open(world_path))
args = [a for a in sys.argv[1:] if not a.startswith("-chdir=")]
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write("terraform " + " ".join(args) + "\n")
if args[:2] == ["output", "-raw"]:
    value = world["outputs"].get(args[2])
    if value is None:
        sys.exit(1)
    print(value, end="")
elif args[:2] == ["state", "list"]:
    print("\n".join(world.get("state", [])))
elif args[:1] == ["apply"]:
    step = world["applies"].pop(0)
    if step["sagemaker"] == "updates":
        world["endpoint"]["EndpointConfigName"] = step["config"]
        world["endpoint"]["ProductionVariants"][0]["CurrentInstanceCount"] = step.get("count", 1)
    world["outputs"]["sagemaker_endpoint_config_name"] = step["config"]
    world["outputs"].update(step.get("outputs", {}))
    json.dump(world, open(world_path, "w"))
    if step["sagemaker"] == "rolls back":
        print("Error: Resource postcondition failed: SageMaker rolled the endpoint update back", file=sys.stderr)
        sys.exit(1)
'''

PRIMARY_MODEL = {"PrimaryContainer": {"Image": "acct.dkr.ecr/imgcap-prod-inference:aaa111",
                                      "ModelDataUrl": "s3://models/v1/model.tar.gz"}}
CANDIDATE_MODEL = {"PrimaryContainer": {"Image": "acct.dkr.ecr/imgcap-prod-inference:bbb222",
                                        "ModelDataUrl": "s3://models/v2/model.tar.gz"}}


def world(candidate=True, metrics=None):
    variants = [{"VariantName": "primary", "ModelName": "ep-m1", "InstanceType": "ml.c6i.xlarge"}]
    if candidate:
        # first, as Terraform lists the variants by name
        variants.insert(0, {"VariantName": "candidate", "ModelName": "ep-m2", "InstanceType": "ml.c6i.xlarge"})
    good = {"Invocations": 1000, "Invocation5XXErrors": 1, "ModelLatency": 200000}
    return {
        "endpoint": {"EndpointConfigName": "ep-c1",
                     "ProductionVariants": [{"VariantName": "primary", "CurrentInstanceCount": 3}]},
        "configs": {"ep-c1": {"ProductionVariants": variants}},
        "models": {"ep-m1": PRIMARY_MODEL, "ep-m2": CANDIDATE_MODEL},
        "metrics": metrics if metrics is not None else {"primary": dict(good), "candidate": dict(good)},
        "outputs": {"sagemaker_endpoint_name": "ep", "sagemaker_endpoint_config_name": "ep-c1",
                    "ecs_cluster_name": "cluster", "ecs_service_name": "web", "app_url": "https://x/",
                    **({"sagemaker_candidate_variant_name": "candidate"} if candidate else {})},
        "web_tag": "web111",
        "ecr_tags": ["aaa111", "aaa111-cuda", "bbb222", "bbb222-cuda"],
        "applies": [],
    }


REPORT = {"a": "v1", "b": "v2", "images": 50, "figures": {"CIDEr-D": {"a": 1.0, "b": 1.01, "delta": 0.01}}}


class ScriptTest(unittest.TestCase):
    def setUp(self):
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="imgcap-ops-"))
        bin_dir = self.dir / "bin"
        bin_dir.mkdir()
        for name, body in (("aws", FAKE_AWS), ("terraform", FAKE_TERRAFORM)):
            path = bin_dir / name
            path.write_text(f"#!{sys.executable}\n{body}")
            path.chmod(0o755)
        self.var_file = self.dir / "terraform.tfvars"
        self.var_file.write_text(textwrap.dedent("""\
            model_data_url = "s3://models/v1/model.tar.gz"
            inference_instance_type = "ml.c6i.xlarge"
            inference_instance_count = 2
            """))
        self.backend = self.dir / "backend.hcl"
        self.backend.write_text('bucket = "state"\n')
        self.report = self.dir / "compare.json"
        self.report.write_text(json.dumps(REPORT))
        self.log = self.dir / "calls.log"
        self.env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}",
                    "FAKE_WORLD": str(self.dir / "world.json"), "FAKE_LOG": str(self.log)}

    def tearDown(self):
        subprocess.run(["rm", "-rf", str(self.dir)], check=True)

    def set_world(self, w):
        (self.dir / "world.json").write_text(json.dumps(w))

    def run_script(self, script, *args):
        cmd = [str(ROOT / "scripts" / script), *args, "--env", "prod",
               "--var-file", str(self.var_file), "--backend-config", str(self.backend)]
        result = subprocess.run(cmd, capture_output=True, text=True, env=self.env, timeout=60)
        self.output = result.stdout + result.stderr
        return result.returncode

    def calls(self, prefix):
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        return [line for line in lines if line.startswith(prefix)]


class Promote(ScriptTest):
    def test_check_passes_with_good_figures(self):
        self.set_world(world())
        self.assertEqual(self.run_script("promote-model.sh", "check", "--report", str(self.report)), 0, self.output)
        self.assertIn("all gates pass", self.output)

    def test_each_failing_gate_fails_the_check(self):
        cases = {
            "cider": ({"figures": {"CIDEr-D": {"a": 1.0, "b": 0.9, "delta": -0.1}}}, {}),
            "p95_latency": (REPORT, {"ModelLatency": 300000}),
            "5xx_rate": (REPORT, {"Invocation5XXErrors": 50}),
            "invocations:candidate": (REPORT, {"Invocations": 10, "Invocation5XXErrors": 0}),
        }
        for gate, (report, candidate) in cases.items():
            with self.subTest(gate=gate):
                w = world()
                w["metrics"]["candidate"].update(candidate)
                self.set_world(w)
                self.report.write_text(json.dumps(report))
                self.assertEqual(self.run_script("promote-model.sh", "check", "--report", str(self.report)), 1)
                self.assertRegex(self.output, rf"FAIL +{gate} ")

    def test_missing_metrics_fail_closed(self):
        for metric in ("Invocations", "Invocation5XXErrors", "ModelLatency"):
            with self.subTest(metric=metric):
                w = world()
                del w["metrics"]["candidate"][metric]
                self.set_world(w)
                self.assertEqual(self.run_script("promote-model.sh", "check", "--report", str(self.report)), 1)
                self.assertIn("FAIL", self.output)

    def test_promote_refused_when_a_gate_fails(self):
        w = world()
        w["metrics"]["candidate"]["ModelLatency"] = 900000
        self.set_world(w)
        before = self.var_file.read_text()
        self.assertEqual(self.run_script("promote-model.sh", "promote", "--report", str(self.report), "--auto-approve"), 1)
        self.assertIn("the gates failed", self.output)
        self.assertEqual(self.calls("terraform apply"), [])
        self.assertEqual(self.var_file.read_text(), before)

    def test_promote_then_rollback(self):
        w = world()
        w["applies"] = [{"sagemaker": "updates", "config": "ep-c2", "count": 3,
                         "outputs": {"sagemaker_candidate_variant_name": None}},
                        {"sagemaker": "updates", "config": "ep-c3", "count": 3}]
        # the candidate runs a new image and model; after the promotion the primary runs them
        w["models"]["ep-m2"] = {"PrimaryContainer": {"Image": "acct/inference:bbb222", "ModelDataUrl": "s3://models/v2/model.tar.gz"}}
        w["models"]["ep-m4"] = w["models"]["ep-m2"]
        w["configs"]["ep-c2"] = {"ProductionVariants": [{"VariantName": "primary", "ModelName": "ep-m4"}]}
        self.set_world(w)
        self.var_file.write_text(self.var_file.read_text() + 'inference_candidate = { image_tag = "bbb222", model_data_url = "s3://models/v2/model.tar.gz" }\n')
        self.assertEqual(self.run_script("promote-model.sh", "promote", "--report", str(self.report), "--auto-approve"), 0, self.output)
        [apply] = self.calls("terraform apply")
        for flag in ("-var inference_candidate=null", "-var model_data_url=s3://models/v2/model.tar.gz",
                     "-var inference_instance_type=ml.c6i.xlarge", "-var inference_instance_count=3"):
            self.assertIn(flag, apply)
        # the running tag is pinned first, the candidate's wins (the last -var counts)
        self.assertRegex(apply, r"inference_image_tag=aaa111 .*-var inference_image_tag=bbb222$")
        promoted = self.var_file.read_text()
        self.assertNotIn("inference_candidate", promoted)
        self.assertIn('model_data_url = "s3://models/v2/model.tar.gz"', promoted)
        self.assertIn('inference_image_tag = "bbb222"', promoted)
        self.assertTrue(pathlib.Path(f"{self.var_file}.before-promotion").exists())

        self.assertEqual(self.run_script("promote-model.sh", "rollback", "--auto-approve"), 0, self.output)
        rollback = self.calls("terraform apply")[1]
        self.assertRegex(rollback, r"inference_image_tag=bbb222 .*-var inference_image_tag=aaa111$")
        restored = self.var_file.read_text()
        self.assertIn('model_data_url = "s3://models/v1/model.tar.gz"', restored)
        self.assertNotIn("inference_candidate", restored)
        self.assertNotIn("previous_inference_image_tag", restored)

    def test_dry_run_plans_and_changes_nothing(self):
        self.set_world(world())
        before = self.var_file.read_text()
        self.assertEqual(self.run_script("promote-model.sh", "promote", "--report", str(self.report), "--dry-run"), 0, self.output)
        self.assertEqual(len(self.calls("terraform plan")), 1)
        self.assertEqual(self.calls("terraform apply"), [])
        self.assertEqual(self.var_file.read_text(), before)

    def test_start_writes_the_candidate_and_refuses_a_second(self):
        w = world(candidate=False)
        w["applies"] = [{"sagemaker": "updates", "config": "ep-c2", "count": 3}]
        self.set_world(w)
        self.assertEqual(self.run_script("promote-model.sh", "start", "--model-data-url", "s3://models/v2/model.tar.gz",
                                         "--mode", "shadow", "--weight", "0.5", "--auto-approve"), 0, self.output)
        expected = 'inference_candidate = { model_data_url = "s3://models/v2/model.tar.gz", mode = "shadow", weight = 0.5 }'
        self.assertIn(expected.split(" = ", 1)[1], self.calls("terraform apply")[0])
        self.assertIn(expected, self.var_file.read_text())

        self.set_world(world(candidate=True))
        self.assertEqual(self.run_script("promote-model.sh", "start", "--image-tag", "bbb222"), 1)
        self.assertIn("is on trial already", self.output)

    def test_gpu_candidate_gets_the_cuda_build(self):
        w = world(candidate=False)
        w["applies"] = [{"sagemaker": "updates", "config": "ep-c2", "count": 3}]
        self.set_world(w)
        self.assertEqual(self.run_script("promote-model.sh", "start", "--model-data-url", "s3://models/v2/model.tar.gz",
                                         "--instance-type", "ml.g5.xlarge", "--auto-approve"), 0, self.output)
        self.assertIn('image_tag = "aaa111-cuda"', self.var_file.read_text())

        self.set_world(world(candidate=False))
        self.assertEqual(self.run_script("promote-model.sh", "start", "--image-tag", "bbb222", "--instance-type", "ml.g5.xlarge"), 1)
        self.assertIn("does not fit ml.g5.xlarge, which needs bbb222-cuda", self.output)

    def test_abort_drops_the_candidate(self):
        w = world()
        w["applies"] = [{"sagemaker": "updates", "config": "ep-c2", "count": 3}]
        self.set_world(w)
        self.var_file.write_text(self.var_file.read_text() + 'inference_candidate = { image_tag = "bbb222" }\n')
        self.assertEqual(self.run_script("promote-model.sh", "abort", "--auto-approve"), 0, self.output)
        [apply] = self.calls("terraform apply")
        self.assertIn("-var inference_candidate=null", apply)
        # the primary keeps its image, not the candidate's
        self.assertIn("-var inference_image_tag=aaa111", apply)
        self.assertNotIn("bbb222", apply)
        self.assertNotIn("inference_candidate", self.var_file.read_text())


class Deploy(ScriptTest):
    def deploy(self):
        return self.run_script("deploy.sh", "--web-tag", "web222", "--inference-tag", "bbb222", "--no-smoke", "--auto-approve")

    def test_release_keeps_the_running_capacity(self):
        w = world(candidate=False)
        w["applies"] = [{"sagemaker": "updates", "config": "ep-c2", "count": 3}]
        self.set_world(w)
        # the running tags must be the new ones after the apply: the fake model of ep-c2
        w["configs"]["ep-c2"] = {"ProductionVariants": [{"VariantName": "primary", "ModelName": "ep-m3"}]}
        w["models"]["ep-m3"] = {"PrimaryContainer": {"Image": "acct/inference:bbb222", "ModelDataUrl": "s3://m"}}
        w["web_tag"] = "web222"
        self.set_world(w)
        self.assertEqual(self.deploy(), 0, self.output)
        [apply] = self.calls("terraform apply")
        self.assertIn("-var inference_instance_count=3", apply)
        self.assertIn("-var inference_image_tag=bbb222", apply)

    def test_gpu_type_deploys_the_cuda_tag(self):
        self.var_file.write_text('inference_instance_type = "ml.g5.xlarge"\n')
        w = world(candidate=False)
        w["applies"] = [{"sagemaker": "updates", "config": "ep-c2"}]
        w["configs"]["ep-c2"] = {"ProductionVariants": [{"VariantName": "primary", "ModelName": "ep-m3"}]}
        w["models"]["ep-m3"] = {"PrimaryContainer": {"Image": "acct/inference:bbb222-cuda", "ModelDataUrl": "s3://m"}}
        w["web_tag"] = "web222"
        self.set_world(w)
        self.assertEqual(self.deploy(), 0, self.output)
        self.assertIn("-var inference_image_tag=bbb222-cuda", self.calls("terraform apply")[0])

    def test_sagemaker_rollback_fails_loudly_and_state_adopts_the_kept_config(self):
        w = world(candidate=False)
        w["applies"] = [{"sagemaker": "rolls back", "config": "ep-c2"}, {"sagemaker": "keeps", "config": "ep-c1"}]
        w["configs"]["ep-c2"] = {"ProductionVariants": [{"VariantName": "primary", "ModelName": "ep-m3"}]}
        w["state"] = ["module.imgcap.module.inference.aws_sagemaker_endpoint_configuration.this",
                      'module.imgcap.module.inference.aws_sagemaker_model.this["primary"]',
                      "module.imgcap.module.inference.aws_sagemaker_endpoint.this"]
        w["alarms_firing"] = ["ep-5xx"]
        self.set_world(w)
        self.assertEqual(self.deploy(), 1, self.output)
        self.assertIn("SAGEMAKER ROLLED THE UPDATE BACK: endpoint ep runs ep-c1, not ep-c2", self.output)
        self.assertIn("alarms firing: ep-5xx", self.output)
        removed = [c.split()[-1] for c in self.calls("terraform state rm")]
        self.assertEqual(removed, w["state"][:2])
        imports = [c.split()[-2:] for c in self.calls("terraform import")]
        self.assertEqual(imports, [["module.imgcap.module.inference.aws_sagemaker_endpoint_configuration.this", "ep-c1"],
                                   ['module.imgcap.module.inference.aws_sagemaker_model.this["primary"]', "ep-m1"]])
        self.assertIn("-var inference_image_tag=aaa111", self.calls("terraform import")[0])
        self.assertEqual(self.calls("aws sagemaker delete"),
                         ["aws sagemaker delete-endpoint-config --endpoint-config-name ep-c2",
                          "aws sagemaker delete-model --model-name ep-m3"])
        rollback = self.calls("terraform apply")[1]
        self.assertIn("-var inference_image_tag=aaa111", rollback)
        self.assertIn("rolled back; the previous release runs again", self.output)

    def test_a_state_left_by_an_earlier_rollback_is_adopted_first(self):
        w = world(candidate=False)
        w["outputs"]["sagemaker_endpoint_config_name"] = "ep-c9"  # what the failed apply left
        w["configs"]["ep-c9"] = {"ProductionVariants": [{"VariantName": "primary", "ModelName": "ep-m9"}]}
        w["state"] = ["module.imgcap.module.inference.aws_sagemaker_endpoint_configuration.this"]
        w["applies"] = [{"sagemaker": "updates", "config": "ep-c2"}]
        w["configs"]["ep-c2"] = {"ProductionVariants": [{"VariantName": "primary", "ModelName": "ep-m3"}]}
        w["models"]["ep-m3"] = {"PrimaryContainer": {"Image": "acct/inference:bbb222", "ModelDataUrl": "s3://m"}}
        w["web_tag"] = "web222"
        self.set_world(w)
        self.assertEqual(self.deploy(), 0, self.output)
        log = self.log.read_text()
        self.assertLess(log.index("terraform import"), log.index("terraform apply"))
        self.assertIn("aws sagemaker delete-endpoint-config --endpoint-config-name ep-c9", log)
        self.assertIn("aws sagemaker delete-model --model-name ep-m9", log)

    def test_refused_while_a_candidate_is_on_trial(self):
        self.set_world(world(candidate=True))
        self.assertEqual(self.deploy(), 1)
        self.assertIn("a candidate model is on trial", self.output)
        self.assertEqual(self.calls("terraform apply"), [])


class Resize(ScriptTest):
    def test_cpu_to_gpu_switches_to_the_cuda_image(self):
        w = world(candidate=False)
        w["applies"] = [{"sagemaker": "updates", "config": "ep-c2", "count": 3}]
        self.set_world(w)
        self.assertEqual(self.run_script("resize-endpoint.sh", "--instance-type", "ml.g5.xlarge", "--auto-approve"), 0, self.output)
        [plan] = self.calls("terraform plan")
        # the CUDA tag comes after the pinned CPU tag, so it wins
        self.assertRegex(plan, r"inference_image_tag=aaa111 .*-var inference_image_tag=aaa111-cuda")
        self.assertIn("-var inference_instance_count=3", plan)
        self.assertIn('inference_instance_type = "ml.g5.xlarge"', self.var_file.read_text())

    def test_mismatched_tag_is_refused(self):
        self.set_world(world(candidate=False))
        self.assertEqual(self.run_script("resize-endpoint.sh", "--instance-type", "ml.g5.xlarge", "--inference-tag", "bbb222"), 1)
        self.assertIn("needs bbb222-cuda", self.output)
        self.assertEqual(self.calls("terraform plan"), [])

    def test_missing_cuda_image_is_refused(self):
        w = world(candidate=False)
        w["ecr_tags"] = ["aaa111"]
        self.set_world(w)
        self.assertEqual(self.run_script("resize-endpoint.sh", "--instance-type", "ml.g5.xlarge"), 1)
        self.assertIn("has no image aaa111-cuda", self.output)

    def test_rolled_back_resize_restores_the_variables(self):
        w = world(candidate=False)
        w["applies"] = [{"sagemaker": "rolls back", "config": "ep-c2"}]
        w["configs"]["ep-c2"] = {"ProductionVariants": [{"VariantName": "primary", "ModelName": "ep-m3"}]}
        self.set_world(w)
        before = self.var_file.read_text()
        self.assertEqual(self.run_script("resize-endpoint.sh", "--count", "4", "--auto-approve"), 1)
        self.assertIn("kept its previous size", self.output)
        self.assertEqual(self.var_file.read_text(), before)


if __name__ == "__main__":
    unittest.main()
