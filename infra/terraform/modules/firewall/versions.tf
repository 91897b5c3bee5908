terraform {
  required_version = ">= 1.9.0"

  required_providers {
    linode = {
      source = "linode/linode"
      # 3.9 is the line whose argument schema ../shared/schemas holds; the
      # pools attach this firewall through pool.firewall_id (lke-cluster).
      version = "~> 3.9"
    }
  }
}
