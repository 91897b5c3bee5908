variable "region" {
  description = "Object Storage region of the snapshot bucket."
  type        = string
  default     = "fr-par"

  validation {
    condition     = can(regex("^[a-z]{2}-[a-z]+(-[0-9]+)?$", var.region))
    error_message = "region must be a Linode region id such as \"fr-par\"."
  }
}

variable "bucket_name" {
  description = "Name of the bucket holding OpenBao's raft snapshots (`platctl openbao snapshot save --to s3://<bucket>/<cluster>`)."
  type        = string
  default     = "platform-openbao-snapshots"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be a valid S3 bucket name (3-63 lowercase letters, digits, dots, dashes)."
  }
}

variable "retention_days" {
  description = "Days a snapshot is kept before the bucket's lifecycle rule deletes it (a snapshot every 6 hours: 4 a day)."
  type        = number
  default     = 30

  validation {
    condition     = var.retention_days >= 7 && var.retention_days <= 365
    error_message = "retention_days must be between 7 and 365: under a week leaves no room to notice a bad change before its last good snapshot is gone."
  }
}

variable "key_label" {
  description = "Label of the access key limited to this bucket (read by the snapshot CronJob through OpenBao)."
  type        = string
  default     = "platform-openbao-snapshots"
}
