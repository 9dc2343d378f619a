# Alarm topic, alarms and one dashboard for the whole service.
data "aws_region" "current" {}

locals {
  region  = data.aws_region.current.name
  actions = [aws_sns_topic.alarms.arn]
  app_dim = { Environment = var.environment }
}

resource "aws_sns_topic" "alarms" {
  name              = "${var.name_prefix}-alarms"
  kms_master_key_id = var.kms_key_arn
  tags              = var.tags
}

resource "aws_sns_topic_subscription" "email" {
  count     = var.alarm_email == null ? 0 : 1
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

# --- alarms -----------------------------------------------------------------------------------
resource "aws_cloudwatch_metric_alarm" "alb_error_rate" {
  alarm_name          = "${var.name_prefix}-web-5xx-rate"
  alarm_description   = "More than ${var.error_rate_percent}% of requests end in a 5xx (target or ALB)."
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.error_rate_percent
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions

  metric_query {
    id          = "rate"
    expression  = "100 * (FILL(t5xx, 0) + FILL(e5xx, 0)) / FILL(requests, 1)"
    label       = "5xx rate (%)"
    return_data = true
  }

  metric_query {
    id = "t5xx"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_Target_5XX_Count"
      stat        = "Sum"
      period      = 60
      dimensions  = { LoadBalancer = var.alb_arn_suffix }
    }
  }

  metric_query {
    id = "e5xx"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_ELB_5XX_Count"
      stat        = "Sum"
      period      = 60
      dimensions  = { LoadBalancer = var.alb_arn_suffix }
    }
  }

  metric_query {
    id = "requests"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "RequestCount"
      stat        = "Sum"
      period      = 60
      dimensions  = { LoadBalancer = var.alb_arn_suffix }
    }
  }

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "alb_latency" {
  alarm_name          = "${var.name_prefix}-web-latency-p95"
  alarm_description   = "p95 response time of the web app is above ${var.latency_p95_seconds} s."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "TargetResponseTime"
  extended_statistic  = "p95"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  threshold           = var.latency_p95_seconds
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  dimensions          = { LoadBalancer = var.alb_arn_suffix }
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "no_healthy_tasks" {
  alarm_name          = "${var.name_prefix}-web-no-healthy-tasks"
  alarm_description   = "The ALB has no healthy web task."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "HealthyHostCount"
  statistic           = "Minimum"
  period              = 60
  evaluation_periods  = 3
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  dimensions = {
    LoadBalancer = var.alb_arn_suffix
    TargetGroup  = var.target_group_arn_suffix
  }
  alarm_actions = local.actions
  ok_actions    = local.actions
  tags          = var.tags
}

resource "aws_cloudwatch_metric_alarm" "queue_age" {
  alarm_name          = "${var.name_prefix}-caption-queue-age"
  alarm_description   = "The oldest caption job has waited more than ${var.queue_age_seconds} s."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  threshold           = var.queue_age_seconds
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  dimensions          = { QueueName = var.queue_name }
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "dlq_not_empty" {
  alarm_name          = "${var.name_prefix}-caption-dlq-not-empty"
  alarm_description   = "Caption jobs landed in the dead-letter queue."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  dimensions          = { QueueName = var.dlq_name }
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "caption_failures" {
  alarm_name          = "${var.name_prefix}-caption-failures"
  alarm_description   = "The app marked more than ${var.caption_failures_per_15min} caption jobs failed in 15 minutes."
  namespace           = var.app_metrics_namespace
  metric_name         = "CaptionFailed"
  statistic           = "Sum"
  period              = 900
  evaluation_periods  = 1
  threshold           = var.caption_failures_per_15min
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  dimensions          = local.app_dim
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "dynamodb_throttles" {
  alarm_name          = "${var.name_prefix}-dynamodb-throttles"
  alarm_description   = "DynamoDB throttled requests on the imgcap table."
  namespace           = "AWS/DynamoDB"
  metric_name         = "ThrottledRequests"
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 10
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  dimensions          = { TableName = var.table_name }
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

# --- dashboard --------------------------------------------------------------------------------
locals {
  # While a model is on trial (scripts/promote-model.sh): the figures its promotion gates read,
  # primary and candidate side by side.
  sm_candidate = ["EndpointName", var.sagemaker_endpoint_name, "VariantName", coalesce(var.sagemaker_candidate_variant_name, "none")]
  candidate_widgets = var.sagemaker_candidate_variant_name == null ? [] : [
    { title = "Promotion: invocations and 5xx, primary vs candidate", metrics = [
      concat(["AWS/SageMaker", "Invocations"], local.sm, [{ stat = "Sum", label = "primary invocations" }]),
      concat(["AWS/SageMaker", "Invocations"], local.sm_candidate, [{ stat = "Sum", label = "candidate invocations" }]),
      concat(["AWS/SageMaker", "Invocation5XXErrors"], local.sm, [{ stat = "Sum", label = "primary 5xx", yAxis = "right" }]),
      concat(["AWS/SageMaker", "Invocation5XXErrors"], local.sm_candidate, [{ stat = "Sum", label = "candidate 5xx", yAxis = "right" }]),
    ] },
    { title = "Promotion: p95 model latency (us), primary vs candidate", metrics = [
      concat(["AWS/SageMaker", "ModelLatency"], local.sm, [{ stat = "p95", label = "primary" }]),
      concat(["AWS/SageMaker", "ModelLatency"], local.sm_candidate, [{ stat = "p95", label = "candidate" }]),
    ] },
  ]
  alb  = ["LoadBalancer", var.alb_arn_suffix]
  ecs  = ["ClusterName", var.ecs_cluster_name, "ServiceName", var.ecs_service_name]
  sm   = ["EndpointName", var.sagemaker_endpoint_name, "VariantName", var.sagemaker_variant_name]
  app  = ["Environment", var.environment]
  ddb  = ["TableName", var.table_name]
  q    = ["QueueName", var.queue_name]
  dlq  = ["QueueName", var.dlq_name]
  base = { region = local.region, view = "timeSeries", stacked = false, period = 60 }

  widgets = concat([
    { title = "ALB requests and 5xx", metrics = [
      concat(["AWS/ApplicationELB", "RequestCount"], local.alb, [{ stat = "Sum" }]),
      concat(["AWS/ApplicationELB", "HTTPCode_Target_5XX_Count"], local.alb, [{ stat = "Sum" }]),
      concat(["AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count"], local.alb, [{ stat = "Sum" }]),
    ] },
    { title = "ALB target response time", metrics = [
      concat(["AWS/ApplicationELB", "TargetResponseTime"], local.alb, [{ stat = "p50" }]),
      concat(["AWS/ApplicationELB", "TargetResponseTime"], local.alb, [{ stat = "p95" }]),
      concat(["AWS/ApplicationELB", "TargetResponseTime"], local.alb, [{ stat = "p99" }]),
    ] },
    { title = "ECS CPU and memory (%)", metrics = [
      concat(["AWS/ECS", "CPUUtilization"], local.ecs, [{ stat = "Average" }]),
      concat(["AWS/ECS", "MemoryUtilization"], local.ecs, [{ stat = "Average" }]),
    ] },
    { title = "SageMaker invocations and errors", metrics = [
      concat(["AWS/SageMaker", "Invocations"], local.sm, [{ stat = "Sum" }]),
      concat(["AWS/SageMaker", "Invocation4XXErrors"], local.sm, [{ stat = "Sum" }]),
      concat(["AWS/SageMaker", "Invocation5XXErrors"], local.sm, [{ stat = "Sum" }]),
    ] },
    { title = "SageMaker model latency (us)", metrics = [
      concat(["AWS/SageMaker", "ModelLatency"], local.sm, [{ stat = "p50" }]),
      concat(["AWS/SageMaker", "ModelLatency"], local.sm, [{ stat = "p95" }]),
      concat(["AWS/SageMaker", "OverheadLatency"], local.sm, [{ stat = "p95" }]),
    ] },
    { title = "SageMaker instances", metrics = [
      concat(["/aws/sagemaker/Endpoints", "CPUUtilization"], local.sm, [{ stat = "Average" }]),
      concat(["AWS/SageMaker", "InvocationsPerInstance"], local.sm, [{ stat = "Sum" }]),
      ["AWS/SageMaker", "DesiredInstanceCount", "EndpointName", var.sagemaker_endpoint_name, "VariantName", var.sagemaker_variant_name, { stat = "Maximum" }],
    ] },
    { title = "Caption queue depth and age", metrics = [
      concat(["AWS/SQS", "ApproximateNumberOfMessagesVisible"], local.q, [{ stat = "Maximum" }]),
      concat(["AWS/SQS", "ApproximateAgeOfOldestMessage"], local.q, [{ stat = "Maximum", yAxis = "right" }]),
      concat(["AWS/SQS", "ApproximateNumberOfMessagesVisible"], local.dlq, [{ stat = "Maximum", label = "DLQ messages" }]),
    ] },
    { title = "DynamoDB throttles and errors", metrics = [
      concat(["AWS/DynamoDB", "ThrottledRequests"], local.ddb, [{ stat = "Sum" }]),
      concat(["AWS/DynamoDB", "ReadThrottleEvents"], local.ddb, [{ stat = "Sum" }]),
      concat(["AWS/DynamoDB", "WriteThrottleEvents"], local.ddb, [{ stat = "Sum" }]),
      concat(["AWS/DynamoDB", "SystemErrors"], local.ddb, [{ stat = "Sum" }]),
    ] },
    { title = "Caption latency (app, ms)", metrics = [
      concat([var.app_metrics_namespace, "CaptionLatency"], local.app, [{ stat = "p50" }]),
      concat([var.app_metrics_namespace, "CaptionLatency"], local.app, [{ stat = "p95" }]),
    ] },
    { title = "Caption results (app)", metrics = [
      concat([var.app_metrics_namespace, "CaptionSucceeded"], local.app, [{ stat = "Sum" }]),
      concat([var.app_metrics_namespace, "CaptionFailed"], local.app, [{ stat = "Sum" }]),
      concat([var.app_metrics_namespace, "CaptionerFailover"], local.app, [{ stat = "Sum" }]),
    ] },
  ], local.candidate_widgets)

  dashboard = {
    widgets = concat(
      [for i, w in local.widgets : {
        type       = "metric"
        x          = (i % 2) * 12
        y          = floor(i / 2) * 6
        width      = 12
        height     = 6
        properties = merge(local.base, { title = w.title, metrics = w.metrics })
      }],
      [{
        type   = "alarm"
        x      = 0
        y      = ceil(length(local.widgets) / 2) * 6
        width  = 24
        height = 4
        properties = {
          title = "Alarms"
          alarms = concat([
            aws_cloudwatch_metric_alarm.alb_error_rate.arn,
            aws_cloudwatch_metric_alarm.alb_latency.arn,
            aws_cloudwatch_metric_alarm.no_healthy_tasks.arn,
            aws_cloudwatch_metric_alarm.queue_age.arn,
            aws_cloudwatch_metric_alarm.dlq_not_empty.arn,
            aws_cloudwatch_metric_alarm.caption_failures.arn,
            aws_cloudwatch_metric_alarm.dynamodb_throttles.arn,
          ], var.sagemaker_alarm_arns)
        }
      }]
    )
  }
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name_prefix
  dashboard_body = jsonencode(local.dashboard)
}
