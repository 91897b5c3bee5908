variable "environment" {
  description = "Environment label of the cluster: \"production\" (shared cluster, also hosts staging) or \"staging\" (dedicated staging cluster)."
  type        = string

  validation {
    condition     = contains(["staging", "production"], var.environment)
    error_message = "environment must be \"staging\" or \"production\"."
  }
}

variable "environments_hosted" {
  description = "Environments whose namespaces this cluster hosts (shared topology: [\"staging\", \"production\"])."
  type        = list(string)

  validation {
    condition     = length(var.environments_hosted) > 0 && alltrue([for e in var.environments_hosted : contains(["staging", "production"], e)])
    error_message = "environments_hosted must list \"staging\" and/or \"production\"."
  }
}

variable "cluster_name" {
  description = "Name of the cluster as Argo CD shows it (the LKE label)."
  type        = string
}

variable "region" {
  description = "Linode region of the cluster, passed to Argo CD as a cluster fact."
  type        = string
  default     = "fr-par"
}

variable "domain" {
  description = "Base DNS domain; environments live under <env>.<domain>."
  type        = string
}

variable "state_bucket" {
  description = "Terraform state bucket name, passed to Argo CD as a cluster fact."
  type        = string
  default     = "infra-state"
}

variable "loki_bucket" {
  description = "Loki chunks bucket name, passed to Argo CD as a cluster fact."
  type        = string
}

variable "repo_url" {
  description = "URL of this Git repository (https://, or git@/ssh:// for a private repository with a deploy key), which Argo CD reads the deploy/ tree from."
  type        = string

  validation {
    condition     = can(regex("^(https://|ssh://|git@)", var.repo_url))
    error_message = "repo_url must be a Git URL: https://..., ssh://... or git@host:org/repo.git."
  }
}

variable "target_revision" {
  description = "Branch, tag or commit Argo CD tracks."
  type        = string
  default     = "main"
}

variable "root_path" {
  description = "Path of the root app-of-apps directory in the repository, e.g. deploy/clusters/shared."
  type        = string

  validation {
    condition     = can(regex("^deploy/clusters/[a-z-]+$", var.root_path))
    error_message = "root_path must be one of the directories under deploy/clusters/."
  }
}

variable "namespace" {
  description = "Namespace Argo CD is installed into."
  type        = string
  default     = "argocd"
}

variable "argocd_chart_version" {
  description = "Version of the argo-cd Helm chart (argoproj/argo-helm)."
  type        = string
  default     = "8.0.4"
}

variable "argocd_apps_chart_version" {
  description = "Version of the argocd-apps Helm chart that creates the root Application."
  type        = string
  default     = "2.0.2"
}
