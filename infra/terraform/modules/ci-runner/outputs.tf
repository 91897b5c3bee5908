output "id" {
  description = "ID of the runner Linode."
  value       = linode_instance.runner.id
}

output "egress_cidr" {
  description = "The runner's public IPv4 as a /32: put it in platform.yaml's ci_cidrs (`platctl init --ci-cidr`)."
  value       = "${linode_instance.runner.ip_address}/32"
}

output "labels" {
  description = "The labels the runner registers with; jobs select it with runs-on: [self-hosted, linux, x64, platform-ci]."
  value       = split(",", local.labels)
}
