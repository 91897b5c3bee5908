# Terraform state: private, versioned, non-current versions expire after a
# set number of days so `platctl state rollback` has a bounded window.
resource "linode_object_storage_bucket" "state" {
  region     = var.region
  label      = var.state_bucket_name
  acl        = "private"
  versioning = true

  lifecycle_rule {
    id                                     = "expire-noncurrent-versions"
    enabled                                = true
    abort_incomplete_multipart_upload_days = 7

    noncurrent_version_expiration {
      days = var.noncurrent_version_expiration_days
    }
  }
}

# CI key: read_write on the state bucket only.
resource "linode_object_storage_key" "ci" {
  label = "${var.key_label_prefix}-ci-state"

  bucket_access {
    bucket_name = linode_object_storage_bucket.state.label
    region      = var.region
    permissions = "read_write"
  }
}

# Loki chunks. Retention is enforced by Loki's compactor (720h), so the
# bucket keeps a single version of each object.
resource "linode_object_storage_bucket" "loki" {
  region     = var.region
  label      = var.loki_bucket_name
  acl        = "private"
  versioning = false

  lifecycle_rule {
    id                                     = "abort-incomplete-uploads"
    enabled                                = true
    abort_incomplete_multipart_upload_days = 2
  }
}

# Loki key: read_write on the Loki bucket only.
resource "linode_object_storage_key" "loki" {
  label = "${var.key_label_prefix}-loki"

  bucket_access {
    bucket_name = linode_object_storage_bucket.loki.label
    region      = var.region
    permissions = "read_write"
  }
}

# Read-only key on both buckets. The linode provider reads a bucket's
# versioning and lifecycle through S3 and needs a key for it; a Linode token
# without object_storage:read_write cannot create its temporary keys, so the
# plan and drift runs of envs/global pass this one (docs/ci-access.md).
resource "linode_object_storage_key" "read_only" {
  label = "${var.key_label_prefix}-read-only"

  bucket_access {
    bucket_name = linode_object_storage_bucket.state.label
    region      = var.region
    permissions = "read_only"
  }

  bucket_access {
    bucket_name = linode_object_storage_bucket.loki.label
    region      = var.region
    permissions = "read_only"
  }
}
