output "state_bucket" {
  description = "Name of the Terraform state bucket."
  value       = linode_object_storage_bucket.state.label
}

output "state_bucket_hostname" {
  description = "Hostname of the state bucket."
  value       = linode_object_storage_bucket.state.hostname
}

output "s3_endpoint" {
  description = "S3 endpoint URL for the region (AWS_ENDPOINT_URL for platctl and Loki)."
  value       = "https://${var.region}-1.linodeobjects.com"
}

output "ci_access_key" {
  description = "Access key ID of the CI key limited to the state bucket."
  value       = linode_object_storage_key.ci.access_key
  sensitive   = true
}

output "ci_secret_key" {
  description = "Secret key of the CI key limited to the state bucket."
  value       = linode_object_storage_key.ci.secret_key
  sensitive   = true
}

output "loki_bucket" {
  description = "Name of the Loki chunks bucket."
  value       = linode_object_storage_bucket.loki.label
}

output "loki_access_key" {
  description = "Access key ID of the key limited to the Loki bucket."
  value       = linode_object_storage_key.loki.access_key
  sensitive   = true
}

output "loki_secret_key" {
  description = "Secret key of the key limited to the Loki bucket."
  value       = linode_object_storage_key.loki.secret_key
  sensitive   = true
}

output "read_only_access_key" {
  description = "Access key ID of the read-only key on both buckets (plan and drift of envs/global)."
  value       = linode_object_storage_key.read_only.access_key
  sensitive   = true
}

output "read_only_secret_key" {
  description = "Secret key of the read-only key on both buckets."
  value       = linode_object_storage_key.read_only.secret_key
  sensitive   = true
}
