# gitops-bridge: Terraform installs Argo CD once, registers the in-cluster
# destination with the cluster's facts, and creates the root app-of-apps.
# Everything else - including argocd-cm and argocd-rbac-cm - is owned by
# Argo CD from Git (deploy/platform/argocd), so Terraform never fights it.

resource "helm_release" "argocd" {
  name             = "argocd"
  repository       = "https://argoproj.github.io/argo-helm"
  chart            = "argo-cd"
  version          = var.argocd_chart_version
  namespace        = var.namespace
  create_namespace = true
  atomic           = true
  timeout          = 900

  values = [yamlencode({
    configs = {
      # Owned by Argo CD itself from deploy/platform/argocd.
      cm   = { create = false }
      rbac = { create = false }
      params = {
        # TLS ends at the production Gateway (listener https-argocd).
        "server.insecure" = true
      }
      # Public OCI Helm registry of NGINX Gateway Fabric (no credentials).
      repositories = {
        nginx-charts = {
          name      = "nginx-charts"
          type      = "helm"
          url       = "ghcr.io/nginx/charts"
          enableOCI = "true"
        }
      }
    }
    # Metrics Services for the ServiceMonitor in deploy/platform/observability
    # (the CRD arrives later, through Argo CD, so no ServiceMonitor here).
    # Requests and memory limits of every pod (platctl check on the render,
    # K8S008); repo-server's and dex's copyutil init containers share theirs.
    # The probes the chart leaves off by default (K8S009).
    controller      = { metrics = { enabled = true }, resources = { requests = { cpu = "250m", memory = "1Gi" }, limits = { memory = "2Gi" } } }
    server          = { metrics = { enabled = true }, resources = { requests = { cpu = "50m", memory = "128Mi" }, limits = { memory = "512Mi" } } }
    repoServer      = { metrics = { enabled = true }, resources = { requests = { cpu = "50m", memory = "256Mi" }, limits = { memory = "1Gi" } } }
    dex             = { enabled = true, livenessProbe = { enabled = true }, readinessProbe = { enabled = true }, resources = { requests = { cpu = "10m", memory = "64Mi" }, limits = { memory = "256Mi" } } }
    redis           = { livenessProbe = { enabled = true }, readinessProbe = { enabled = true }, resources = { requests = { cpu = "50m", memory = "64Mi" }, limits = { memory = "256Mi" } } }
    redisSecretInit = { resources = { requests = { cpu = "10m", memory = "32Mi" }, limits = { memory = "128Mi" } } }
    applicationSet  = { livenessProbe = { enabled = true }, readinessProbe = { enabled = true }, resources = { requests = { cpu = "10m", memory = "64Mi" }, limits = { memory = "256Mi" } } }
    notifications   = { livenessProbe = { enabled = true }, readinessProbe = { enabled = true }, resources = { requests = { cpu = "10m", memory = "64Mi" }, limits = { memory = "256Mi" } } }
    global = {
      additionalLabels = {
        "platform.io/environment" = var.environment
      }
    }
  })]
}

resource "kubernetes_secret_v1" "in_cluster" {
  metadata {
    name      = "in-cluster"
    namespace = var.namespace

    labels = {
      "argocd.argoproj.io/secret-type" = "cluster"
      "platform.io/environment"        = var.environment
      "platform.io/region"             = var.region
    }

    annotations = {
      "platform.io/cluster-name"        = var.cluster_name
      "platform.io/environments-hosted" = join(",", var.environments_hosted)
      "platform.io/region"              = var.region
      "platform.io/domain"              = var.domain
      "platform.io/state-bucket"        = var.state_bucket
      "platform.io/loki-bucket"         = var.loki_bucket
      "platform.io/repo-url"            = var.repo_url
      "platform.io/root-path"           = var.root_path
    }
  }

  data = {
    name   = var.cluster_name
    server = "https://kubernetes.default.svc"
    config = jsonencode({ tlsClientConfig = { insecure = false } })
  }

  depends_on = [helm_release.argocd]
}

resource "helm_release" "root" {
  name       = "argocd-root"
  repository = "https://argoproj.github.io/argo-helm"
  chart      = "argocd-apps"
  version    = var.argocd_apps_chart_version
  namespace  = var.namespace
  atomic     = true

  values = [yamlencode({
    # Bootstrap copy of the platform project; deploy/platform/argocd/projects
    # holds the same spec and Argo CD adopts it on the first sync.
    projects = {
      platform = {
        namespace   = var.namespace
        description = "Platform add-ons and the app-of-apps tree"
        sourceRepos = [var.repo_url]
        destinations = [{
          server    = "https://kubernetes.default.svc"
          namespace = "*"
        }]
        clusterResourceWhitelist = [{ group = "*", kind = "*" }]
      }
    }
    applications = {
      root = {
        namespace = var.namespace
        project   = "platform"
        annotations = {
          "argocd.argoproj.io/sync-wave" = "0"
        }
        finalizers = ["resources-finalizer.argocd.argoproj.io"]
        source = {
          repoURL        = var.repo_url
          targetRevision = var.target_revision
          path           = var.root_path
        }
        destination = {
          server    = "https://kubernetes.default.svc"
          namespace = var.namespace
        }
        syncPolicy = {
          automated = { prune = true, selfHeal = true }
        }
      }
    }
  })]

  depends_on = [kubernetes_secret_v1.in_cluster]
}
