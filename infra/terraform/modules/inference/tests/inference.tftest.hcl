# The inference module against a mocked AWS provider (no account, no network): the candidate
# variant (weighted and shadow), the inference AMI on GPU types only, and the refusals of a GPU
# type with a CPU image and the reverse.
# Run: cd infra/terraform/modules/inference && terraform init -backend=false && terraform test

mock_provider "aws" {
  mock_data "aws_region" {
    defaults = {
      name = "eu-west-1"
    }
  }

  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "123456789012"
    }
  }

  mock_data "aws_partition" {
    defaults = {
      partition = "aws"
    }
  }

  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }

  mock_resource "aws_iam_role" {
    defaults = {
      arn = "arn:aws:iam::123456789012:role/imgcap-prod-sagemaker"
    }
  }

  mock_resource "aws_cloudwatch_log_group" {
    defaults = {
      arn = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/sagemaker/Endpoints/imgcap-prod-captioner"
    }
  }
}

variables {
  name_prefix              = "imgcap-prod"
  image_uri                = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/imgcap-prod-inference:0123abc"
  model_data_url           = "s3://imgcap-models-123456789012/captioner/v1/model.tar.gz"
  kms_key_arn              = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
  inference_repository_arn = "arn:aws:ecr:eu-west-1:123456789012:repository/imgcap-prod-inference"
  # The guard shells out to the aws CLI; nothing to deregister in a mocked run.
  resize_guard = false
}

run "cpu_primary_only" {
  command = apply

  assert {
    condition     = length(aws_sagemaker_endpoint_configuration.this.production_variants) == 1 && length(aws_sagemaker_endpoint_configuration.this.shadow_production_variants) == 0
    error_message = "without a candidate the endpoint has exactly one production variant and no shadow"
  }

  assert {
    condition     = aws_sagemaker_endpoint_configuration.this.production_variants[0].variant_name == "primary" && aws_sagemaker_endpoint_configuration.this.production_variants[0].initial_variant_weight == 1
    error_message = "the primary variant takes all traffic"
  }

  assert {
    condition     = aws_sagemaker_endpoint_configuration.this.production_variants[0].inference_ami_version == null
    error_message = "a CPU type keeps SageMaker's default AMI (no inference_ami_version)"
  }

  assert {
    condition     = output.candidate_variant_name == null && keys(aws_sagemaker_model.this) == ["primary"]
    error_message = "no candidate model without a candidate"
  }

  assert {
    condition     = flatten([for st in jsondecode(output.role_policy_json).Statement : st.Resource if st.Sid == "ReadModelArtifact"]) == ["arn:aws:s3:::imgcap-models-123456789012/captioner/v1/model.tar.gz"]
    error_message = "without a candidate the SageMaker role reads exactly the primary's artifact"
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.model_latency["primary"].alarm_name == "imgcap-prod-captioner-model-latency" && aws_cloudwatch_metric_alarm.model_latency["primary"].extended_statistic == "p95"
    error_message = "the primary's latency alarm keeps its name and watches p95 ModelLatency"
  }

  assert {
    condition     = aws_sagemaker_endpoint.this.endpoint_config_name == aws_sagemaker_endpoint_configuration.this.name
    error_message = "the endpoint runs the configuration just created"
  }
}

run "gpu_primary_gets_the_inference_ami" {
  command = plan

  variables {
    instance_type = "ml.g5.xlarge"
    image_uri     = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/imgcap-prod-inference:0123abc-cuda"
  }

  assert {
    condition     = aws_sagemaker_endpoint_configuration.this.production_variants[0].inference_ami_version == "al2-ami-sagemaker-inference-gpu-3-1"
    error_message = "an NVIDIA GPU type runs the driver 550 / CUDA 12.4 inference AMI by default"
  }

  assert {
    condition     = aws_sagemaker_endpoint_configuration.this.kms_key_arn == null
    error_message = "ml.g5 (NVMe instance storage) rejects a volume KMS key"
  }
}

run "weighted_candidate" {
  command = apply

  variables {
    candidate = {
      model_data_url = "s3://imgcap-models-123456789012/captioner/v2/model.tar.gz"
      instance_count = 2
      weight         = 0.2
    }
  }

  assert {
    condition = {
      for v in aws_sagemaker_endpoint_configuration.this.production_variants : v.variant_name => [v.initial_variant_weight, v.initial_instance_count, v.instance_type]
      } == {
      primary   = [0.8, 1, "ml.c6i.xlarge"]
      candidate = [0.2, 2, "ml.c6i.xlarge"]
    }
    error_message = "the candidate answers 20 % of the requests on two instances, the primary the rest"
  }

  assert {
    condition     = aws_sagemaker_model.this["candidate"].primary_container[0].model_data_url == "s3://imgcap-models-123456789012/captioner/v2/model.tar.gz" && aws_sagemaker_model.this["candidate"].primary_container[0].image == var.image_uri
    error_message = "the candidate runs its own model artifact with the primary's image"
  }

  assert {
    condition     = aws_sagemaker_model.this["candidate"].name != aws_sagemaker_model.this["primary"].name
    error_message = "the two variants run two models"
  }

  assert {
    condition = flatten([for st in jsondecode(output.role_policy_json).Statement : st.Resource if st.Sid == "ReadModelArtifact"]) == [
      "arn:aws:s3:::imgcap-models-123456789012/captioner/v1/model.tar.gz",
      "arn:aws:s3:::imgcap-models-123456789012/captioner/v2/model.tar.gz",
    ]
    error_message = "the SageMaker role may read the candidate's artifact too, and nothing else"
  }

  assert {
    condition     = output.candidate_variant_name == "candidate" && output.candidate_mode == "weighted"
    error_message = "the candidate variant is named for promote-model.sh"
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.errors_5xx["candidate"].dimensions.VariantName == "candidate" && aws_cloudwatch_metric_alarm.model_latency["candidate"].alarm_name == "imgcap-prod-captioner-candidate-model-latency"
    error_message = "the candidate has its own 5xx and p95 latency alarms"
  }

  assert {
    condition     = length(output.alarm_arns) == 4 && length(aws_sagemaker_endpoint.this.deployment_config[0].auto_rollback_configuration[0].alarms) == 4
    error_message = "all four alarms are the rollback triggers of the endpoint update"
  }
}

