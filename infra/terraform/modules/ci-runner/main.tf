# A GitHub Actions runner with a static public address, for the jobs that
# reach the clusters' API servers (label platform-ci; docs/ci-access.md). Its
# address goes into platform.yaml's ci_cidrs, so every cluster's control-plane
# ACL admits it. It runs only main's deploy and drift workflows: restrict its
# runner group to those workflows; pull requests never use it.

locals {
  labels = "self-hosted,linux,x64,platform-ci"
}

resource "linode_instance" "runner" {
  label           = var.label
  region          = var.region
  type            = var.type
  image           = "linode/ubuntu24.04"
  authorized_keys = var.authorized_keys
  tags            = distinct(concat(["platform:ci-runner", "managed-by:terraform"], var.tags))

  metadata {
    user_data = base64encode(templatefile("${path.module}/cloud-init.yaml.tftpl", {
      github_url         = var.github_url
      name               = var.label
      labels             = local.labels
      runner_version     = var.runner_version
      runner_sha256      = var.runner_sha256
      registration_token = var.registration_token == null ? "" : var.registration_token
    }))
  }

  lifecycle {
    # The registration token is single-use: a later apply must not replace a
    # registered runner because the token changed.
    ignore_changes = [metadata]
  }
}

# No inbound traffic (SSH only from ssh_allowed_cidrs); outbound only what a
# job needs: HTTPS (GitHub, the Linode API, Object Storage, the Terraform
# registry, the clusters' API servers), DNS and NTP.
resource "linode_firewall" "runner" {
  label           = "${var.label}-fw"
  inbound_policy  = "DROP"
  outbound_policy = "DROP"
  linodes         = [linode_instance.runner.id]
  tags            = ["platform:ci-runner", "managed-by:terraform"]

  dynamic "inbound" {
    for_each = length(var.ssh_allowed_cidrs) > 0 ? [1] : []

    content {
      label    = "ssh-operators"
      action   = "ACCEPT"
      protocol = "TCP"
      ports    = "22"
      ipv4     = var.ssh_allowed_cidrs
    }
  }

  outbound {
    label    = "https"
    action   = "ACCEPT"
    protocol = "TCP"
    ports    = "443"
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
}
