output "id" {
  description = "ID of the Cloud Firewall."
  value       = linode_firewall.this.id
}

output "status" {
  description = "Status of the Cloud Firewall."
  value       = linode_firewall.this.status
}
