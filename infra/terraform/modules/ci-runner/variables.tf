variable "label" {
  description = "Label of the runner Linode and of its firewall; also the runner's name in GitHub."
  type        = string
  default     = "platform-ci-runner"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,30}[a-z0-9]$", var.label))
    error_message = "label must be 3-32 characters of lowercase letters, digits and dashes."
  }
}

variable "region" {
  description = "Linode region of the runner (the platform's region keeps the API servers close)."
  type        = string
  default     = "fr-par"

  validation {
    condition     = can(regex("^[a-z]{2}-[a-z]+(-[0-9]+)?$", var.region))
    error_message = "region must be a Linode region id such as \"fr-par\"."
  }
}

variable "type" {
  description = "Linode plan. Terraform plans of the env roots fit in 2 GB; platctl is built elsewhere and downloaded."
  type        = string
  default     = "g6-standard-1"

  validation {
    condition     = can(regex("^g[0-9]+-(nanode|standard|dedicated)-[0-9]+$", var.type))
    error_message = "type must be a Linode plan such as \"g6-standard-1\"."
  }
}

variable "github_url" {
  description = "The repository the runner serves, https://github.com/ORG/REPO (no .git)."
  type        = string

  validation {
    condition     = can(regex("^https://[^/@ ]+/[^/ ]+/[^/ ]+$", var.github_url)) && !endswith(var.github_url, ".git")
    error_message = "github_url must be https://github.com/ORG/REPO, without .git and without credentials."
  }
}

variable "runner_version" {
  description = "actions/runner release to install, e.g. 2.329.0 (https://github.com/actions/runner/releases)."
  type        = string

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.runner_version))
    error_message = "runner_version must look like 2.329.0."
  }
}

variable "runner_sha256" {
  description = "SHA-256 of actions-runner-linux-x64-<version>.tar.gz, from that release's notes: the download is refused otherwise."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.runner_sha256))
    error_message = "runner_sha256 must be 64 lowercase hex digits."
  }
}

variable "registration_token" {
  description = "One-time registration token (Settings > Actions > Runners > New self-hosted runner; valid for one hour), used by the apply that creates the runner. Null: the runner is installed but not registered (register it by hand, see README)."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = var.registration_token == null || length(coalesce(var.registration_token, "x")) >= 20
    error_message = "registration_token must be the token GitHub shows for a new self-hosted runner."
  }
}

variable "authorized_keys" {
  description = "SSH public keys for the root account (break-glass through Lish or an SSH CIDR); no password is set."
  type        = list(string)

  validation {
    condition     = length(var.authorized_keys) > 0 && alltrue([for k in var.authorized_keys : can(regex("^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp[0-9]+) ", k))])
    error_message = "authorized_keys needs at least one OpenSSH public key (ssh-ed25519 ...)."
  }
}

variable "ssh_allowed_cidrs" {
  description = "IPv4 CIDRs allowed to SSH to the runner; empty (the default) closes port 22."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.ssh_allowed_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "ssh_allowed_cidrs entries must be IPv4 CIDRs other than 0.0.0.0/0."
  }
}

variable "tags" {
  description = "Tags besides platform:ci-runner and managed-by:terraform."
  type        = list(string)
  default     = []
}
