variable "region" {
  description = "Linode region of the production (and, by default, shared) cluster."
  type        = string
  default     = "fr-par"
}

variable "staging_dedicated_cluster" {
  description = "Topology switch, set once in envs/topology.auto.tfvars.json: false = one cluster hosts staging and production namespaces; true = staging gets its own cluster."
  type        = bool
  default     = false
}

variable "cluster_label" {
  description = "Label of the production cluster."
  type        = string
  default     = "platform-fr-par"
}

variable "k8s_version" {
  description = "Kubernetes minor version."
  type        = string
  default     = "1.34"
}

variable "acl_allowed_ipv4" {
  description = "IPv4 CIDRs allowed to reach the production API server (platform.yaml: admin_cidrs + ci_cidrs)."
  type        = list(string)
}

variable "acl_allowed_ipv6" {
  description = "IPv6 CIDRs allowed to reach the production API server (platform.yaml: admin_cidrs + ci_cidrs)."
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

variable "gpu_pool" {
  description = "Optional GPU pool."
  type = object({
    enabled = bool
    type    = string
    min     = number
    max     = number
  })
  default = {
    enabled = false
    type    = "g2-gpu-rtx4000a1-s"
    min     = 1
    max     = 2
  }
}

variable "domain" {
  description = "DNS zone of the platform (created by envs/global)."
  type        = string
}

variable "gateway_ipv4" {
  description = "Map of environment => IPv4 of its Gateway's NodeBalancer; null until the Gateway is up (see docs/getting-started.md)."
  type        = map(string)
  default     = {}
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
