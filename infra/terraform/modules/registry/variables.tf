variable "name_prefix" {
  type        = string
  description = "Prefix of the repository names: <name_prefix>-web and <name_prefix>-inference."

  validation {
    condition     = can(regex("^[a-z0-9]+(?:[._-][a-z0-9]+)*$", var.name_prefix))
    error_message = "name_prefix must be lower-case letters and digits separated by '.', '_' or '-'."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "ARN of the customer-managed KMS key that encrypts the images."
}

variable "untagged_image_expiry_days" {
  type        = number
  description = "Days after which untagged images (failed pushes, superseded layers) are deleted."
  default     = 7

  validation {
    condition     = var.untagged_image_expiry_days >= 1
    error_message = "untagged_image_expiry_days must be at least 1."
  }
}

variable "deployed_tag_prefix" {
  type        = string
  description = "Tag prefix CD gives every image it deploys (deployed-<env>-<time>); images with such a tag are kept by the first lifecycle rule."
  default     = "deployed-"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*-$", var.deployed_tag_prefix))
    error_message = "deployed_tag_prefix must be lower-case letters, digits and '-', ending in '-'."
  }
}

variable "keep_deployed_images" {
  type        = number
  description = "How many deployed images (tag prefix deployed_tag_prefix) to keep, newest pushed first: the running one, the automatic rollback target, and the releases you may roll back to by hand."
  default     = 20

  validation {
    condition     = var.keep_deployed_images >= 2
    error_message = "keep_deployed_images must be at least 2 (the running image and the previous one)."
  }
}

variable "keep_tagged_images" {
  type        = number
  description = "How many other tagged images (commit images CI pushed that no environment deployed) to keep per repository."
  default     = 30

  validation {
    condition     = var.keep_tagged_images >= 1
    error_message = "keep_tagged_images must be at least 1."
  }
}

variable "force_delete" {
  type        = bool
  description = "Let terraform destroy delete repositories that still hold images (throw-away environments only)."
  default     = false
}

variable "tags" {
  type        = map(string)
  description = "Extra tags for the repositories."
  default     = {}
}
