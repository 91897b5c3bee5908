output "state_bucket" {
  description = "Terraform state bucket."
  value       = module.buckets.state_bucket
}

output "loki_bucket" {
  description = "Loki chunks bucket."
  value       = module.buckets.loki_bucket
}

output "s3_endpoint" {
  description = "S3 endpoint (AWS_ENDPOINT_URL)."
  value       = module.buckets.s3_endpoint
}

output "ci_access_key" {
  description = "CI key ID for the state bucket (GitHub secret PLATCTL_STORE_ACCESS_KEY_ID)."
  value       = module.buckets.ci_access_key
  sensitive   = true
}

output "ci_secret_key" {
  description = "CI secret key for the state bucket (GitHub secret PLATCTL_STORE_SECRET_ACCESS_KEY)."
  value       = module.buckets.ci_secret_key
  sensitive   = true
}

output "loki_access_key" {
  description = "Loki bucket key ID (into OpenBao via `platctl secrets bootstrap --terraform-outputs global=...`, sealed as monitoring/loki-s3)."
  value       = module.buckets.loki_access_key
  sensitive   = true
}

output "loki_secret_key" {
  description = "Loki bucket secret key (into OpenBao via `platctl secrets bootstrap`, sealed as monitoring/loki-s3)."
  value       = module.buckets.loki_secret_key
  sensitive   = true
}

output "domain_id" {
  description = "ID of the DNS zone."
  value       = module.zone.domain_id
}

output "openbao_snapshot_bucket" {
  description = "OpenBao raft snapshot bucket."
  value       = module.openbao_snapshots.bucket
}

output "openbao_snapshot_access_key" {
  description = "Key ID limited to the snapshot bucket (into OpenBao via `platctl secrets bootstrap --terraform-outputs global=...`)."
  value       = module.openbao_snapshots.access_key
  sensitive   = true
}

output "openbao_snapshot_secret_key" {
  description = "Secret key limited to the snapshot bucket (into OpenBao via `platctl secrets bootstrap`)."
  value       = module.openbao_snapshots.secret_key
  sensitive   = true
}

output "read_only_access_key" {
  description = "Read-only key of both buckets (GitHub secret PLATCTL_OBJ_READONLY_ACCESS_KEY_ID of the plan and drift environments)."
  value       = module.buckets.read_only_access_key
  sensitive   = true
}

output "read_only_secret_key" {
  description = "Secret of the read-only key (GitHub secret PLATCTL_OBJ_READONLY_SECRET_ACCESS_KEY)."
  value       = module.buckets.read_only_secret_key
  sensitive   = true
}

output "ci_runner_egress_cidr" {
  description = "The platform-ci runner's address for platform.yaml's ci_cidrs (null when var.ci_runner is null)."
  value       = try(module.ci_runner[0].egress_cidr, null)
}
