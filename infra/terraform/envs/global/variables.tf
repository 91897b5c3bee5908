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

variable "obj_access_key" {
  description = "Object Storage key for reading the buckets' versioning and lifecycle (plan and drift: the read_only_access_key output). Null: the provider creates temporary keys, which needs a token with object_storage:read_write."
  type        = string
  default     = null
  sensitive   = true
}

variable "obj_secret_key" {
  description = "Secret of obj_access_key."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = (var.obj_secret_key == null) == (var.obj_access_key == null)
    error_message = "set obj_access_key and obj_secret_key together (TF_VAR_obj_access_key, TF_VAR_obj_secret_key), or neither."
  }
}

variable "ci_runner" {
  description = "The platform-ci runner (modules/ci-runner; docs/ci-access.md): null creates none. Its egress_cidr output goes into platform.yaml's ci_cidrs."
  type = object({
    github_url      = string
    runner_version  = string
    runner_sha256   = string
    authorized_keys = list(string)
    type            = optional(string, "g6-standard-1")
  })
  default = null
}

variable "ci_runner_registration_token" {
  description = "One-time GitHub runner registration token, needed only in the apply that creates the runner (TF_VAR_ci_runner_registration_token)."
  type        = string
  default     = null
  sensitive   = true
}
