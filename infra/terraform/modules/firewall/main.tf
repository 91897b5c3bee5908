# Node firewall for LKE. Inbound and outbound policies are DROP; the accepted
# traffic is exactly what the LKE documentation ("Network and firewall
# details") lists, plus the egress nodes need to pull images and reach APIs.
resource "linode_firewall" "this" {
  label = var.label
  tags  = var.tags

  inbound_policy  = "DROP"
  outbound_policy = "DROP"

  inbound {
    label    = "kubelet-health"
    action   = "ACCEPT"
    protocol = "TCP"
    ports    = "10250,10256"
    ipv4     = [var.lke_private_cidr]
  }

  inbound {
    label    = "wireguard-kubectl-proxy"
    action   = "ACCEPT"
    protocol = "UDP"
    ports    = "51820"
    ipv4     = [var.lke_private_cidr]
  }

  inbound {
    label    = "cluster-dns-tcp"
    action   = "ACCEPT"
    protocol = "TCP"
    ports    = "53"
    ipv4     = [var.lke_private_cidr]
  }

  inbound {
    label    = "cluster-dns-udp"
    action   = "ACCEPT"
    protocol = "UDP"
    ports    = "53"
    ipv4     = [var.lke_private_cidr]
  }

  inbound {
    label    = "calico-bgp"
    action   = "ACCEPT"
    protocol = "TCP"
    ports    = "179"
    ipv4     = [var.lke_private_cidr]
  }

  dynamic "inbound" {
    for_each = var.nodeports_enabled ? ["TCP", "UDP"] : []

    content {
      label    = "nodebalancer-nodeports-${lower(inbound.value)}"
      action   = "ACCEPT"
      protocol = inbound.value
      ports    = "30000-32767"
      ipv4     = [var.nodebalancer_cidr]
    }
  }

  # Node-to-node and node-to-control-plane traffic on the private network.
  outbound {
    label    = "lke-private-tcp"
    action   = "ACCEPT"
    protocol = "TCP"
    ports    = "1-65535"
    ipv4     = [var.lke_private_cidr]
  }

  outbound {
    label    = "lke-private-udp"
    action   = "ACCEPT"
    protocol = "UDP"
    ports    = "1-65535"
    ipv4     = [var.lke_private_cidr]
  }

  # HTTPS/HTTP: Kubernetes API endpoint, image registries, GitHub (Argo CD),
  # Object Storage (Loki, Tempo), ACME (Let's Encrypt), package mirrors.
  outbound {
    label    = "web"
    action   = "ACCEPT"
    protocol = "TCP"
    ports    = "80,443"
    ipv4     = ["0.0.0.0/0"]
    ipv6     = ["::/0"]
  }

  outbound {
    label    = "dns-udp"
    action   = "ACCEPT"
    protocol = "UDP"
    ports    = "53"
    ipv4     = ["0.0.0.0/0"]
    ipv6     = ["::/0"]
  }

  outbound {
    label    = "dns-tcp"
    action   = "ACCEPT"
    protocol = "TCP"
    ports    = "53"
    ipv4     = ["0.0.0.0/0"]
    ipv6     = ["::/0"]
  }

  outbound {
    label    = "ntp"
    action   = "ACCEPT"
    protocol = "UDP"
    ports    = "123"
    ipv4     = ["0.0.0.0/0"]
    ipv6     = ["::/0"]
  }

  outbound {
    label    = "icmp"
    action   = "ACCEPT"
    protocol = "ICMP"
    ipv4     = ["0.0.0.0/0"]
    ipv6     = ["::/0"]
  }

  dynamic "outbound" {
    for_each = length(var.extra_outbound_tcp_ports) > 0 ? [join(",", var.extra_outbound_tcp_ports)] : []

    content {
      label    = "extra-tcp"
      action   = "ACCEPT"
      protocol = "TCP"
      ports    = outbound.value
      ipv4     = ["0.0.0.0/0"]
      ipv6     = ["::/0"]
    }
  }

  linodes = var.linode_ids
}
