# OpenBao's raft snapshots (deploy/platform/openbao/snapshot.yaml): a private bucket
# whose objects expire after `retention_days`, and a key that can only use it. The
# key's two halves go into OpenBao (`platctl secrets bootstrap --terraform-outputs
# global=...`, path secret/platform/openbao/snapshot-s3), never into Git.
resource "linode_object_storage_bucket" "snapshots" {
  region     = var.region
  label      = var.bucket_name
  acl        = "private"
  versioning = false

  lifecycle_rule {
    id                                     = "expire-snapshots"
    enabled                                = true
    abort_incomplete_multipart_upload_days = 2

    expiration {
      days = var.retention_days
    }
  }
}

resource "linode_object_storage_key" "snapshots" {
  label = var.key_label

  bucket_access {
    bucket_name = linode_object_storage_bucket.snapshots.label
    region      = var.region
    permissions = "read_write"
  }
}
