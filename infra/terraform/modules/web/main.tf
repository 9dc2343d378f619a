# Web tier: ECS cluster + Fargate service behind an HTTPS-only ALB with WAF (waf.tf), optional
# CloudFront with its own WAF and an origin-verify header (cloudfront.tf).
data "aws_region" "current" {}

data "aws_ec2_managed_prefix_list" "cloudfront" {
  count = var.enable_cloudfront ? 1 : 0
  name  = "com.amazonaws.global.cloudfront.origin-facing"
}

locals {
  region          = data.aws_region.current.name
  container_name  = "web"
  origin_domain   = "origin.${var.domain_name}"
  create_cert     = var.certificate_arn == null
  certificate_arn = local.create_cert ? aws_acm_certificate_validation.this[0].certificate_arn : var.certificate_arn
  app_url         = "https://${var.domain_name}/"

  # Tracing (enable_tracing): an ADOT collector beside the app takes its OTLP/HTTP spans on the
  # task's loopback (awsvpc: the containers share it) and sends them to X-Ray, with request_id
  # indexed as an annotation so a request id finds its trace (annotation.request_id = "...").
  # X-Ray takes the W3C trace ids the app makes as they are.
  tracing_container = "otel-collector"
  tracing_collector_config = yamlencode({
    receivers  = { otlp = { protocols = { http = { endpoint = "127.0.0.1:4318" } } } }
    processors = { batch = {} }
    exporters  = { awsxray = { region = local.region, indexed_attributes = ["request_id"] } }
    service = {
      pipelines = { traces = { receivers = ["otlp"], processors = ["batch"], exporters = ["awsxray"] } }
    }
  })
  web_environment = merge(var.environment, var.enable_tracing ? {
    OTEL_EXPORTER_OTLP_ENDPOINT = "http://127.0.0.1:4318"
  } : {})
  # The app starts once the collector has started (its first spans have somewhere to go); the
  # collector is not essential: if it stops, the app keeps serving and its spans are dropped.
  web_depends_on = { for k, v in { dependsOn = [{ containerName = local.tracing_container, condition = "START" }] } : k => v if var.enable_tracing }
  tracing_containers = [for c in [{
    name                   = local.tracing_container
    image                  = var.tracing_collector_image
    essential              = false
    readonlyRootFilesystem = true
    privileged             = false
    environment            = [{ name = "AOT_CONFIG_CONTENT", value = local.tracing_collector_config }]
    linuxParameters = {
      initProcessEnabled = true
      capabilities       = { drop = ["ALL"] }
    }
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.web.name
        awslogs-region        = local.region
        awslogs-stream-prefix = local.tracing_container
      }
    }
  }] : c if var.enable_tracing]

  certificate_names  = concat([var.domain_name], var.enable_cloudfront ? [local.origin_domain] : [])
  validation_options = local.create_cert ? { for o in aws_acm_certificate.this[0].domain_validation_options : o.domain_name => o } : {}
}

# --- logs -------------------------------------------------------------------------------------
# The app writes its CloudWatch metrics into this group as embedded-metric-format lines
# (IMGCAP_METRICS_CLOUDWATCH_*), which CloudWatch Logs extracts on ingestion: the group stays in
# the Standard class, which has every feature (Infrequent Access has only a subset).
resource "aws_cloudwatch_log_group" "web" {
  name              = "/ecs/${var.name_prefix}-web"
  log_group_class   = "STANDARD"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

# --- ECS --------------------------------------------------------------------------------------
resource "aws_ecs_cluster" "this" {
  name = var.name_prefix

  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  tags = var.tags
}

resource "aws_ecs_cluster_capacity_providers" "this" {
  cluster_name       = aws_ecs_cluster.this.name
  capacity_providers = ["FARGATE"]

  default_capacity_provider_strategy {
    capacity_provider = "FARGATE"
    weight            = 1
  }
}

resource "aws_ecs_task_definition" "web" {
  family                   = "${var.name_prefix}-web"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  task_role_arn            = var.task_role_arn
  execution_role_arn       = var.execution_role_arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  # Writable scratch space on the task's ephemeral storage; the root filesystem is read-only.
  volume {
    name = "tmp"
  }

  container_definitions = jsonencode(concat([merge({
    name                   = local.container_name
    image                  = var.image_uri
    essential              = true
    user                   = var.container_user
    readonlyRootFilesystem = true
    privileged             = false
    stopTimeout            = 30
    portMappings = [
      {
        containerPort = var.container_port
        hostPort      = var.container_port
        protocol      = "tcp"
        appProtocol   = "http"
      }
    ]
    environment = [for k in sort(keys(local.web_environment)) : { name = k, value = local.web_environment[k] }]
    mountPoints = [
      {
        sourceVolume  = "tmp"
        containerPath = "/tmp"
        readOnly      = false
      }
    ]
    linuxParameters = {
      initProcessEnabled = true
      capabilities       = { drop = ["ALL"] }
    }
    ulimits = [{ name = "nofile", softLimit = 65536, hardLimit = 65536 }]
    # One stdout line, one log event, sent as written: the app's embedded-metric-format lines
    # are extracted into CloudWatch metrics only while each event is exactly one JSON object,
    # so no awslogs-multiline-pattern / awslogs-datetime-format here.
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.web.name
        awslogs-region        = local.region
        awslogs-stream-prefix = local.container_name
      }
    }
  }, local.web_depends_on)], local.tracing_containers))

  tags = var.tags
}

