# Renders one IAM policy from its single source of truth, docs/iam/<template>.
# The JSON files there are the readable documents; Terraform fills their ${placeholders},
# drops the statements of disabled features (by Sid) and drops empty entries from Resource
# lists (e.g. the optional HF API key secret). Nothing else is changed.
locals {
  document = jsondecode(templatefile("${path.module}/../../../../docs/iam/${var.template}", var.vars))

  statements = [
    for s in local.document.Statement : merge(s, {
      # Only list-valued Resources are filtered; a single-string Resource is kept as is.
      for k in ["Resource"] : k => [for r in s.Resource : r if r != ""] if can(s.Resource[0]) && !can(regex("", s.Resource))
    }) if !contains(var.omit_statements, s.Sid)
  ]

  # A statement whose Resource list lost every entry goes (IAM refuses "Resource": []); a string
  # Resource ("*" or an ARN) is never empty.
  kept = [for s in local.statements : s if length(s.Resource) > 0]

  json = jsonencode(merge(local.document, { Statement = local.kept }))
}
