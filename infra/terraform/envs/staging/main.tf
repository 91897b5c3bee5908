# Shared topology (default): staging runs as namespaces on the production
# cluster, and this root manages nothing. Setting staging_dedicated_cluster
# = true in envs/topology.auto.tfvars.json creates a staging cluster here and
# moves production's root app to deploy/clusters/production.
locals {
  environment = "staging"
  dedicated   = var.staging_dedicated_cluster ? 1 : 0

  kubeconfig = try(yamldecode(base64decode(module.cluster[0].kubeconfig)), null)
  kube_host  = try(local.kubeconfig.clusters[0].cluster.server, null)
  kube_ca    = try(base64decode(local.kubeconfig.clusters[0].cluster["certificate-authority-data"]), null)
  kube_token = try(local.kubeconfig.users[0].user.token, null)
}

module "cluster" {
  source = "../../modules/lke-cluster"
  count  = local.dedicated

  label             = var.cluster_label
  environment       = local.environment
  region            = var.region
  k8s_version       = var.k8s_version
  tags              = ["hosts:staging"]
  high_availability = var.high_availability
  acl_enabled       = length(var.acl_allowed_ipv4) + length(var.acl_allowed_ipv6) > 0
  acl_allowed_ipv4  = var.acl_allowed_ipv4
  acl_allowed_ipv6  = var.acl_allowed_ipv6
  system_pool       = var.system_pool
  workload_pool     = var.workload_pool
  # Every pool attaches the node firewall (see envs/production).
  firewall_id = module.firewall[0].id
}

module "firewall" {
  source = "../../modules/firewall"
  count  = local.dedicated

  label             = "${var.cluster_label}-nodes"
  nodeports_enabled = true
  http_egress_ipv4  = var.gateway_ipv4 == null ? ["0.0.0.0/0"] : ["${var.gateway_ipv4}/32"]
  tags              = ["env:${local.environment}"]
}

module "dns" {
  source = "../../modules/dns"
  count  = local.dedicated

  domain       = var.domain
  environments = { staging = { gateway_ipv4 = var.gateway_ipv4 } }
}

module "argocd" {
  source = "../../modules/argocd-bootstrap"
  count  = local.dedicated

  environment         = local.environment
  environments_hosted = ["staging"]
  cluster_name        = var.cluster_label
  region              = var.region
  domain              = var.domain
  state_bucket        = var.state_bucket
  loki_bucket         = var.loki_bucket
  repo_url            = var.repo_url
  target_revision     = var.target_revision
  root_path           = "deploy/clusters/staging"
}
