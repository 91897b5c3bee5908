output "bucket" {
  description = "Name of the snapshot bucket."
  value       = linode_object_storage_bucket.snapshots.label
}

output "access_key" {
  description = "Access key ID limited to the snapshot bucket."
  value       = linode_object_storage_key.snapshots.access_key
  sensitive   = true
}

output "secret_key" {
  description = "Secret key limited to the snapshot bucket."
  value       = linode_object_storage_key.snapshots.secret_key
  sensitive   = true
}
