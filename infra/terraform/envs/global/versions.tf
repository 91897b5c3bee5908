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

# Token from LINODE_TOKEN. Bucket versioning and lifecycle rules are read and
# written through S3 with Object Storage keys. An apply (token with
# object_storage:read_write) lets the provider create short-lived ones; plan
# and drift run with a token that cannot, and pass the read-only key of both
# buckets instead (TF_VAR_obj_access_key / TF_VAR_obj_secret_key from the
# environment; docs/ci-access.md).
provider "linode" {
  obj_access_key    = var.obj_access_key
  obj_secret_key    = var.obj_secret_key
  obj_use_temp_keys = var.obj_access_key == null
}
