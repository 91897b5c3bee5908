module "buckets" {
  source = "../../modules/state-bucket"

  region                             = var.region
  state_bucket_name                  = var.state_bucket_name
  loki_bucket_name                   = var.loki_bucket_name
  noncurrent_version_expiration_days = var.noncurrent_version_expiration_days
}

module "zone" {
  source = "../../modules/dns"

  domain      = var.domain
  create_zone = true
  soa_email   = var.soa_email
}

module "openbao_snapshots" {
  source = "../../modules/openbao-snapshots"

  region         = var.region
  bucket_name    = var.openbao_snapshot_bucket_name
  retention_days = var.openbao_snapshot_retention_days
}

module "ci_runner" {
  source = "../../modules/ci-runner"
  count  = var.ci_runner == null ? 0 : 1

  region             = var.region
  type               = var.ci_runner.type
  github_url         = var.ci_runner.github_url
  runner_version     = var.ci_runner.runner_version
  runner_sha256      = var.ci_runner.runner_sha256
  authorized_keys    = var.ci_runner.authorized_keys
  registration_token = var.ci_runner_registration_token
}
