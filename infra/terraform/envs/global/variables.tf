variable "region" {
  description = "Linode region of the shared buckets."
  type        = string
  default     = "fr-par"
}

variable "state_bucket_name" {
  description = "Terraform state bucket (platctl store)."
  type        = string
  default     = "infra-state"
}

variable "loki_bucket_name" {
  description = "Loki chunks bucket."
  type        = string
  default     = "platform-loki-chunks"
}

variable "noncurrent_version_expiration_days" {
  description = "Days non-current state versions are kept."
  type        = number
  default     = 90
}

variable "domain" {
  description = "DNS zone of the platform."
  type        = string
}

variable "soa_email" {
  description = "SOA contact of the DNS zone."
  type        = string
}

variable "openbao_snapshot_bucket_name" {
  description = "Bucket of OpenBao's raft snapshots (deploy/platform/openbao/snapshot.yaml writes to it)."
  type        = string
  default     = "platform-openbao-snapshots"
}

variable "openbao_snapshot_retention_days" {
  description = "Days OpenBao snapshots are kept."
  type        = number
  default     = 30
}
