output "vpc_id" {
  description = "Id of the VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr" {
  description = "CIDR block of the VPC."
  value       = aws_vpc.this.cidr_block
}

output "public_subnet_ids" {
  description = "Ids of the public subnets (ALB; web tasks when NAT is off)."
  value       = aws_subnet.public[*].id
}

output "private_subnet_ids" {
  description = "Ids of the private subnets (web tasks when NAT is on; interface endpoints)."
  value       = aws_subnet.private[*].id
}

output "nat_enabled" {
  description = "Whether private subnets have a route to the internet."
  value       = var.enable_nat_gateway
}

output "interface_endpoint_services" {
  description = "Services that have an interface endpoint."
  value       = sort(tolist(local.interface_services))
}

output "role_permissions_boundaries" {
  description = "Each role of this module (name) and the permissions boundary it carries (null: none)."
  value       = { (aws_iam_role.flow.name) = aws_iam_role.flow.permissions_boundary }
}
