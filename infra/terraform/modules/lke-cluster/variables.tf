variable "label" {
  description = "Unique label of the LKE cluster (lowercase letters, digits and dashes, 3-32 characters)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,30}[a-z0-9]$", var.label))
    error_message = "label must be 3-32 characters of lowercase letters, digits and dashes, e.g. \"platform-fr-par\"."
  }
}

variable "environment" {
  description = "Environment this cluster serves: \"production\" (also hosts staging in the shared topology) or \"staging\" (dedicated staging cluster)."
  type        = string

  validation {
    condition     = contains(["staging", "production"], var.environment)
    error_message = "environment must be \"staging\" or \"production\"."
  }
}

variable "region" {
  description = "Linode region of the cluster."
  type        = string
  default     = "fr-par"

  validation {
    condition     = can(regex("^[a-z]{2}-[a-z]+(-[0-9]+)?$", var.region))
    error_message = "region must be a Linode region id such as \"fr-par\" (list them with `linode-cli regions list`)."
  }
}

variable "k8s_version" {
  description = "Kubernetes minor version in the form MAJOR.MINOR; LKE deploys its latest patch."
  type        = string
  default     = "1.34"

  validation {
    condition     = can(regex("^1\\.[0-9]{2}$", var.k8s_version))
    error_message = "k8s_version must look like \"1.34\" (see `linode-cli lke versions-list`)."
  }
}

variable "firewall_id" {
  description = "ID of the Cloud Firewall every node pool attaches (firewall module output id). Must be set: the cluster's precondition refuses a plan without it, since a pool without a firewall creates unprotected nodes."
  type        = number
  default     = null

  validation {
    condition     = var.firewall_id == null || try(var.firewall_id > 0 && floor(var.firewall_id) == var.firewall_id, false)
    error_message = "firewall_id must be the numeric ID of a Cloud Firewall (the firewall module's id output)."
  }
}

variable "tags" {
  description = "Tags applied to the cluster in addition to env:<environment> and managed-by:terraform."
  type        = list(string)
  default     = []
}

variable "high_availability" {
  description = "Run the control plane in high-availability mode (irreversible once enabled). Required for production."
  type        = bool
  default     = true

  validation {
    condition     = var.environment != "production" || var.high_availability
    error_message = "production clusters require high_availability = true (HA control plane)."
  }
}

variable "acl_enabled" {
  description = "Enable the control plane ACL (default deny, only acl_allowed_ipv4/ipv6 may reach the API server). Required for production."
  type        = bool
  default     = true

  validation {
    condition     = var.environment != "production" || var.acl_enabled
    error_message = "production clusters require acl_enabled = true with at least one allowed CIDR."
  }
}

variable "acl_allowed_ipv4" {
  description = "IPv4 CIDRs allowed to reach the Kubernetes API when the ACL is enabled (operators, CI runners)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.acl_allowed_ipv4 : can(cidrhost(c, 0)) && !strcontains(c, ":")])
    error_message = "acl_allowed_ipv4 entries must be IPv4 CIDRs such as \"203.0.113.10/32\"."
  }

  validation {
    condition     = var.environment != "production" || !var.acl_enabled || length(var.acl_allowed_ipv4) > 0
    error_message = "production clusters need at least one CIDR in acl_allowed_ipv4 (an enabled ACL with no address locks everyone out)."
  }

  validation {
    condition     = !contains(var.acl_allowed_ipv4, "0.0.0.0/0")
    error_message = "acl_allowed_ipv4 must not contain 0.0.0.0/0: that disables the ACL in all but name."
  }
}

variable "acl_allowed_ipv6" {
  description = "IPv6 CIDRs allowed to reach the Kubernetes API when the ACL is enabled."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.acl_allowed_ipv6 : can(cidrhost(c, 0)) && strcontains(c, ":")])
    error_message = "acl_allowed_ipv6 entries must be IPv6 CIDRs such as \"2001:db8::/48\"."
  }

  validation {
    condition     = !contains(var.acl_allowed_ipv6, "::/0")
    error_message = "acl_allowed_ipv6 must not contain ::/0."
  }
}

variable "system_pool" {
  description = "Fixed-size pool for platform add-ons (Argo CD, cert-manager, observability)."
  type = object({
    type  = string
    count = number
  })
  default = {
    type  = "g6-standard-4"
    count = 3
  }

  validation {
    condition     = var.system_pool.count >= 1 && var.system_pool.count <= 100
    error_message = "system_pool.count must be between 1 and 100."
  }

  validation {
    condition     = can(regex("^g[0-9]+-(standard|dedicated|premium|highmem)-[0-9]+$", var.system_pool.type))
    error_message = "system_pool.type must be a CPU plan such as \"g6-standard-4\" or \"g6-dedicated-4\"."
  }
}

variable "workload_pool" {
  description = "Autoscaled pool for application workloads: min and max node counts for the LKE cluster autoscaler."
  type = object({
    type = string
    min  = number
    max  = number
  })
  default = {
    type = "g6-dedicated-4"
    min  = 2
    max  = 6
  }

  validation {
    condition     = var.workload_pool.min >= 1 && var.workload_pool.max >= var.workload_pool.min && var.workload_pool.max <= 100
    error_message = "workload_pool needs 1 <= min <= max <= 100."
  }

  validation {
    condition     = can(regex("^g[0-9]+-(standard|dedicated|premium|highmem)-[0-9]+$", var.workload_pool.type))
    error_message = "workload_pool.type must be a CPU plan such as \"g6-dedicated-4\"."
  }
}

variable "gpu_pool" {
  description = "Optional autoscaled GPU pool, tainted nvidia.com/gpu=present:NoSchedule. Plans: RTX 4000 Ada (g2-gpu-rtx4000a*) or RTX PRO 6000 Blackwell (g3-gpu-rtxpro6000-blackwell-*)."
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

  validation {
    condition     = can(regex("^(g2-gpu-rtx4000a[0-9]+-(s|m|l|xl)|g3-gpu-rtxpro6000-blackwell-[0-9]+)$", var.gpu_pool.type))
    error_message = "gpu_pool.type must be an LKE GPU plan: RTX 4000 Ada (e.g. \"g2-gpu-rtx4000a1-s\") or RTX PRO 6000 Blackwell (e.g. \"g3-gpu-rtxpro6000-blackwell-1\"). Quadro RTX 6000 plans (g1-gpu-rtx6000-*) are not accepted."
  }

  validation {
    condition     = var.gpu_pool.min >= 1 && var.gpu_pool.max >= var.gpu_pool.min && var.gpu_pool.max <= 20
    error_message = "gpu_pool needs 1 <= min <= max <= 20."
  }
}
