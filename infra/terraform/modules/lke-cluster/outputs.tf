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

output "node_instance_ids" {
  description = "Linode instance IDs of every node currently in the cluster (input for the firewall module)."
  value       = flatten([for p in linode_lke_cluster.this.pool : [for n in p.nodes : n.instance_id]])
}