run "shadow_candidate_on_gpu" {
  command = plan

  variables {
    candidate = {
      image_uri     = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/imgcap-prod-inference:4567def-cuda"
      instance_type = "ml.g5.xlarge"
      mode          = "shadow"
      weight        = 1
    }
  }

  assert {
    condition     = length(aws_sagemaker_endpoint_configuration.this.production_variants) == 1 && aws_sagemaker_endpoint_configuration.this.production_variants[0].initial_variant_weight == 1
    error_message = "with a shadow the primary keeps answering every request"
  }

  assert {
    condition = [for v in aws_sagemaker_endpoint_configuration.this.shadow_production_variants : [v.variant_name, v.initial_variant_weight, v.instance_type, v.inference_ami_version]] == [
      ["candidate", 1, "ml.g5.xlarge", "al2-ami-sagemaker-inference-gpu-3-1"],
    ]
    error_message = "the shadow gets a copy of every request, on a GPU type with the GPU AMI"
  }

  assert {
    condition     = aws_sagemaker_endpoint_configuration.this.production_variants[0].inference_ami_version == null
    error_message = "the CPU primary keeps the default AMI"
  }

  assert {
    condition     = aws_sagemaker_endpoint_configuration.this.kms_key_arn == null
    error_message = "a configuration with any NVMe-storage variant carries no volume KMS key"
  }
}

run "refuses_gpu_type_with_cpu_image" {
  command = plan

  variables {
    instance_type = "ml.g5.xlarge"
  }

  expect_failures = [aws_sagemaker_model.this["primary"]]
}

run "refuses_cpu_type_with_cuda_image" {
  command = plan

  variables {
    image_uri = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/imgcap-prod-inference:0123abc-cuda"
  }

  expect_failures = [aws_sagemaker_model.this["primary"]]
}

run "refuses_candidate_kind_mismatch" {
  command = plan

  variables {
    candidate = {
      image_uri     = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/imgcap-prod-inference:4567def"
      instance_type = "ml.g5.xlarge"
    }
  }

  expect_failures = [aws_sagemaker_model.this["candidate"]]
}

run "refuses_neuron_types" {
  command = plan

  variables {
    instance_type = "ml.inf2.xlarge"
  }

  expect_failures = [aws_sagemaker_model.this["primary"]]
}

run "refuses_candidate_identical_to_primary" {
  command = plan

  variables {
    candidate = {
      instance_count = 1
    }
  }

  expect_failures = [aws_sagemaker_model.this["candidate"]]
}

run "refuses_bad_candidate_weight_and_ami" {
  command = plan

  variables {
    candidate = {
      model_data_url = "s3://imgcap-models-123456789012/captioner/v2/model.tar.gz"
      weight         = 1
    }
    inference_ami_version = "al2-ami-sagemaker-inference-neuron-2"
  }

  expect_failures = [var.candidate, var.inference_ami_version]
}

run "tracing_sends_each_variant_to_xray" {
  command = apply

  variables {
    enable_tracing           = true
    enable_network_isolation = false
    candidate = {
      model_data_url = "s3://imgcap-models-123456789012/captioner/v2/model.tar.gz"
      weight         = 0.1
    }
  }

  assert {
    condition = alltrue([for name, model in aws_sagemaker_model.this :
      model.primary_container[0].environment["OTEL_EXPORTER_OTLP_ENDPOINT"] == "https://xray.eu-west-1.amazonaws.com"
      && model.primary_container[0].environment["OTEL_SERVICE_NAME"] == "imgcap-prod-inference-${name}"
    ])
    error_message = "each variant exports to the region's X-Ray OTLP endpoint under its own service name"
  }

  assert {
    condition     = [for st in jsondecode(output.role_policy_json).Statement : st.Action if st.Sid == "XRayTraces"] == ["xray:PutTraceSegments"]
    error_message = "the execution role may send trace segments (what the OTLP endpoint authorises)"
  }

  assert {
    condition     = aws_sagemaker_model.this["primary"].enable_network_isolation == false
    error_message = "the container reaches X-Ray"
  }
}

run "no_tracing_no_export_no_permission" {
  command = plan

  assert {
    condition     = !contains(keys(aws_sagemaker_model.this["primary"].primary_container[0].environment), "OTEL_EXPORTER_OTLP_ENDPOINT")
    error_message = "tracing is off by default: no export"
  }

  assert {
    condition     = length([for st in jsondecode(output.role_policy_json).Statement : st if st.Sid == "XRayTraces"]) == 0
    error_message = "no X-Ray permission without tracing"
  }
}

run "refuses_tracing_inside_network_isolation" {
  command = plan

  variables {
    enable_tracing = true
  }

  expect_failures = [aws_sagemaker_model.this["primary"]]
}
