variable "label" {
  description = "Label of the Cloud Firewall."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9][a-zA-Z0-9_.-]{2,31}$", var.label))
    error_message = "label must be 3-32 characters of letters, digits, dots, dashes and underscores."
  }
}

variable "lke_private_cidr" {
  description = "Private range LKE's control plane and nodes use to reach each other (Akamai, \"LKE network and firewall details\")."
  type        = string
  default     = "192.168.128.0/17"

  validation {
    condition     = can(cidrhost(var.lke_private_cidr, 0)) && !strcontains(var.lke_private_cidr, ":")
    error_message = "lke_private_cidr must be an IPv4 CIDR; LKE documents 192.168.128.0/17."
  }

  validation {
    condition     = var.lke_private_cidr != "0.0.0.0/0"
    error_message = "lke_private_cidr must not be 0.0.0.0/0: it would open kubelet, BGP and IP-in-IP to the internet."
  }
}

variable "nodeports_enabled" {
  description = "Open the NodePort range 30000-32767 to NodeBalancers. Needed while the Gateway's LoadBalancer Service is reached through NodePorts by a NodeBalancer."
  type        = bool
  default     = true
}

variable "nodebalancer_cidr" {
  description = "Source range of NodeBalancer back-end traffic (Akamai, \"LKE network and firewall details\")."
  type        = string
  default     = "192.168.255.0/24"

  validation {
    condition     = can(cidrhost(var.nodebalancer_cidr, 0)) && !strcontains(var.nodebalancer_cidr, ":")
    error_message = "nodebalancer_cidr must be an IPv4 CIDR; LKE documents 192.168.255.0/24."
  }

  validation {
    condition     = var.nodebalancer_cidr != "0.0.0.0/0"
    error_message = "nodebalancer_cidr must not be 0.0.0.0/0: NodePorts would be open to the whole internet."
  }
}

variable "https_egress_ipv4" {
  description = "IPv4 destinations of outbound HTTPS (LKE API endpoint, registries, GitHub, ACME, Linode API, Object Storage). Default: any public address, because those hostnames are CDN-backed; narrow it to an egress proxy's address if you run one."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = length(var.https_egress_ipv4) > 0 && alltrue([for c in var.https_egress_ipv4 : can(cidrhost(c, 0)) && !strcontains(c, ":")])
    error_message = "https_egress_ipv4 must list at least one IPv4 CIDR such as \"203.0.113.10/32\" (an empty list would block image pulls and the API server)."
  }
}

variable "https_egress_ipv6" {
  description = "IPv6 destinations of outbound HTTPS (nodes pull images over IPv6 when a registry publishes AAAA records). Empty list: no IPv6 HTTPS."
  type        = list(string)
  default     = ["::/0"]

  validation {
    condition     = alltrue([for c in var.https_egress_ipv6 : can(cidrhost(c, 0)) && strcontains(c, ":")])
    error_message = "https_egress_ipv6 entries must be IPv6 CIDRs such as \"2001:db8::/48\"."
  }
}

variable "http_egress_ipv4" {
  description = "IPv4 destinations of outbound HTTP (port 80): cert-manager's HTTP-01 self-check goes out to the Gateway's public NodeBalancer address. Pass the Gateways' /32s once they are known."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = length(var.http_egress_ipv4) > 0 && alltrue([for c in var.http_egress_ipv4 : can(cidrhost(c, 0)) && !strcontains(c, ":")])
    error_message = "http_egress_ipv4 must list at least one IPv4 CIDR (an empty list breaks certificate issuance: the HTTP-01 self-check cannot reach the Gateway)."
  }
}

variable "dns_egress_ipv4" {
  description = "IPv4 destinations of outbound DNS (53): the resolvers in the nodes' resolv.conf. Default any, because Linode's resolvers differ per region."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = length(var.dns_egress_ipv4) > 0 && alltrue([for c in var.dns_egress_ipv4 : can(cidrhost(c, 0)) && !strcontains(c, ":")])
    error_message = "dns_egress_ipv4 must list at least one IPv4 CIDR (the node resolvers); an empty list breaks every name lookup."
  }
}

variable "dns_egress_ipv6" {
  description = "IPv6 destinations of outbound DNS (53). Empty list: no IPv6 DNS."
  type        = list(string)
  default     = ["::/0"]

  validation {
    condition     = alltrue([for c in var.dns_egress_ipv6 : can(cidrhost(c, 0)) && strcontains(c, ":")])
    error_message = "dns_egress_ipv6 entries must be IPv6 CIDRs."
  }
}

variable "ntp_egress_ipv4" {
  description = "IPv4 destinations of outbound NTP (UDP 123). Default any: NTP pools rotate their addresses."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = length(var.ntp_egress_ipv4) > 0 && alltrue([for c in var.ntp_egress_ipv4 : can(cidrhost(c, 0)) && !strcontains(c, ":")])
    error_message = "ntp_egress_ipv4 must list at least one IPv4 CIDR (the time servers)."
  }
}

variable "ntp_egress_ipv6" {
  description = "IPv6 destinations of outbound NTP (UDP 123). Empty list: no IPv6 NTP."
  type        = list(string)
  default     = ["::/0"]

  validation {
    condition     = alltrue([for c in var.ntp_egress_ipv6 : can(cidrhost(c, 0)) && strcontains(c, ":")])
    error_message = "ntp_egress_ipv6 entries must be IPv6 CIDRs."
  }
}

variable "extra_outbound_tcp_ports" {
  description = "Additional outbound TCP ports (string list, e.g. [\"5432\"]) nodes may open to the HTTPS egress destinations."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for p in var.extra_outbound_tcp_ports : can(regex("^[1-9][0-9]{0,4}(-[1-9][0-9]{0,4})?$", p))])
    error_message = "extra_outbound_tcp_ports entries must be a port (\"5432\") or a range (\"8000-8100\"), without leading zeros."
  }

  validation {
    condition     = length(var.extra_outbound_tcp_ports) <= 15
    error_message = "extra_outbound_tcp_ports holds at most 15 entries (a Cloud Firewall rule takes up to 15 ports or ranges)."
  }
}

variable "tags" {
  description = "Tags applied to the firewall."
  type        = list(string)
  default     = []
}
