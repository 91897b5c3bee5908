locals {
  base_tags = ["env:${var.environment}", "managed-by:terraform", "platform:lke"]
}

resource "linode_lke_cluster" "this" {
  label       = var.label
  k8s_version = var.k8s_version
  region      = var.region
  tags        = distinct(concat(local.base_tags, var.tags))

  control_plane {
    high_availability = var.high_availability

    acl {
      enabled = var.acl_enabled

      addresses {
        ipv4 = var.acl_allowed_ipv4
        ipv6 = var.acl_allowed_ipv6
      }
    }
  }

  lifecycle {
    # A pool without firewall_id creates nodes no Cloud Firewall protects.
    precondition {
      condition     = var.firewall_id != null
      error_message = "firewall_id is required: pass the firewall module's id so every node pool (system, workload, GPU) attaches the node firewall."
    }
  }

  # Pool order is significant for the provider (see its "Nested Node Pool
  # Caveats"): never reorder; append new pools at the end.
  #
  # Every pool, the optional GPU pool included, carries the node firewall:
  # LKE attaches it to each node the pool creates, so autoscaled and recycled
  # nodes are protected from their first boot and never show up as drift.
  pool {
    type  = var.system_pool.type
    count = var.system_pool.count
    tags  = ["pool:system"]

    firewall_id = var.firewall_id

    labels = {
      "node.platform.io/pool" = "system"
    }
  }

  pool {
    type = var.workload_pool.type
    tags = ["pool:workload"]

    firewall_id = var.firewall_id

    labels = {
      "node.platform.io/pool" = "workload"
    }

    autoscaler {
      min = var.workload_pool.min
      max = var.workload_pool.max
    }
  }

  dynamic "pool" {
    for_each = var.gpu_pool.enabled ? [var.gpu_pool] : []

    content {
      type = pool.value.type
      tags = ["pool:gpu"]

      firewall_id = var.firewall_id

      labels = {
        "node.platform.io/pool"  = "gpu"
        "nvidia.com/gpu.present" = "true"
      }

      taint {
        effect = "NoSchedule"
        key    = "nvidia.com/gpu"
        value  = "present"
      }

      autoscaler {
        min = pool.value.min
        max = pool.value.max
      }
    }
  }
}
