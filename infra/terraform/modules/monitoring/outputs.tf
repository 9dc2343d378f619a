output "sns_topic_arn" {
  description = "ARN of the alarm SNS topic."
  value       = aws_sns_topic.alarms.arn
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "dashboard_url" {
  description = "Console URL of the CloudWatch dashboard."
  value       = "https://${local.region}.console.aws.amazon.com/cloudwatch/home?region=${local.region}#dashboards/dashboard/${aws_cloudwatch_dashboard.this.dashboard_name}"
}

output "app_metrics" {
  description = "Namespace and dimensions of the app's own metrics as the caption-failure alarm reads them (the web app must emit the same: IMGCAP_METRICS_CLOUDWATCH_*)."
  value = {
    namespace  = aws_cloudwatch_metric_alarm.caption_failures.namespace
    dimensions = aws_cloudwatch_metric_alarm.caption_failures.dimensions
  }
}

output "dashboard_body" {
  description = "The dashboard's JSON body (its widgets, e.g. the promotion comparison while a candidate is on trial)."
  value       = aws_cloudwatch_dashboard.this.dashboard_body
}
