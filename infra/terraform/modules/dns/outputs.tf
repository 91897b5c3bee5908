output "domain_id" {
  description = "ID of the DNS zone."
  value       = local.domain_id
}

output "hostnames" {
  description = "Hostnames created, per record key (name/type)."
  value       = { for k, r in linode_domain_record.gateway : k => "${r.name}.${var.domain}" }
}
