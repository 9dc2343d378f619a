output "environment" {
  description = "IMGCAP_* (and AWS_REGION, TMPDIR) environment of the web app, without null entries."
  value       = local.environment
}
