# Optional Bedrock captioner. Creates nothing billable: it resolves and checks the one
# foundation model the app may use; the iam module grants bedrock:InvokeModel on exactly that ARN.
data "aws_bedrock_foundation_model" "this" {
  model_id = var.model_id

  lifecycle {
    postcondition {
      condition     = contains(self.input_modalities, "IMAGE")
      error_message = "The Bedrock model ${var.model_id} does not accept image input."
    }
    postcondition {
      condition     = contains(self.inference_types_supported, "ON_DEMAND")
      error_message = "The Bedrock model ${var.model_id} does not support on-demand inference in this region (it may need an inference profile)."
    }
  }
}
