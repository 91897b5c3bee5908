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
