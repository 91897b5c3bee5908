terraform {
  required_version = ">= 1.9.0"

  # State lives in platctl's store; `platctl tf --env global` sets TF_HTTP_*.
  # First bootstrap only: see docs/getting-started.md (local state, then
  # `init -migrate-state`).
  backend "http" {}

  required_providers {
    linode = {
      source  = "linode/linode"
      version = "~> 3.9"
    }
  }
}

# Token from LINODE_TOKEN. Bucket versioning and lifecycle rules need
# Object Storage keys: the provider creates short-lived ones.
provider "linode" {
  obj_use_temp_keys = true
}
