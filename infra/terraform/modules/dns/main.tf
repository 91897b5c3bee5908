resource "linode_domain" "this" {
  count = var.create_zone ? 1 : 0

  type      = "master"
  domain    = var.domain
  soa_email = var.soa_email
  ttl_sec   = var.ttl_sec
  tags      = ["managed-by:terraform"]

  lifecycle {
    precondition {
      condition     = var.soa_email != null
      error_message = "soa_email is required when create_zone = true."
    }
  }
}

data "linode_domain" "existing" {
  count  = var.create_zone ? 0 : 1
  domain = var.domain
}

locals {
  domain_id = var.create_zone ? linode_domain.this[0].id : data.linode_domain.existing[0].id

  # One A (and optional AAAA) record for <env> and *.<env> per environment
  # whose Gateway address is known.
  a_records = merge([
    for env, r in var.environments : {
      for name in [env, "*.${env}"] : "${name}/A" => { name = name, target = r.gateway_ipv4 }
    } if r.gateway_ipv4 != null
  ]...)
  aaaa_records = merge([
    for env, r in var.environments : {
      for name in [env, "*.${env}"] : "${name}/AAAA" => { name = name, target = r.gateway_ipv6 }
    } if r.gateway_ipv6 != null
  ]...)
}

resource "linode_domain_record" "gateway" {
  for_each = merge(local.a_records, local.aaaa_records)

  domain_id   = local.domain_id
  name        = each.value.name
  record_type = endswith(each.key, "/AAAA") ? "AAAA" : "A"
  target      = each.value.target
  ttl_sec     = var.ttl_sec
}

resource "linode_domain_record" "caa" {
  for_each = var.create_zone ? toset(var.caa_issuers) : toset([])

  domain_id   = local.domain_id
  name        = ""
  record_type = "CAA"
  tag         = "issue"
  target      = each.value
  ttl_sec     = var.ttl_sec
}
