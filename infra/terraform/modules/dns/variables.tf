variable "domain" {
  description = "DNS zone served by Linode DNS Manager, e.g. \"platform.example.com\"."
  type        = string

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,}$", var.domain))
    error_message = "domain must be a lowercase DNS name such as \"platform.example.com\"."
  }
}

variable "create_zone" {
  description = "Create the zone (true, once, in envs/global) or look up an existing one (false, in the environment roots)."
  type        = bool
  default     = false
}

variable "soa_email" {
  description = "SOA contact address of the zone (only used when create_zone = true)."
  type        = string
  default     = null

  validation {
    condition     = var.soa_email == null || can(regex("^[^@\\s]+@[^@\\s]+$", var.soa_email))
    error_message = "soa_email must be an e-mail address."
  }
}

variable "caa_issuers" {
  description = "Certificate authorities allowed to issue for the zone (CAA records, created with the zone)."
  type        = list(string)
  default     = ["letsencrypt.org"]
}

variable "environments" {
  description = "Per-environment records pointing at that environment's Gateway load balancer: <env>.<domain> and *.<env>.<domain>. Leave gateway_ipv4 null until the Gateway has its NodeBalancer address."
  type = map(object({
    gateway_ipv4 = optional(string)
    gateway_ipv6 = optional(string)
  }))
  default = {}

  validation {
    condition     = alltrue([for k, _ in var.environments : contains(["staging", "production"], k)])
    error_message = "environments keys must be \"staging\" or \"production\"."
  }

  validation {
    condition     = alltrue([for _, v in var.environments : v.gateway_ipv4 == null || can(regex("^([0-9]{1,3}\\.){3}[0-9]{1,3}$", v.gateway_ipv4))])
    error_message = "gateway_ipv4 must be an IPv4 address such as \"172.236.0.10\"."
  }
}

variable "ttl_sec" {
  description = "TTL of the records in seconds."
  type        = number
  default     = 300
}
