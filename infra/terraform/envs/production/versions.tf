terraform {
  required_version = ">= 1.9.0"

  # State lives in platctl's store; `platctl tf --env <env>` sets TF_HTTP_*.
  backend "http" {}

  required_providers {
    linode = {
      source  = "linode/linode"
      version = "~> 3.9"
    }
    helm = {
      source  = "hashicorp/helm"
      version = "~> 2.17"
    }
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "~> 2.36"
    }
  }
}

# Token from LINODE_TOKEN; never written here.
provider "linode" {}

# The Kubernetes providers talk to the cluster this root creates, through the
# kubeconfig LKE returns (the API server's ACL must admit the caller).
provider "kubernetes" {
  host                   = local.kube_host
  token                  = local.kube_token
  cluster_ca_certificate = local.kube_ca
}

provider "helm" {
  kubernetes {
    host                   = local.kube_host
    token                  = local.kube_token
    cluster_ca_certificate = local.kube_ca
  }
}