resource "aws_security_group" "tasks" {
  name        = "${var.name_prefix}-web-tasks"
  description = "imgcap web tasks: inbound only from the ALB"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name_prefix}-web-tasks" })
}

resource "aws_vpc_security_group_ingress_rule" "tasks_from_alb" {
  security_group_id            = aws_security_group.tasks.id
  description                  = "App port from the ALB"
  ip_protocol                  = "tcp"
  from_port                    = var.container_port
  to_port                      = var.container_port
  referenced_security_group_id = aws_security_group.alb.id
}

resource "aws_vpc_security_group_egress_rule" "tasks_https" {
  security_group_id = aws_security_group.tasks.id
  description       = "HTTPS to AWS APIs (VPC and gateway endpoints), Cognito and Hugging Face"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "tasks_dns" {
  security_group_id = aws_security_group.tasks.id
  description       = "DNS to the VPC resolver"
  ip_protocol       = "udp"
  from_port         = 53
  to_port           = 53
  cidr_ipv4         = var.vpc_cidr
}

resource "aws_ecs_service" "web" {
  name                               = "${var.name_prefix}-web"
  cluster                            = aws_ecs_cluster.this.id
  task_definition                    = aws_ecs_task_definition.web.arn
  desired_count                      = var.desired_count
  launch_type                        = "FARGATE"
  platform_version                   = "LATEST"
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  health_check_grace_period_seconds  = 60
  enable_ecs_managed_tags            = true
  propagate_tags                     = "SERVICE"
  enable_execute_command             = false

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    #checkov:skip=CKV_AWS_333:Without NAT (the default, to save its cost) tasks need a public IP to reach the Cognito token endpoint and JWKS, which have no VPC endpoint; the security group admits inbound traffic only from the ALB. Set enable_nat_gateway to run them in private subnets.
    subnets          = var.task_subnet_ids
    security_groups  = [aws_security_group.tasks.id]
    assign_public_ip = var.assign_public_ip
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.web.arn
    container_name   = local.container_name
    container_port   = var.container_port
  }

  tags = var.tags

  lifecycle {
    # Autoscaling owns the running count.
    ignore_changes = [desired_count]
  }

  depends_on = [aws_lb_listener.https]
}

resource "aws_appautoscaling_target" "web" {
  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.this.name}/${aws_ecs_service.web.name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.min_tasks
  max_capacity       = max(var.max_tasks, var.min_tasks)
}

resource "aws_appautoscaling_policy" "cpu" {
  name               = "${var.name_prefix}-web-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.web.service_namespace
  resource_id        = aws_appautoscaling_target.web.resource_id
  scalable_dimension = aws_appautoscaling_target.web.scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.cpu_target_percent
    scale_in_cooldown  = 300
    scale_out_cooldown = 60

    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}

resource "aws_appautoscaling_policy" "requests" {
  name               = "${var.name_prefix}-web-requests"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.web.service_namespace
  resource_id        = aws_appautoscaling_target.web.resource_id
  scalable_dimension = aws_appautoscaling_target.web.scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.requests_per_task_target
    scale_in_cooldown  = 300
    scale_out_cooldown = 60

    predefined_metric_specification {
      predefined_metric_type = "ALBRequestCountPerTarget"
      resource_label         = "${aws_lb.this.arn_suffix}/${aws_lb_target_group.web.arn_suffix}"
    }
  }
}

# --- ALB --------------------------------------------------------------------------------------
resource "aws_security_group" "alb" {
  name        = "${var.name_prefix}-alb"
  description = "imgcap ALB: HTTPS (and HTTP for the redirect) from clients or CloudFront"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name_prefix}-alb" })
}

