variable "label" {
  description = "Label of the Cloud Firewall."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9][a-zA-Z0-9_.-]{2,31}$", var.label))
    error_message = "label must be 3-32 characters of letters, digits, dots, dashes and underscores."
  }
}

variable "linode_ids" {
  description = "Linode instance IDs of the LKE nodes the firewall governs (lke-cluster output node_instance_ids)."
  type        = list(number)
  default     = []
}

variable "lke_private_cidr" {
  description = "Private range LKE's control plane and nodes use to reach each other (from the LKE network documentation)."
  type        = string
  default     = "192.168.128.0/17"

  validation {
    condition     = can(cidrhost(var.lke_private_cidr, 0))
    error_message = "lke_private_cidr must be a CIDR."
  }
}

variable "nodeports_enabled" {
  description = "Open the NodePort range 30000-32767 to NodeBalancers. Only needed when the Gateway's Service is exposed through NodePorts by a NodeBalancer."
  type        = bool
  default     = true
}

variable "nodebalancer_cidr" {
  description = "Source range of NodeBalancer back-end traffic (from the LKE network documentation)."
  type        = string
  default     = "192.168.255.0/24"

  validation {
    condition     = can(cidrhost(var.nodebalancer_cidr, 0))
    error_message = "nodebalancer_cidr must be a CIDR."
  }
}

variable "extra_outbound_tcp_ports" {
  description = "Additional outbound TCP ports (string list, e.g. [\"5432\"]) nodes may open to any address."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for p in var.extra_outbound_tcp_ports : can(regex("^[0-9]{1,5}(-[0-9]{1,5})?$", p))])
    error_message = "extra_outbound_tcp_ports entries must be a port (\"5432\") or a range (\"8000-8100\")."
  }
}

variable "tags" {
  description = "Tags applied to the firewall."
  type        = list(string)
  default     = []
}
