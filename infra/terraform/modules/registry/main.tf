# Two private ECR repositories (web app, inference server): immutable tags, scan on push, KMS.
locals {
  repositories = {
    web       = "${var.name_prefix}-web"
    inference = "${var.name_prefix}-inference"
  }
}

resource "aws_ecr_repository" "this" {
  for_each = local.repositories

  name                 = each.value
  image_tag_mutability = "IMMUTABLE"
  force_delete         = var.force_delete

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = var.kms_key_arn
  }

  tags = var.tags
}

# Expiry never reaches an image an environment runs: CD tags every image it deploys
# deployed-<env>-<UTC time> (a new tag each time: tags are immutable), and rule 1 claims those
# images first - ECR never lets a later rule expire an image whose tags a higher-priority rule
# selects. Rule 1 keeps the newest keep_deployed_images of them by push time: the running image
# is the newest deployed one, or the second newest right after an automatic rollback.
# Only commit images CI pushed but no environment deployed (and untagged leftovers) expire.
resource "aws_ecr_lifecycle_policy" "this" {
  for_each   = aws_ecr_repository.this
  repository = each.value.name

  policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "Keep the images deployments ran (deployed-<env>-<time>)"
        selection = {
          tagStatus     = "tagged"
          tagPrefixList = [var.deployed_tag_prefix]
          countType     = "imageCountMoreThan"
          countNumber   = var.keep_deployed_images
        }
        action = { type = "expire" }
      },
      {
        rulePriority = 2
        description  = "Expire untagged images"
        selection = {
          tagStatus   = "untagged"
          countType   = "sinceImagePushed"
          countUnit   = "days"
          countNumber = var.untagged_image_expiry_days
        }
        action = { type = "expire" }
      },
      {
        rulePriority = 3
        description  = "Keep the newest commit images that were never deployed"
        selection = {
          tagStatus   = "any"
          countType   = "imageCountMoreThan"
          countNumber = var.keep_tagged_images
        }
        action = { type = "expire" }
      },
    ]
  })
}
