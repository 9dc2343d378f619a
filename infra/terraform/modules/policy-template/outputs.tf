output "json" {
  description = "The rendered policy document (JSON)."
  value       = local.json
}

output "statement_ids" {
  description = "Sids of the statements kept in the rendered policy."
  value       = [for s in local.kept : s.Sid]
}
