output "cluster_id" {
  description = "ID of the production cluster."
  value       = module.cluster.id
}

output "kubeconfig" {
  description = "Base64 kubeconfig of the production cluster."
  value       = module.cluster.kubeconfig
  sensitive   = true
}

output "environments_hosted" {
  description = "Environments whose namespaces run on this cluster."
  value       = local.hosted
}

output "argocd_root_path" {
  description = "Path the root app-of-apps syncs."
  value       = module.argocd.root_path
}

output "firewall_id" {
  description = "Node firewall ID."
  value       = module.firewall.id
}
