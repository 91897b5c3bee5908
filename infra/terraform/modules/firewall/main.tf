# Node firewall for LKE, attached to every node pool through the pool's
# firewall_id (lke-cluster module), so nodes the autoscaler or a recycle
# creates later are covered from their first boot.
#
# Both policies are DROP. Inbound accepts exactly the rules of Akamai's "LKE
# network and firewall details" page plus what Calico needs between nodes
# (IP-in-IP, Typha) as Linode's cloud-firewall-controller allows by default.
# Outbound names each destination in the rule description; see README.md for
# why HTTPS egress goes to public addresses rather than to hostnames.
#
# The rules are literal blocks (no rule list in a local) so a reviewer and
# `platctl check` can read them as written. A firewall holds at most 25 rules
# (inbound + outbound): this module uses at most 20.
resource "linode_firewall" "this" {
  label = var.label
  tags  = var.tags

  inbound_policy  = "DROP"
  outbound_policy = "DROP"

  # --- Inbound: Akamai "LKE network and firewall details" ------------------

  inbound {
    label       = "kubelet-health"
    description = "LKE doc: kubelet health checks (10250) and kube-proxy health (10256) from the control plane"
    action      = "ACCEPT"
    protocol    = "TCP"
    ports       = "10250,10256"
    ipv4        = [var.lke_private_cidr]
  }

  inbound {
    label       = "wireguard-kubectl-proxy"
    description = "LKE doc: WireGuard tunnelling from the control plane for kubectl proxy"
    action      = "ACCEPT"
    protocol    = "UDP"
    ports       = "51820"
    ipv4        = [var.lke_private_cidr]
  }

  inbound {
    label       = "cluster-dns-tcp"
    description = "LKE doc: cluster DNS (CoreDNS) over TCP from nodes and the control plane"
    action      = "ACCEPT"
    protocol    = "TCP"
    ports       = "53"
    ipv4        = [var.lke_private_cidr]
  }

  inbound {
    label       = "cluster-dns-udp"
    description = "LKE doc: cluster DNS (CoreDNS) over UDP from nodes and the control plane"
    action      = "ACCEPT"
    protocol    = "UDP"
    ports       = "53"
    ipv4        = [var.lke_private_cidr]
  }

  inbound {
    label       = "calico-bgp"
    description = "LKE doc: Calico BGP sessions between nodes (pod routes)"
    action      = "ACCEPT"
    protocol    = "TCP"
    ports       = "179"
    ipv4        = [var.lke_private_cidr]
  }

  # --- Inbound: Calico between nodes (cloud-firewall-controller defaults) --

  inbound {
    label       = "calico-ipip-in"
    description = "Calico IP-in-IP: pod-to-pod traffic from other nodes; without it cross-node pod traffic drops"
    action      = "ACCEPT"
    protocol    = "IPENCAP"
    ipv4        = [var.lke_private_cidr]
  }

  inbound {
    label       = "calico-typha"
    description = "Calico Typha (5473): calico-node agents on other nodes reach Typha when LKE runs it"
    action      = "ACCEPT"
    protocol    = "TCP"
    ports       = "5473"
    ipv4        = [var.lke_private_cidr]
  }

  inbound {
    label       = "icmp-in"
    description = "ICMP: path-MTU discovery for tunnelled pod traffic, and ping; no port to expose"
    action      = "ACCEPT"
    protocol    = "ICMP"
    ipv4        = ["0.0.0.0/0"]
    ipv6        = ["::/0"]
  }

  # LKE doc: NodeBalancers reach LoadBalancer Services (the Gateway) through
  # NodePorts. One block per protocol so each rule is literal.
  dynamic "inbound" {
    for_each = var.nodeports_enabled ? [var.nodebalancer_cidr] : []

    content {
      label       = "nodebalancer-nodeports-tcp"
      description = "LKE doc: NodeBalancer back-ends reach LoadBalancer Services (the Gateway) on TCP NodePorts"
      action      = "ACCEPT"
      protocol    = "TCP"
      ports       = "30000-32767"
      ipv4        = [inbound.value]
    }
  }

  dynamic "inbound" {
    for_each = var.nodeports_enabled ? [var.nodebalancer_cidr] : []

    content {
      label       = "nodebalancer-nodeports-udp"
      description = "LKE doc: NodeBalancer back-ends reach LoadBalancer Services on UDP NodePorts"
      action      = "ACCEPT"
      protocol    = "UDP"
      ports       = "30000-32767"
      ipv4        = [inbound.value]
    }
  }

  # --- Outbound --------------------------------------------------------------

  outbound {
    label       = "lke-private-tcp"
    description = "Nodes to nodes and the control plane on the LKE private network: BGP, kubelet, hostNetwork pods"
    action      = "ACCEPT"
    protocol    = "TCP"
    ports       = "1-65535"
    ipv4        = [var.lke_private_cidr]
  }

  outbound {
    label       = "lke-private-udp"
    description = "Nodes to nodes and the control plane on the LKE private network: WireGuard, DNS, hostNetwork pods"
    action      = "ACCEPT"
    protocol    = "UDP"
    ports       = "1-65535"
    ipv4        = [var.lke_private_cidr]
  }

  outbound {
    label       = "calico-ipip-out"
    description = "Calico IP-in-IP: pod-to-pod traffic to other nodes (the pair of calico-ipip-in)"
    action      = "ACCEPT"
    protocol    = "IPENCAP"
    ipv4        = [var.lke_private_cidr]
  }

  outbound {
    label       = "dns-udp"
    description = "DNS: CoreDNS forwards to the resolvers in the node's resolv.conf (Linode's, per region)"
    action      = "ACCEPT"
    protocol    = "UDP"
    ports       = "53"
    ipv4        = var.dns_egress_ipv4
    ipv6        = var.dns_egress_ipv6
  }

  outbound {
    label       = "dns-tcp"
    description = "DNS over TCP: truncated answers (large records) retry over TCP"
    action      = "ACCEPT"
    protocol    = "TCP"
    ports       = "53"
    ipv4        = var.dns_egress_ipv4
    ipv6        = var.dns_egress_ipv6
  }

  outbound {
    label       = "ntp"
    description = "NTP: node clocks; TLS, ACME and OpenBao tokens fail on a skewed clock"
    action      = "ACCEPT"
    protocol    = "UDP"
    ports       = "123"
    ipv4        = var.ntp_egress_ipv4
    ipv6        = var.ntp_egress_ipv6
  }

  outbound {
    label       = "icmp-out"
    description = "ICMP: path-MTU discovery and ping; no port to expose"
    action      = "ACCEPT"
    protocol    = "ICMP"
    ipv4        = ["0.0.0.0/0"]
    ipv6        = ["::/0"]
  }

  # One rule for every HTTPS destination: a Cloud Firewall matches addresses
  # and ports, not hostnames, and these hostnames sit behind CDNs whose
  # addresses change (README.md, "Egress"). Per-workload restriction is done
  # by the Calico policies in deploy/.
  outbound {
    label       = "https-public"
    description = "HTTPS: LKE API, registries, GitHub (Argo CD), ACME, Linode API, Object Storage (README)"
    action      = "ACCEPT"
    protocol    = "TCP"
    ports       = "443"
    ipv4        = var.https_egress_ipv4
    ipv6        = var.https_egress_ipv6
  }

  outbound {
    label       = "acme-http01-self-check"
    description = "HTTP: cert-manager's HTTP-01 self-check fetches the challenge through the Gateway's public address"
    action      = "ACCEPT"
    protocol    = "TCP"
    ports       = "80"
    ipv4        = var.http_egress_ipv4
  }

  dynamic "outbound" {
    for_each = length(var.extra_outbound_tcp_ports) > 0 ? [join(",", var.extra_outbound_tcp_ports)] : []

    content {
      label       = "extra-tcp"
      description = "Additional outbound TCP ports requested through extra_outbound_tcp_ports"
      action      = "ACCEPT"
      protocol    = "TCP"
      ports       = outbound.value
      ipv4        = var.https_egress_ipv4
      ipv6        = var.https_egress_ipv6
    }
  }
}
