locals {
  environment = "production"
  # Shared topology: this cluster also hosts the staging namespaces.
  hosted   = var.staging_dedicated_cluster ? ["production"] : ["staging", "production"]
  root_dir = var.staging_dedicated_cluster ? "deploy/clusters/production" : "deploy/clusters/shared"

  kubeconfig = yamldecode(base64decode(module.cluster.kubeconfig))
  kube_host  = local.kubeconfig.clusters[0].cluster.server
  kube_ca    = base64decode(local.kubeconfig.clusters[0].cluster["certificate-authority-data"])
  kube_token = local.kubeconfig.users[0].user.token

  gateway_ips         = compact([for e in local.hosted : lookup(var.gateway_ipv4, e, null)])
  gateway_http_egress = length(local.gateway_ips) > 0 ? [for ip in local.gateway_ips : "${ip}/32"] : ["0.0.0.0/0"]
}

module "cluster" {
  source = "../../modules/lke-cluster"

  label             = var.cluster_label
  environment       = local.environment
  region            = var.region
  k8s_version       = var.k8s_version
  tags              = [for e in local.hosted : "hosts:${e}"]
  high_availability = true
  acl_enabled       = true
  acl_allowed_ipv4  = var.acl_allowed_ipv4
  acl_allowed_ipv6  = var.acl_allowed_ipv6
  system_pool       = var.system_pool
  workload_pool     = var.workload_pool
  gpu_pool          = var.gpu_pool
  # Every pool (GPU included) attaches the node firewall, so autoscaled and
  # recycled nodes are covered from their first boot.
  firewall_id = module.firewall.id
}

module "firewall" {
  source = "../../modules/firewall"

  label             = "${var.cluster_label}-nodes"
  nodeports_enabled = true
  # cert-manager's HTTP-01 self-check leaves through port 80 to the Gateways'
  # NodeBalancers; once their addresses are known, port 80 opens only to them.
  http_egress_ipv4 = local.gateway_http_egress
  tags             = ["env:${local.environment}"]
}

module "dns" {
  source = "../../modules/dns"

  domain = var.domain
  environments = {
    for e in local.hosted : e => { gateway_ipv4 = lookup(var.gateway_ipv4, e, null) }
  }
}

module "argocd" {
  source = "../../modules/argocd-bootstrap"

  environment         = local.environment
  environments_hosted = local.hosted
  cluster_name        = var.cluster_label
  region              = var.region
  domain              = var.domain
  state_bucket        = var.state_bucket
  loki_bucket         = var.loki_bucket
  repo_url            = var.repo_url
  target_revision     = var.target_revision
  root_path           = local.root_dir
}
