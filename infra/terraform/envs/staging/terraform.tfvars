# The topology switch (staging_dedicated_cluster) is in
# ../topology.auto.tfvars.json, shared with envs/production. Both it and
# region, domain, repo_url and the ACL (acl_allowed_ipv4/ipv6) are set by
# `platctl init` from platform.yaml: change them there.
region            = "fr-par"
cluster_label     = "platform-staging-fr-par"
k8s_version       = "1.34"
high_availability = false
acl_allowed_ipv4  = ["203.0.113.0/24"]
acl_allowed_ipv6  = []

system_pool = {
  type  = "g6-standard-2"
  count = 2
}

workload_pool = {
  type = "g6-standard-4"
  min  = 1
  max  = 3
}

domain       = "platform.example.com"
state_bucket = "infra-state"
loki_bucket  = "platform-loki-chunks"
repo_url     = "https://github.com/example-org/platform.git"
gateway_ipv4 = null
