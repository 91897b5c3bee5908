# The embedded example: only Terraform's built-in `terraform_data`, so it
# needs no provider download and no cloud account. `platctl tf` wires the
# empty http backend below to its in-process state server.
terraform {
  required_version = ">= 1.5"
  backend "http" {}
}

variable "release" {
  description = "A stand-in for the version being deployed."
  type        = string
  default     = "v1"
}

variable "replicas" {
  description = "How many stand-in resources to manage."
  type        = number
  default     = 3

  validation {
    condition     = var.replicas >= 1 && var.replicas <= 1000
    error_message = "replicas must be between 1 and 1000."
  }
}

variable "hold_seconds" {
  description = "Keep the apply (and so the state lock) busy this long, to show locking."
  type        = number
  default     = 0
}

resource "terraform_data" "replica" {
  count = var.replicas
  input = "${var.release}-${count.index}"
}

resource "terraform_data" "hold" {
  count            = var.hold_seconds > 0 ? 1 : 0
  triggers_replace = [var.release, var.hold_seconds]

  provisioner "local-exec" {
    command = "sleep ${var.hold_seconds}"
  }
}

output "release" {
  value = var.release
}
