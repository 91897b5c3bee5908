variable "region" {
  description = "Linode region of the dedicated staging cluster."
  type        = string
  default     = "fr-par"
}

variable "staging_dedicated_cluster" {
  description = "Topology switch, set once in envs/topology.auto.tfvars.json: false = staging namespaces live on the shared production cluster; true = this root creates a dedicated staging cluster."
  type        = bool
  default     = false
}

variable "cluster_label" {
  description = "Label of the dedicated staging cluster."
  type        = string
  default     = "platform-staging-fr-par"
}

variable "k8s_version" {
  description = "Kubernetes minor version."
  type        = string
  default     = "1.34"
}

variable "high_availability" {
  description = "HA control plane for the dedicated staging cluster."
  type        = bool
  default     = false
}

variable "acl_allowed_ipv4" {
  description = "IPv4 CIDRs allowed to reach the staging API server (platform.yaml: admin_cidrs + ci_cidrs)."
  type        = list(string)
  default     = []
}

variable "acl_allowed_ipv6" {
  description = "IPv6 CIDRs allowed to reach the staging API server (platform.yaml: admin_cidrs + ci_cidrs)."
  type        = list(string)
  default     = []
}

variable "system_pool" {
  description = "System pool plan and size."
  type = object({
    type  = string
    count = number
  })
}

variable "workload_pool" {
  description = "Workload pool plan and autoscaler bounds."
  type = object({
    type = string
    min  = number
    max  = number
  })
}

variable "domain" {
  description = "DNS zone of the platform (created by envs/global)."
  type        = string
}

variable "gateway_ipv4" {
  description = "IPv4 of the staging Gateway's NodeBalancer when staging is dedicated (the shared cluster's record is managed by envs/production)."
  type        = string
  default     = null
}

variable "state_bucket" {
  description = "Terraform state bucket (cluster fact for Argo CD)."
  type        = string
  default     = "infra-state"
}

variable "loki_bucket" {
  description = "Loki chunks bucket (cluster fact for Argo CD)."
  type        = string
  default     = "platform-loki-chunks"
}

variable "repo_url" {
  description = "HTTPS URL of this repository for Argo CD."
  type        = string
}

variable "target_revision" {
  description = "Git revision Argo CD tracks."
  type        = string
  default     = "main"
}
