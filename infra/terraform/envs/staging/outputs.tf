output "topology" {
  description = "\"dedicated\" when staging has its own cluster, \"shared\" when it runs on the production cluster."
  value       = var.staging_dedicated_cluster ? "dedicated" : "shared"
}

output "cluster_id" {
  description = "ID of the dedicated staging cluster (null in the shared topology)."
  value       = try(module.cluster[0].id, null)
}

output "kubeconfig" {
  description = "Base64 kubeconfig of the dedicated staging cluster (null in the shared topology)."
  value       = try(module.cluster[0].kubeconfig, null)
  sensitive   = true
}
