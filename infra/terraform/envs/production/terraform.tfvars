region        = "fr-par"
cluster_label = "platform-fr-par"
k8s_version   = "1.34"

# The API-server ACL: platform.yaml's admin_cidrs + ci_cidrs, set by
# `platctl init` (as are region, domain and repo_url): change them there.
acl_allowed_ipv4 = ["203.0.113.0/24"]
acl_allowed_ipv6 = []

system_pool = {
  type  = "g6-standard-4"
  count = 3
}

workload_pool = {
  type = "g6-dedicated-4"
  min  = 3
  max  = 8
}

gpu_pool = {
  enabled = false
  type    = "g2-gpu-rtx4000a1-s"
  min     = 1
  max     = 2
}

domain       = "platform.example.com"
state_bucket = "infra-state"
loki_bucket  = "platform-loki-chunks"
repo_url     = "https://github.com/example-org/platform.git"

# Fill in after the first sync: kubectl -n gateway-<env> get svc
gateway_ipv4 = {}
