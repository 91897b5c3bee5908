output "id" {
  description = "ID of the Cloud Firewall (input firewall_id of the lke-cluster module)."
  value       = linode_firewall.this.id
}

output "status" {
  description = "Status of the Cloud Firewall."
  value       = linode_firewall.this.status
}
