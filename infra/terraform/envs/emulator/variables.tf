variable "emulator_endpoint" {
  type        = string
  description = "Base URL of the AWS emulator (moto server) on loopback, e.g. http://127.0.0.1:45123."

  validation {
    condition     = can(regex("^http://(127\\.0\\.0\\.1|localhost):[0-9]+$", var.emulator_endpoint))
    error_message = "emulator_endpoint must be a loopback http URL such as http://127.0.0.1:45123 - this root must never talk to real AWS."
  }
}

variable "aws_region" {
  type        = string
  description = "Region the emulator pretends to be."
  default     = "us-east-1"
}

variable "environment" {
  type        = string
  description = "Environment name used in resource names (imgcap-<environment>-*)."
  default     = "emu"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,9}$", var.environment))
    error_message = "environment must be 2-10 lower-case letters and digits."
  }
}

variable "enable_inference_autoscaling" {
  type        = bool
  description = "Also register the endpoint with Application Auto Scaling. Off by default: moto does not implement application-autoscaling ListTagsForResource, which the provider calls after RegisterScalableTarget."
  default     = false
}

variable "enable_inference_blue_green" {
  type        = bool
  description = "Also send the blue/green deployment configuration to the emulator's CreateEndpoint."
  default     = true
}

variable "inference_instance_type" {
  type        = string
  description = "Endpoint instance type in the emulator; moto's enum of valid types predates ml.c6i.xlarge, so an EBS-backed type it knows is used."
  default     = "ml.c5.xlarge"
}
