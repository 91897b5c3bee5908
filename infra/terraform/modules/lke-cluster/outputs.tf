output "id" {
  description = "ID of the LKE cluster."
  value       = linode_lke_cluster.this.id
}

output "label" {
  description = "Label of the LKE cluster."
  value       = linode_lke_cluster.this.label
}

output "api_endpoints" {
  description = "Kubernetes API server endpoints."
  value       = linode_lke_cluster.this.api_endpoints
}

output "kubeconfig" {
  description = "Base64-encoded kubeconfig with cluster-admin credentials."
  value       = linode_lke_cluster.this.kubeconfig
  sensitive   = true
}

output "pool_ids" {
  description = "IDs of the node pools, in declaration order (system, workload, gpu)."
  value       = [for p in linode_lke_cluster.this.pool : p.id]
}
