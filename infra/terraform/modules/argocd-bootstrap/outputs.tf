output "namespace" {
  description = "Namespace Argo CD runs in."
  value       = helm_release.argocd.namespace
}

output "argocd_version" {
  description = "Installed argo-cd chart version."
  value       = helm_release.argocd.version
}

output "root_path" {
  description = "Repository path the root app-of-apps syncs."
  value       = var.root_path
}

output "cluster_secret_annotations" {
  description = "Cluster facts passed to Argo CD on the in-cluster secret."
  value       = kubernetes_secret_v1.in_cluster.metadata[0].annotations
}
