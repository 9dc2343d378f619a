output "model_id" {
  description = "Model id the app passes to Converse (IMGCAP_BEDROCK_MODEL_ID)."
  value       = data.aws_bedrock_foundation_model.this.model_id
}

output "model_arn" {
  description = "ARN of the foundation model; the only Bedrock resource the task role may invoke."
  value       = data.aws_bedrock_foundation_model.this.model_arn
}