resource "aws_vpc_security_group_ingress_rule" "alb_https_internet" {
  count             = var.enable_cloudfront ? 0 : 1
  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from anywhere"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_ingress_rule" "alb_http_internet" {
  #checkov:skip=CKV_AWS_260:Port 80 is open only so that the listener can answer 301 to HTTPS; it never forwards to the app.
  count             = var.enable_cloudfront ? 0 : 1
  security_group_id = aws_security_group.alb.id
  description       = "HTTP from anywhere, answered with a 301 to HTTPS"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_ingress_rule" "alb_https_cloudfront" {
  count             = var.enable_cloudfront ? 1 : 0
  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from CloudFront origin-facing addresses only"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  prefix_list_id    = data.aws_ec2_managed_prefix_list.cloudfront[0].id
}

resource "aws_vpc_security_group_egress_rule" "alb_to_tasks" {
  security_group_id            = aws_security_group.alb.id
  description                  = "To the web tasks"
  ip_protocol                  = "tcp"
  from_port                    = var.container_port
  to_port                      = var.container_port
  referenced_security_group_id = aws_security_group.tasks.id
}

resource "aws_lb" "this" {
  name                       = "${var.name_prefix}-web"
  load_balancer_type         = "application"
  internal                   = false
  subnets                    = var.public_subnet_ids
  security_groups            = [aws_security_group.alb.id]
  drop_invalid_header_fields = true
  enable_deletion_protection = var.alb_deletion_protection
  idle_timeout               = 60
  desync_mitigation_mode     = "strictest"

  access_logs {
    bucket  = var.alb_log_bucket
    prefix  = var.alb_log_prefix
    enabled = true
  }

  tags = var.tags
}

resource "aws_lb_target_group" "web" {
  #checkov:skip=CKV_AWS_378:TLS terminates at the ALB; the hop to the task stays inside the VPC and the container serves plain HTTP on 8080.
  name                 = "${var.name_prefix}-web"
  port                 = var.container_port
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = var.vpc_id
  deregistration_delay = 30

  health_check {
    path                = var.health_check_path
    matcher             = "200"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  tags = var.tags
}

resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"
    redirect {
      protocol    = "HTTPS"
      port        = "443"
      status_code = "HTTP_301"
    }
  }
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = local.certificate_arn

  # Behind CloudFront only requests carrying the origin-verify header reach the app
  # (aws_lb_listener_rule.origin_verify); anything else that gets here answers 403.
  default_action {
    type             = var.enable_cloudfront ? "fixed-response" : "forward"
    target_group_arn = var.enable_cloudfront ? null : aws_lb_target_group.web.arn

    dynamic "fixed_response" {
      for_each = var.enable_cloudfront ? [1] : []
      content {
        content_type = "text/plain"
        message_body = "Forbidden"
        status_code  = "403"
      }
    }
  }
}

# --- certificate + DNS ------------------------------------------------------------------------
resource "aws_acm_certificate" "this" {
  count                     = local.create_cert ? 1 : 0
  domain_name               = var.domain_name
  subject_alternative_names = slice(local.certificate_names, 1, length(local.certificate_names))
  validation_method         = "DNS"
  key_algorithm             = "EC_prime256v1"
  tags                      = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_route53_record" "validation" {
  # Keyed by the (static) names on the certificate, so the plan never depends on apply-time values.
  for_each = local.create_cert && var.route53_zone_id != null ? toset(local.certificate_names) : toset([])

  zone_id         = var.route53_zone_id
  name            = local.validation_options[each.key].resource_record_name
  type            = local.validation_options[each.key].resource_record_type
  records         = [local.validation_options[each.key].resource_record_value]
  ttl             = 300
  allow_overwrite = true
}

resource "aws_acm_certificate_validation" "this" {
  count                   = local.create_cert ? 1 : 0
  certificate_arn         = aws_acm_certificate.this[0].arn
  validation_record_fqdns = var.route53_zone_id != null ? [for r in aws_route53_record.validation : r.fqdn] : null
}

resource "aws_route53_record" "app" {
  for_each = var.route53_zone_id != null ? toset(["A", "AAAA"]) : toset([])
  zone_id  = var.route53_zone_id
  name     = var.domain_name
  type     = each.key

  alias {
    name                   = var.enable_cloudfront ? aws_cloudfront_distribution.this[0].domain_name : aws_lb.this.dns_name
    zone_id                = var.enable_cloudfront ? aws_cloudfront_distribution.this[0].hosted_zone_id : aws_lb.this.zone_id
    evaluate_target_health = !var.enable_cloudfront
  }
}

resource "aws_route53_record" "origin" {
  count   = var.enable_cloudfront && var.route53_zone_id != null ? 1 : 0
  zone_id = var.route53_zone_id
  name    = local.origin_domain
  type    = "A"

  alias {
    name                   = aws_lb.this.dns_name
    zone_id                = aws_lb.this.zone_id
    evaluate_target_health = true
  }
}
