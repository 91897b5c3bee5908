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
