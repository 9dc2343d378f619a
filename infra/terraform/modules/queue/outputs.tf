output "queue_name" {
  description = "Name of the caption queue."
  value       = aws_sqs_queue.captions.name
}

output "queue_url" {
  description = "URL of the caption queue (IMGCAP_SQS_QUEUE_URL)."
  value       = aws_sqs_queue.captions.id
}

output "queue_arn" {
  description = "ARN of the caption queue."
  value       = aws_sqs_queue.captions.arn
}

output "dlq_name" {
  description = "Name of the dead-letter queue."
  value       = aws_sqs_queue.dlq.name
}

output "dlq_url" {
  description = "URL of the dead-letter queue (IMGCAP_SQS_DLQ_URL)."
  value       = aws_sqs_queue.dlq.id
}

output "dlq_arn" {
  description = "ARN of the dead-letter queue."
  value       = aws_sqs_queue.dlq.arn
}
