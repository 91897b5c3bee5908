variable "region" {
  description = "Object Storage region of both buckets."
  type        = string
  default     = "fr-par"

  validation {
    condition     = can(regex("^[a-z]{2}-[a-z]+(-[0-9]+)?$", var.region))
    error_message = "region must be a Linode region id such as \"fr-par\"."
  }
}

variable "state_bucket_name" {
  description = "Name of the bucket holding Terraform state (the platctl store)."
  type        = string
  default     = "infra-state"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.state_bucket_name))
    error_message = "state_bucket_name must be a valid S3 bucket name (3-63 lowercase letters, digits, dots, dashes)."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which non-current versions of state objects expire (the rollback window of `platctl state rollback`)."
  type        = number
  default     = 90

  validation {
    condition     = var.noncurrent_version_expiration_days >= 7 && var.noncurrent_version_expiration_days <= 3650
    error_message = "noncurrent_version_expiration_days must be between 7 and 3650: fewer than 7 days leaves no room to roll back."
  }
}

variable "loki_bucket_name" {
  description = "Name of the bucket holding Loki chunks, index and delete requests."
  type        = string
  default     = "platform-loki-chunks"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.loki_bucket_name))
    error_message = "loki_bucket_name must be a valid S3 bucket name (3-63 lowercase letters, digits, dots, dashes)."
  }
}

variable "key_label_prefix" {
  description = "Prefix of the labels of the limited access keys this module creates."
  type        = string
  default     = "platform"
}
